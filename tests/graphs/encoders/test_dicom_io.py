"""Malformed DICOM headers: every reader raises ParseError naming the file and the tag."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

from graphs.encoders.dicom_io import integer, number, numbers, tag_name
from graphs.encoders.image_io import read_image
from graphs.encoders.signal_io import read_dicom_waveform
from graphs.encoders.volume import read_volume
from ontologies.errors import ParseError

CT = get_testdata_file("CT_small.dcm")
ECG = get_testdata_file("waveform_ecg.dcm")


def _ct_with(tmp_path: Path, name: str, keyword: str, value: bytes) -> Path:
    """CT_small with element ``keyword`` holding raw ``value`` bytes (pydicom would refuse
    to set a malformed value, so a valid placeholder of the same length is patched)."""
    from pydicom.datadict import dictionary_VR, tag_for_keyword

    ds = pydicom.dcmread(CT)
    placeholder = "9" * len(value)
    setattr(ds, keyword, placeholder)
    ds.save_as(tmp_path / name)
    tag, vr = tag_for_keyword(keyword), dictionary_VR(keyword).encode()
    head = (tag >> 16).to_bytes(2, "little") + (tag & 0xFFFF).to_bytes(2, "little") + vr
    element = head + len(value).to_bytes(2, "little")
    raw = (tmp_path / name).read_bytes()
    assert raw.count(element + placeholder.encode()) == 1
    (tmp_path / name).write_bytes(raw.replace(element + placeholder.encode(), element + value))
    return tmp_path / name


@pytest.mark.parametrize("keyword, value, message", [
    ("PixelSpacing", b"0.0\\0.5 ", "PixelSpacing \\(0028,0030\\) value 0.0 is not a positive"),
    ("PixelSpacing", b"nan\\1.0 ", "PixelSpacing \\(0028,0030\\) value nan is not a positive"),
    ("WindowCenter", b"abcd", "WindowCenter \\(0028,1050\\) value 'abcd' is not a number"),
    ("RescaleIntercept", b"x-24", "RescaleIntercept \\(0028,1052\\) value 'x-24' is not a"),
    ("NumberOfFrames", b"0 ", "NumberOfFrames \\(0028,0008\\) value 0 is below 1"),
    ("NumberOfFrames", b"1.5 ", "NumberOfFrames \\(0028,0008\\) value 1.5 is not an integer"),
])
def test_bad_image_header_values(tmp_path: Path, keyword: str, value: bytes,
                                 message: str) -> None:
    path = _ct_with(tmp_path, "bad.dcm", keyword, value)
    with pytest.raises(ParseError, match=message) as info:
        read_image(path)
    assert info.value.path == str(path)


def test_helpers_on_a_valid_header() -> None:
    ds = pydicom.dcmread(get_testdata_file("MR_small.dcm"))
    assert number(ds, "WindowCenter") == 600.0
    assert numbers(ds, "PixelSpacing", positive=True) == (0.3125, 0.3125)
    assert integer(ds, "NumberOfFrames", default=1) == 1  # absent
    assert numbers(ds, "RescaleType") is None and tag_name("NotAKeyword") == "NotAKeyword"


def _series(folder: Path, n: int = 3) -> Path:
    folder.mkdir()
    base = pydicom.dcmread(CT)
    for k in range(n):
        ds = copy.deepcopy(base)
        ds.InstanceNumber = k + 1
        ds.ImagePositionPatient = [0.0, 0.0, 2.5 * k]
        ds.save_as(folder / f"s{k}.dcm")
    return folder


def test_series_with_malformed_position(tmp_path: Path) -> None:
    folder = _series(tmp_path / "series")
    ds = pydicom.dcmread(folder / "s1.dcm")
    ds.ImagePositionPatient = [0.0, 0.0]  # two values, three needed
    ds.save_as(folder / "s1.dcm")
    with pytest.raises(ParseError, match="ImagePositionPatient \\(0020,0032\\) holds 2 values"
                       ) as info:
        read_volume(folder)
    assert info.value.path == str(folder / "s1.dcm")


def test_series_with_undecodable_rows(tmp_path: Path) -> None:
    folder = _series(tmp_path / "series")
    raw = (folder / "s2.dcm").read_bytes()
    rows = b"\x28\x00\x10\x00US\x02\x00\x80\x00"  # (0028,0010) Rows US 128, explicit LE
    assert raw.count(rows) == 1
    # a 3-byte US value (lengths must be multiples of 2); the file keeps its size
    (folder / "s2.dcm").write_bytes(raw.replace(rows, rows[:6] + b"\x03\x00\x80\x00\x00")[:-1])
    with pytest.raises(ParseError, match="s2.dcm: cannot decode DICOM element Rows "
                                         "\\(0028,0010\\)"):
        read_volume(folder)


def test_waveform_with_zero_sampling_frequency(tmp_path: Path) -> None:
    ds = pydicom.dcmread(ECG)
    ds.WaveformSequence[0].SamplingFrequency = 0
    ds.save_as(tmp_path / "ecg0.dcm")
    with pytest.raises(ParseError, match="ecg0.dcm: sampling frequency 0.0 Hz"):
        read_dicom_waveform(tmp_path / "ecg0.dcm")
    assert read_dicom_waveform(ECG).fs == 1000.0
    assert np.isfinite(read_dicom_waveform(ECG).signal).all()
