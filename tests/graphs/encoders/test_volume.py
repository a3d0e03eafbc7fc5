"""Tests of volume reading (nibabel's shipped NIfTI, generated DICOM series) and the 3D CNN."""

from __future__ import annotations

import copy
import os
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
import torch
from nibabel.testing import data_path

from graphs.encoders.base import ENCODERS
from graphs.encoders.volume import (
    Conv3dEncoder,
    read_dicom_series,
    read_volume,
    resample_volume,
)
from ontologies.errors import ConfigError, DataNotFoundError, InputError, ParseError

ANAT = Path(data_path) / "anatomical.nii"          # 33 x 41 x 25, LAS, 2 mm
EX4D = Path(data_path) / "example4d.nii.gz"        # 128 x 96 x 24 x 2
CT = Path(pydicom.__file__).parent / "data" / "test_files" / "CT_small.dcm"


def write_series(folder: Path, n: int = 5, z0: float = -75.7, dz: float = 2.5,
                 uid: str = "1.2.826.0.1.3680043.2.1125.1", shape=(128, 128),
                 positions: bool = True, slope: float = 1.0) -> Path:
    """Writes ``n`` CT slices whose pixels all equal 10 * slice index, in shuffled order."""
    folder.mkdir(parents=True, exist_ok=True)
    base = pydicom.dcmread(CT)
    for k in np.random.default_rng(0).permutation(n):
        ds = copy.deepcopy(base)
        ds.SeriesInstanceUID = uid
        ds.InstanceNumber = int(k) + 1
        ds.Rows, ds.Columns = shape
        ds.RescaleSlope = slope
        if positions:
            ds.ImagePositionPatient = [-158.1, -179.0, z0 + dz * int(k)]
        else:
            del ds.ImagePositionPatient
        ds.PixelData = np.full(shape, 10 * int(k) + 1024, dtype=np.int16).tobytes()
        ds.save_as(folder / f"img_{(int(k) * 7919) % 97:03d}.dcm")  # names not in z order
    return folder


def test_nifti_shape_spacing_and_orientation():
    vol, meta = read_volume(ANAT)
    assert vol.shape == (25, 41, 33) and vol.dtype == np.float32
    assert meta["spacing"] == (2.0, 2.0, 2.0) and meta["format"] == "NIfTI"
    raw = np.asarray(nib.load(ANAT).dataobj, dtype=np.float32)  # LAS: x runs right->left
    np.testing.assert_array_equal(vol, raw[::-1].transpose(2, 1, 0))
    kept, _ = read_volume(ANAT, canonical=False)
    np.testing.assert_array_equal(kept, raw.transpose(2, 1, 0))
    # The affine maps [D, H, W] indices to the same world point as nibabel's (i, j, k).
    canon = nib.as_closest_canonical(nib.load(ANAT))
    d, h, w = 3, 7, 11
    np.testing.assert_allclose(meta["affine"] @ [d, h, w, 1], canon.affine @ [w, h, d, 1])


def test_nifti_4d_volume_index():
    v0, meta = read_volume(EX4D)
    v1, _ = read_volume(EX4D, volume_index=1)
    assert v0.shape == v1.shape == (24, 96, 128) and meta["n_volumes"] == 2
    assert meta["spacing"] == pytest.approx((2.2, 2.0, 2.0), rel=1e-5)
    assert not np.array_equal(v0, v1)
    with pytest.raises(InputError, match="4D with 2 volumes"):
        read_volume(EX4D, volume_index=None)
    with pytest.raises(InputError, match="out of range"):
        read_volume(EX4D, volume_index=2)


def test_corrupt_and_unsupported_files(tmp_path):
    cut = tmp_path / "cut.nii.gz"
    cut.write_bytes(EX4D.read_bytes()[:3000])
    with pytest.raises(ParseError, match="cut.nii.gz"):
        read_volume(cut)
    junk = tmp_path / "junk.nii"
    junk.write_bytes(b"\x00" * 100)
    with pytest.raises(ParseError, match="junk.nii"):
        read_volume(junk)
    other = tmp_path / "v.raw"
    other.write_bytes(b"1")
    with pytest.raises(InputError, match="unsupported volume format"):
        read_volume(other)
    with pytest.raises(DataNotFoundError):
        read_volume(tmp_path / "absent.nii")


@pytest.mark.parametrize("pixdim", [0.0, -1.0, float("nan"), float("inf")])
def test_nifti_voxel_size_must_be_positive_and_finite(tmp_path, pixdim):
    img = nib.Nifti1Image(np.ones((4, 5, 6), np.float32), np.eye(4))
    img.header["pixdim"][2] = pixdim  # set after the affine, as a hand-edited header
    raw = img.to_bytes()
    path = tmp_path / "vox.nii"
    path.write_bytes(raw)
    if pixdim <= 0:  # nibabel's header check itself sets 0 to 1 and -1 to its absolute value
        assert read_volume(path)[1]["spacing"] == (1.0, 1.0, 1.0)
        return
    with pytest.raises(InputError, match="vox.nii.*voxel size"):
        read_volume(path)


def test_nifti_negative_dim_names_the_file(tmp_path):
    raw = bytearray(nib.Nifti1Image(np.ones((4, 5, 6), np.float32), np.eye(4)).to_bytes())
    raw[44:46] = (-5).to_bytes(2, "little", signed=True)  # dim[2]
    (tmp_path / "neg.nii").write_bytes(bytes(raw))
    with pytest.raises(ParseError, match="neg.nii: header dims \\(4, -5, 6\\)"):
        read_volume(tmp_path / "neg.nii")


def test_dicom_series_sorted_by_position(tmp_path):
    folder = write_series(tmp_path / "s", n=5, dz=2.5)
    (folder / "README.txt").write_text("not dicom")
    vol, meta = read_volume(folder)
    assert vol.shape == (5, 128, 128) and meta["format"] == "DICOM series"
    np.testing.assert_array_equal(vol[:, 0, 0], [0, 10, 20, 30, 40])  # HU after intercept
    assert meta["spacing"] == pytest.approx((2.5, 0.661468, 0.661468))
    assert meta["modality"] == "CT" and len(meta["files"]) == 5


def test_dicom_series_descending_positions_and_instance_fallback(tmp_path):
    down = write_series(tmp_path / "down", n=4, dz=-3.0)
    vol, meta = read_dicom_series(down)
    np.testing.assert_array_equal(vol[:, 5, 5], [30, 20, 10, 0])  # feet -> head
    assert meta["spacing"][0] == pytest.approx(3.0)
    nopos = write_series(tmp_path / "nopos", n=4, positions=False)
    vol, meta = read_dicom_series(nopos)
    np.testing.assert_array_equal(vol[:, 0, 0], [0, 10, 20, 30])
    assert meta["spacing"][0] == pytest.approx(5.0)  # SliceThickness fallback


def test_dicom_series_errors(tmp_path):
    mixed = write_series(tmp_path / "mixed", n=3, uid="1.2.3.1")
    write_series(tmp_path / "other", n=2, uid="1.2.3.2")
    for p in (tmp_path / "other").iterdir():
        p.rename(mixed / f"b_{p.name}")
    with pytest.raises(InputError, match="mixes 2 series"):
        read_volume(mixed)
    vol, meta = read_volume(mixed, series_uid="1.2.3.2")
    assert vol.shape[0] == 2 and meta["series_uid"] == "1.2.3.2"

    odd = write_series(tmp_path / "odd", n=3)
    bad = pydicom.dcmread(next(odd.iterdir()))
    bad.Rows, bad.Columns = 64, 64
    bad.ImagePositionPatient = [0, 0, 100.0]
    bad.PixelData = np.zeros((64, 64), np.int16).tobytes()
    bad.save_as(odd / "zz_small.dcm")
    with pytest.raises(InputError, match="zz_small.dcm.*expected \\(128, 128\\)"):
        read_volume(odd)

    broken = write_series(tmp_path / "broken", n=2)
    (broken / "x.dcm").write_bytes(b"\x00" * 20)
    with pytest.raises(ParseError, match="x.dcm"):
        read_volume(broken)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="no DICOM image"):
        read_volume(empty)


def test_resample_volume():
    vol = np.random.default_rng(0).random((20, 30, 40)).astype(np.float32)
    assert resample_volume(vol, shape=(10, 15, 20)).shape == (10, 15, 20)
    small = resample_volume(vol, shape=(10, 15, 20))
    assert small[0, 0, 0] == pytest.approx(vol[:2, :2, :2].mean(), rel=1e-5)  # area average
    up = resample_volume(vol, spacing=(0.5, 1, 1), current_spacing=(1, 1, 1))
    assert up.shape == (40, 30, 40)
    with pytest.raises(ConfigError):
        resample_volume(vol)
    with pytest.raises(InputError, match="3D volume"):
        resample_volume(np.zeros((4, 4)), shape=(2, 2, 2))


def small(**kw) -> Conv3dEncoder:
    return Conv3dEncoder(**{"dim": 16, "volume_shape": (16, 16, 16), "widths": (4, 8, 8),
                            "seed": 0, **kw})


def test_conv3d_encoder_on_real_files(tmp_path):
    assert ENCODERS.get("volume_cnn") is Conv3dEncoder
    enc = small()
    series = write_series(tmp_path / "s", n=6)
    out = enc.encode([ANAT, str(EX4D), series, np.random.default_rng(0).random((8, 9, 10))],
                     progress=False)
    assert out.shape == (4, 16) and torch.isfinite(out).all()
    assert enc.prepare(ANAT).shape == (1, 16, 16, 16)


def test_conv3d_seed_batching_and_errors(tmp_path):
    vols = [np.random.default_rng(i).random((12, 20, 20)) for i in range(3)]
    a = small().encode(vols, batch_size=3, progress=False)
    b = small().encode(vols, batch_size=1, progress=False)
    assert torch.allclose(a, b, atol=1e-5)
    assert not torch.allclose(a, small(seed=1).encode(vols, progress=False))
    enc = small()
    with pytest.raises(InputError, match=r"expected a 3D volume"):
        enc.prepare(np.zeros((5, 5)))
    with pytest.raises(InputError, match=r"\[b, 1, D, H, W\]"):
        enc(torch.zeros(1, 16, 16, 16))
    path = tmp_path / "w.pt"
    torch.save(enc.state_dict(), path)
    loaded = small(seed=5, weights=path)
    assert loaded.pretrained and torch.equal(loaded.encode(vols, progress=False),
                                             enc.encode(vols, progress=False))
    with pytest.raises(ConfigError, match="volume_shape"):
        small(volume_shape=(2, 16, 16))


def test_nibabel_example_data_present_offline():
    assert os.path.isfile(ANAT) and os.path.isfile(EX4D)
