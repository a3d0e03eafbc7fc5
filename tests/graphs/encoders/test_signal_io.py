"""Signal reading (WFDB, DICOM waveform), shaping, and GRU-D gridding of irregular vitals."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pydicom
import pytest
import wfdb
from pydicom.data import get_testdata_file

from graphs.encoders.signal_io import (
    bandpass,
    fixed_length,
    read_dicom_waveform,
    read_signal,
    read_wfdb,
    resample_signal,
    to_grid,
    zscore,
)
from ontologies.errors import DataNotFoundError, InputError, MedKGError, ParseError


@pytest.fixture()
def wfdb_record(tmp_path):
    t = np.arange(500) / 250.0
    x = np.column_stack([np.sin(2 * np.pi * 3 * t), 0.5 * np.cos(2 * np.pi * 7 * t)])
    wfdb.wrsamp("ecg", fs=250, units=["mV", "mV"], sig_name=["I", "II"], p_signal=x,
                fmt=["16", "16"], write_dir=str(tmp_path))
    return tmp_path / "ecg", x


@pytest.mark.parametrize("suffix", ["", ".hea", ".dat"])
def test_wfdb_round_trip(wfdb_record, suffix):
    base, x = wfdb_record
    rec = read_wfdb(f"{base}{suffix}")
    assert rec.signal.dtype == np.float32 and rec.signal.shape == (2, 500)
    assert rec.fs == 250.0 and rec.channels == ["I", "II"] and rec.units == ["mV", "mV"]
    np.testing.assert_allclose(rec.signal, x.T, atol=1e-3)  # 16-bit quantisation
    assert rec.nan_counts.tolist() == [0, 0]


def test_wfdb_nans_are_reported(tmp_path, caplog):
    x = np.ones((20, 2))
    x[3, 1] = x[7, 1] = np.nan
    wfdb.wrsamp("gap", fs=10, units=["mV", "mV"], sig_name=["a", "b"], p_signal=x,
                fmt=["16", "16"], write_dir=str(tmp_path))
    with caplog.at_level(logging.WARNING):
        rec = read_wfdb(tmp_path / "gap")
    assert rec.nan_counts.tolist() == [0, 2]
    assert np.isnan(rec.signal[1, [3, 7]]).all()
    assert "'b': 2" in caplog.text


def test_wfdb_missing_and_corrupt(tmp_path, wfdb_record):
    base, _ = wfdb_record
    with pytest.raises(DataNotFoundError, match="nothere.hea"):
        read_wfdb(tmp_path / "nothere")
    (tmp_path / "bad.hea").write_text("this is not a header\n")
    with pytest.raises(ParseError, match="bad.hea"):
        read_wfdb(tmp_path / "bad")
    (tmp_path / "ecg.dat").write_bytes(b"\x00\x01\x02")  # truncated signal file
    with pytest.raises(ParseError) as err:
        read_wfdb(base)
    assert err.value.path.endswith("ecg.hea")
    (tmp_path / "ecg.dat").unlink()
    with pytest.raises(DataNotFoundError, match="signal file missing"):
        read_wfdb(base)


def test_dicom_ecg_waveform():
    path = get_testdata_file("waveform_ecg.dcm")
    rec = read_dicom_waveform(path)
    assert rec.signal.shape == (12, 10000) and rec.fs == 1000.0
    assert rec.channels[0] == "Lead I (Einthoven)" and rec.channels[-1] == "Lead V6"
    assert set(rec.units) == {"uV"}
    expected = pydicom.dcmread(path).waveform_array(0).T
    np.testing.assert_allclose(rec.signal, expected, rtol=1e-6)
    assert read_signal(path).signal.shape == (12, 10000)


def test_dicom_errors(tmp_path):
    with pytest.raises(ParseError, match="no WaveformSequence"):
        read_dicom_waveform(get_testdata_file("CT_small.dcm"))
    junk = tmp_path / "junk.dcm"
    junk.write_bytes(b"not dicom at all")
    with pytest.raises(ParseError, match="junk.dcm"):
        read_dicom_waveform(junk)
    with pytest.raises(ParseError, match="group 3 out of range"):
        read_dicom_waveform(get_testdata_file("waveform_ecg.dcm"), group=3)
    with pytest.raises(DataNotFoundError):
        read_signal(tmp_path / "missing.dcm")


def test_resample_keeps_the_waveform():
    t_in = np.arange(2000) / 500.0
    y = resample_signal(np.sin(2 * np.pi * 5 * t_in)[None], 500, 100)
    assert y.shape == (1, 400) and y.dtype == np.float32
    t_out = np.arange(400) / 100.0
    np.testing.assert_allclose(y[0, 20:-20], np.sin(2 * np.pi * 5 * t_out)[20:-20], atol=0.02)
    assert resample_signal(np.ones((2, 360)), 360, 500).shape == (2, 500)  # 25/18 ratio
    with pytest.raises(InputError):
        resample_signal(np.ones(10), 0, 100)


def test_bandpass_removes_out_of_band_tone():
    t = np.arange(5000) / 500.0
    y = bandpass(np.sin(2 * np.pi * 5 * t) + np.sin(2 * np.pi * 100 * t), 500, 1, 20)
    np.testing.assert_allclose(y[1000:-1000], np.sin(2 * np.pi * 5 * t)[1000:-1000], atol=0.01)
    highpassed = bandpass(np.ones(2000) + np.sin(2 * np.pi * 5 * t[:2000]), 500, 1, None)
    assert abs(highpassed[500:-500].mean()) < 0.01  # DC gone
    for low, high in [(30, 20), (0, 20), (1, 300), (None, None)]:
        with pytest.raises(InputError):
            bandpass(np.ones(2000), 500, low, high)


def test_zscore_per_channel_with_nan_and_flat():
    x = np.array([[1.0, 2.0, 3.0, np.nan], [5.0, 5.0, 5.0, 5.0]])
    z = zscore(x)
    assert np.isnan(z[0, 3])
    np.testing.assert_allclose(z[0, :3], [-1.2247449, 0.0, 1.2247449], rtol=1e-5)
    assert (z[1] == 0).all()


def test_fixed_length_crop_pad_mask():
    x = np.arange(10.0).reshape(2, 5)
    y, m = fixed_length(x, 7)
    assert y.shape == (2, 7) and m.tolist() == [True] * 5 + [False] * 2
    assert (y[:, 5:] == 0).all() and (y[:, :5] == x).all()
    y, m = fixed_length(x, 3, align="center")
    assert y.tolist() == [[1, 2, 3], [6, 7, 8]] and m.all()
    y, m = fixed_length(x, 9, align="center")
    assert m.tolist() == [False, False] + [True] * 5 + [False, False]
    with pytest.raises(InputError):
        fixed_length(x, 0)


# times, values, channels: two obs of "a" in bin 0 (latest wins), one outside horizon
TIMES = [0.0, 0.4, 1.2, 3.5, 5.0, 2.1]
VALUES = [1.0, 2.0, 3.0, 4.0, 99.0, 7.0]
CHANNELS = ["a", "a", "b", "a", "a", "b"]


def test_to_grid_hand_checked():
    g = to_grid(TIMES, VALUES, CHANNELS, step=1.0, horizon=4.0, channel_names=["a", "b", "c"])
    assert g.channels == ["a", "b", "c"]
    assert g.mask.T.astype(int).tolist() == [[1, 0, 0, 1], [0, 1, 1, 0], [0, 0, 0, 0]]
    assert g.values.T.tolist() == [[2, 2, 2, 4], [0, 3, 7, 7], [0, 0, 0, 0]]
    assert g.delta.T.tolist() == [[0, 1, 2, 3], [0, 1, 1, 1], [0, 1, 2, 3]]
    assert g.times.tolist() == [0, 1, 2, 3]


def test_to_grid_zero_fill_step_scaling_and_shuffled_input():
    order = [5, 3, 1, 4, 0, 2]
    g = to_grid(np.asarray(TIMES)[order] / 2, np.asarray(VALUES)[order],
                np.asarray(CHANNELS)[order], step=0.5, horizon=2.0, fill="zero")
    assert g.channels == ["a", "b"]
    assert g.values.T.tolist() == [[2, 0, 0, 4], [0, 3, 7, 0]]
    assert g.delta.T.tolist() == [[0, 0.5, 1.0, 1.5], [0, 0.5, 0.5, 0.5]]


def test_to_grid_datetimes_in_hours():
    t0 = pd.Timestamp("2024-01-01 08:00")
    times = pd.to_datetime([t0, t0 + pd.Timedelta(minutes=90), t0 + pd.Timedelta(hours=3)])
    g = to_grid(times, [70, 75, 80], ["hr"] * 3, step=1, horizon=4)
    assert g.mask[:, 0].tolist() == [True, True, False, True]
    assert g.values[:, 0].tolist() == [70, 75, 75, 80]


def test_to_grid_bad_input():
    with pytest.raises(InputError, match="differ in length"):
        to_grid([0, 1], [1.0], ["a", "a"], step=1, horizon=2)
    with pytest.raises(InputError):
        to_grid([0], [1.0], ["a"], step=0, horizon=2)
    with pytest.raises(MedKGError):
        to_grid([0], [1.0], ["a"], step=1, horizon=2, fill="mean")
