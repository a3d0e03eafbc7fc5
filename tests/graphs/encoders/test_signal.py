"""Signal encoders: registry, shapes, padding invariance, file inputs, GRU-D inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import wfdb
from pydicom.data import get_testdata_file

from graphs.encoders.base import ENCODERS, get
from graphs.encoders.signal import RecurrentSignalEncoder, TemporalCNNEncoder, pad_with_mask
from graphs.encoders.signal_io import to_grid
from ontologies.errors import InputError


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny tensors: one thread avoids oversubscribing the shared 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_registered():
    assert ENCODERS.get("signal_cnn") is TemporalCNNEncoder
    assert ENCODERS.get("signal_rnn") is RecurrentSignalEncoder
    enc = get("signal_cnn", in_channels=3, dim=5, width=8, n_blocks=1)
    assert isinstance(enc, TemporalCNNEncoder) and enc.dim == 5


def test_pad_with_mask_time_major():
    x, m = pad_with_mask([torch.ones(3, 2), torch.ones(1, 2)], dim=0)
    assert x.shape == (2, 3, 2) and m.tolist() == [[True] * 3, [True, False, False]]
    assert x[1, 1:].abs().sum() == 0
    with pytest.raises(InputError):
        pad_with_mask([torch.ones(2, 3), torch.ones(3, 3)], dim=-1)


@pytest.mark.parametrize("stride", [1, 2, 3])
def test_cnn_batch_equals_single(stride):
    torch.manual_seed(0)
    enc = TemporalCNNEncoder(in_channels=2, dim=6, width=8, n_blocks=3, stride=stride)
    rng = np.random.default_rng(0)
    items = [rng.normal(size=(2, n)) for n in (301, 120, 7)]
    batch = enc.encode(items, progress=False)
    single = torch.cat([enc.encode([x], progress=False) for x in items])
    assert batch.shape == (3, 6)
    torch.testing.assert_close(batch, single, atol=1e-5, rtol=1e-5)


def test_cnn_masked_padding_equals_trimmed_input():
    torch.manual_seed(0)
    enc = TemporalCNNEncoder(in_channels=1, dim=4, width=8, n_blocks=2, normalize=False).eval()
    x = torch.randn(1, 1, 40)
    padded = torch.cat([x, torch.zeros(1, 1, 25)], dim=-1)
    mask = torch.arange(65)[None] < 40
    torch.testing.assert_close(enc((padded, mask)), enc(x), atol=1e-5, rtol=1e-5)
    assert not torch.allclose(enc(x), enc(x.flip(-1)))  # depends on the signal's shape


def test_cnn_prepare_files_and_resampling(tmp_path):
    sig = np.column_stack([np.sin(np.arange(400) / 9.0), np.cos(np.arange(400) / 5.0)])
    wfdb.wrsamp("r", fs=200, units=["mV", "mV"], sig_name=["I", "II"], p_signal=sig,
                fmt=["16", "16"], write_dir=str(tmp_path))
    enc = TemporalCNNEncoder(in_channels=2, dim=4, width=8, n_blocks=1, fs=100)
    x = enc.prepare(str(tmp_path / "r.hea"))
    assert x.shape == (2, 200)
    torch.testing.assert_close(x.mean(1), torch.zeros(2), atol=1e-4, rtol=0)  # z-normalised
    ecg = TemporalCNNEncoder(in_channels=12, dim=4, width=8, n_blocks=1, fs=250, length=2000)
    path = get_testdata_file("waveform_ecg.dcm")
    assert ecg.prepare(path).shape == (12, 2000)
    assert ecg.encode([path], progress=False).shape == (1, 4)


def test_cnn_rejects_bad_input():
    enc = TemporalCNNEncoder(in_channels=2, dim=4, width=8, n_blocks=1)
    with pytest.raises(InputError, match="got 3 channels, expected 2"):
        enc.prepare(np.zeros((3, 10)))
    with pytest.raises(InputError):
        enc.prepare(np.zeros((2, 0)))
    with pytest.raises(InputError):
        enc(torch.zeros(1, 3, 10))


def test_rnn_on_grid_equals_nan_array():
    torch.manual_seed(0)
    rnn = RecurrentSignalEncoder(in_channels=2, dim=4, hidden=8)
    dense = np.array([[80.0, np.nan], [np.nan, 12.0], [90.0, np.nan]])
    grid = to_grid([0, 2, 1], [80.0, 90.0, 12.0], ["0", "0", "1"], step=1, horizon=3,
                   channel_names=["0", "1"])
    torch.testing.assert_close(rnn.prepare(dense), rnn.prepare(grid))
    feats = rnn.prepare(grid)
    assert feats.shape == (3, 6)
    # columns: values (ffilled), mask, log1p(delta)
    assert feats[:, 0].tolist() == [80, 80, 90] and feats[:, 1].tolist() == [0, 12, 12]
    assert feats[:, 2:4].tolist() == [[1, 0], [0, 1], [1, 0]]
    torch.testing.assert_close(feats[:, 4], torch.log1p(torch.tensor([0.0, 1.0, 2.0])))


def test_rnn_batch_equals_single_and_options():
    torch.manual_seed(0)
    rnn = RecurrentSignalEncoder(in_channels=3, dim=5, hidden=8, num_layers=2)
    items = [np.random.default_rng(i).normal(size=(n, 3)) for i, n in enumerate((9, 4, 1))]
    batch = rnn.encode(items, progress=False)
    single = torch.cat([rnn.encode([x], progress=False) for x in items])
    torch.testing.assert_close(batch, single, atol=1e-5, rtol=1e-5)
    plain = RecurrentSignalEncoder(in_channels=3, dim=5, use_mask=False, use_delta=False)
    assert plain.prepare(items[0]).shape == (9, 3)
    with pytest.raises(InputError, match="time-major"):
        rnn.prepare(np.zeros((4, 2)))


def test_rnn_reads_waveform_files():
    rnn = RecurrentSignalEncoder(in_channels=12, dim=4, hidden=8, fs=50, use_delta=False)
    x = rnn.prepare(get_testdata_file("waveform_ecg.dcm"))
    assert x.shape == (500, 24)  # 10 s at 50 Hz; values + mask
    assert rnn.encode([get_testdata_file("waveform_ecg.dcm")], progress=False).shape == (1, 4)


def test_cache_keys_reflect_series_content(tmp_path):
    """Long GridSeries print alike (numpy elides arrays); the cache must still tell them apart."""
    torch.manual_seed(0)
    rnn = RecurrentSignalEncoder(in_channels=1, dim=4, hidden=8, cache_dir=tmp_path)
    times = np.arange(2000.0)
    first = to_grid(times, np.zeros(2000), ["x"] * 2000, step=1, horizon=2000)
    values = np.zeros(2000)
    values[1990] = 5.0  # hidden in the middle of numpy's elided repr
    second = to_grid(times, values, ["x"] * 2000, step=1, horizon=2000)
    emb = rnn.encode([first, second], progress=False)
    assert not torch.allclose(emb[0], emb[1])
    torch.testing.assert_close(rnn.encode([second, first], progress=False), emb.flip(0))
