"""Tests of 2D image reading and preprocessing on pydicom's shipped DICOMs and tiny rasters."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image

from graphs.encoders.image_io import (
    augment,
    check_image,
    normalize_intensity,
    prepare_image,
    read_dicom,
    read_image,
    resample,
    to_chw,
    window,
)
from ontologies.errors import ConfigError, DataNotFoundError, InputError, ParseError

DICOM_DIR = Path(pydicom.__file__).parent / "data" / "test_files"  # shipped, no download
CT = DICOM_DIR / "CT_small.dcm"
MR = DICOM_DIR / "MR_small.dcm"
RTDOSE = DICOM_DIR / "rtdose.dcm"
PALETTE = DICOM_DIR / "examples_palette.dcm"


@pytest.fixture(scope="module")
def rasters(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("rasters")
    rng = np.random.default_rng(0)
    gray = rng.integers(0, 256, (20, 30), dtype=np.uint8)
    rgb = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    paths = {"gray": d / "g.png", "rgb": d / "c.png", "rgba": d / "a.png",
             "g16": d / "g16.png", "jpeg": d / "c.jpg"}
    Image.fromarray(gray).save(paths["gray"], dpi=(254, 127))
    Image.fromarray(rgb).save(paths["rgb"])
    Image.fromarray(np.dstack([rgb, np.full((20, 30), 9, np.uint8)])).save(paths["rgba"])
    Image.fromarray((gray.astype(np.uint16) * 250)).save(paths["g16"])
    smooth = np.dstack([np.tile(np.linspace(0, 255, 30), (20, 1))] * 3).astype(np.uint8)
    Image.fromarray(smooth).save(paths["jpeg"], quality=95)
    return {**paths, "_gray": gray, "_rgb": rgb, "_smooth": smooth}


def test_ct_is_in_hounsfield_units():
    ds = pydicom.dcmread(CT)
    img, meta = read_image(CT)
    assert img.dtype == np.float32 and img.shape == (128, 128)
    expected = ds.pixel_array.astype(np.float32) * float(ds.RescaleSlope) + float(
        ds.RescaleIntercept)
    np.testing.assert_array_equal(img, expected)
    assert meta["modality"] == "CT" and meta["units"] == "HU"
    assert meta["rescale_intercept"] == -1024.0
    assert meta["pixel_spacing"] == pytest.approx((0.661468, 0.661468))
    assert img.min() < -500  # air outside the body, not raw stored values >= 0


def test_mr_header_window_and_metadata():
    img, meta = read_image(MR)
    assert img.shape == (64, 64) and meta["modality"] == "MR" and meta["units"] is None
    assert (meta["window_center"], meta["window_width"]) == (600.0, 1600.0)
    w = window(img, metadata=meta)
    assert w.min() >= 0 and w.max() <= 1
    np.testing.assert_allclose(w, np.clip((img - (600 - 800)) / 1600, 0, 1), atol=1e-6)


def test_multiframe_options():
    first, meta = read_image(RTDOSE)
    assert first.shape == (10, 10) and meta["n_frames"] == 15
    stack, _ = read_dicom(RTDOSE, multiframe="all")
    assert stack.shape == (15, 10, 10)
    np.testing.assert_array_equal(stack[0], first)
    with pytest.raises(InputError, match="rtdose.dcm.*15 frames"):
        read_image(RTDOSE, multiframe="error")


def test_monochrome1_is_inverted(tmp_path):
    ds = pydicom.dcmread(CT)
    ds.PhotometricInterpretation = "MONOCHROME1"
    p = tmp_path / "inv.dcm"
    ds.save_as(p)
    normal, _ = read_image(CT)
    inverted, _ = read_image(p)
    # signed 16-bit: stored s -> -1 - s, then the same rescale
    np.testing.assert_array_equal(inverted, (-1.0 - ds.pixel_array) - 1024.0)
    assert np.corrcoef(normal.ravel(), inverted.ravel())[0, 1] == pytest.approx(-1.0)


def test_palette_colour_becomes_rgb():
    img, meta = read_image(PALETTE)
    assert img.ndim == 3 and img.shape[-1] == 3 and meta["photometric"] == "PALETTE COLOR"
    assert read_image(PALETTE, mode="gray")[0].ndim == 2


@pytest.mark.parametrize("cut", [60, 200, 1000, -500])
def test_truncated_dicom_raises_parse_error_naming_file(tmp_path, cut):
    data = CT.read_bytes()
    p = tmp_path / f"cut{cut}.dcm"
    p.write_bytes(data[:cut])
    with pytest.raises(ParseError, match=f"cut{cut}.dcm") as info:
        read_image(p)
    assert info.value.path == str(p)


def test_pydicom_truncated_sample_and_garbage(tmp_path):
    with pytest.raises(ParseError, match="MR_truncated.dcm"):
        read_image(DICOM_DIR / "MR_truncated.dcm")
    junk = tmp_path / "junk.dcm"
    junk.write_bytes(b"\x00" * 10)
    with pytest.raises(ParseError, match="junk.dcm"):
        read_image(junk)


def test_dicom_detected_by_preamble_not_suffix(tmp_path):
    p = tmp_path / "scan.png"
    p.write_bytes(CT.read_bytes())
    assert read_image(p)[1]["format"] == "DICOM"


def test_png_gray_rgb_rgba_16bit(rasters):
    g, meta = read_image(rasters["gray"])
    np.testing.assert_array_equal(g, rasters["_gray"].astype(np.float32))
    assert meta["format"] == "PNG" and meta["photometric"] == "MONOCHROME2"
    assert meta["pixel_spacing"] == pytest.approx((25.4 / 127, 25.4 / 254), rel=1e-3)
    c, _ = read_image(rasters["rgb"])
    np.testing.assert_array_equal(c, rasters["_rgb"].astype(np.float32))
    a, _ = read_image(rasters["rgba"])
    np.testing.assert_array_equal(a, c)  # alpha dropped
    g16, _ = read_image(rasters["g16"])
    assert g16.max() > 255 and g16.shape == (20, 30)
    assert read_image(rasters["gray"], mode="rgb")[0].shape == (20, 30, 3)
    gray_of_rgb = read_image(rasters["rgb"], mode="gray")[0]
    np.testing.assert_allclose(gray_of_rgb, c @ np.array([0.299, 0.587, 0.114]), rtol=1e-5)


def test_jpeg(rasters):
    img, meta = read_image(rasters["jpeg"])
    assert img.shape == (20, 30, 3) and meta["format"] == "JPEG"
    assert np.abs(img - rasters["_smooth"]).mean() < 3  # lossy but close


def test_bad_raster_files(tmp_path, rasters):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"definitely not a png")
    with pytest.raises(ParseError, match="bad.png"):
        read_image(bad)
    cut = tmp_path / "cut.png"
    cut.write_bytes(rasters["rgb"].read_bytes()[:200])
    with pytest.raises(ParseError, match="cut.png"):
        read_image(cut)
    other = tmp_path / "scan.xyz"
    other.write_bytes(b"1234")
    with pytest.raises(InputError, match="scan.xyz.*unsupported"):
        read_image(other)
    with pytest.raises(DataNotFoundError, match="missing.png"):
        read_image(tmp_path / "missing.png")


def test_check_image_rejects_bad_shapes():
    with pytest.raises(InputError, match="channel-first"):
        check_image(np.zeros((3, 16, 16)))
    with pytest.raises(InputError, match="4 dims"):
        check_image(np.zeros((1, 2, 3, 3)))
    with pytest.raises(InputError, match="NaN"):
        check_image(np.array([[0.0, np.nan]]))
    with pytest.raises(InputError, match="numeric"):
        check_image([["a", "b"]])


def test_window_values_and_errors():
    out = window(np.array([-2000.0, -600.0, 150.0, 3000.0]), level=-600, width=1500)
    np.testing.assert_allclose(out, [0.0, 0.5, 1.0, 1.0])
    with pytest.raises(ConfigError, match="level and width"):
        window(np.zeros(3), metadata={"window_center": None})
    with pytest.raises(ConfigError, match="width"):
        window(np.zeros(3), level=0, width=0)


def test_normalize_intensity_methods():
    img = np.concatenate([np.linspace(0, 1, 999), [1000.0]]).astype(np.float32)
    z = normalize_intensity(img)
    assert abs(z.mean()) < 1e-5 and z.std() == pytest.approx(1, abs=1e-4)
    mm = normalize_intensity(img, "minmax")
    assert mm.min() == 0 and mm.max() == 1 and mm[500] < 0.01  # outlier squashes
    pc = normalize_intensity(img, "percentile", (0, 99))
    assert pc[500] == pytest.approx(0.5, abs=0.02)  # robust to the hot pixel
    assert not normalize_intensity(np.full(5, 3.0), "zscore").any()
    with pytest.raises(ConfigError, match="method"):
        normalize_intensity(img, "l2")
    with pytest.raises(ConfigError, match="percentiles"):
        normalize_intensity(img, "percentile", (50, 10))


def test_resample_size_and_spacing():
    ramp = np.tile(np.linspace(0, 1, 40, dtype=np.float32), (20, 1))
    small = resample(ramp, size=(10, 20))
    assert small.shape == (10, 20)
    assert np.all(np.diff(small[0]) > 0)  # still monotone
    const = resample(np.full((30, 30, 3), 5.0), size=(7, 11))
    np.testing.assert_allclose(const, 5.0, atol=1e-5)
    img, meta = read_image(CT)
    iso = resample(img, spacing=(1.0, 1.0), current_spacing=meta["pixel_spacing"])
    assert iso.shape == (85, 85)  # 128 * 0.661 mm = 84.7 mm
    assert resample(ramp, size=(20, 40)) is not None
    with pytest.raises(ConfigError, match="exactly one"):
        resample(ramp)
    with pytest.raises(ConfigError, match="current_spacing"):
        resample(ramp, spacing=(1, 1))


def test_augment_deterministic_and_shape_preserving():
    img = np.random.default_rng(1).random((24, 32)).astype(np.float32)
    a = augment(img, np.random.default_rng(7))
    b = augment(img, np.random.default_rng(7))
    c = augment(img, np.random.default_rng(8))
    assert a.shape == img.shape and np.array_equal(a, b) and not np.array_equal(a, c)
    rgb = augment(np.random.default_rng(2).random((16, 16, 3)), np.random.default_rng(0))
    assert rgb.shape == (16, 16, 3)
    same = augment(img, np.random.default_rng(0), flip=False, rot90=False, max_rotation=0,
                   max_scale=0, max_shift=0, intensity=0)
    np.testing.assert_array_equal(same, img)


def test_to_chw_and_prepare_image(rasters):
    assert to_chw(np.ones((4, 5, 3)), 1).shape == (1, 4, 5)
    np.testing.assert_allclose(to_chw(np.full((4, 5, 3), 2.0), 1).numpy(), 2.0, rtol=1e-6)
    x = prepare_image(CT, 32, 1)
    assert x.shape == (1, 32, 32) and abs(float(x.mean())) < 1e-4
    w = prepare_image(MR, 16, 3, normalize=None, window_range="header")
    assert w.shape == (3, 16, 16) and 0 <= float(w.min()) and float(w.max()) <= 1
    with pytest.raises(InputError, match="header"):
        prepare_image(rasters["gray"], 16, 1, window_range="header")
    with pytest.raises(InputError, match="image array"):
        prepare_image(np.zeros((3, 16, 16)), 16, 1)
