"""Audio: WAV reading, mel filterbank, log-mel spectrogram and the audio CNN."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import soundfile
import torch
from scipy.io import wavfile

from graphs.encoders.audio import (
    AudioCNNEncoder,
    hz_to_mel,
    log_mel_spectrogram,
    mel_filterbank,
    mel_frequencies,
    mel_to_hz,
    read_audio,
)
from graphs.encoders.base import ENCODERS
from ontologies.errors import DataNotFoundError, InputError, ParseError


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny tensors: one thread avoids oversubscribing the shared 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)

SR = 16000


def sine(freq: float, seconds: float = 0.5, sr: int = SR, amp: float = 0.5) -> np.ndarray:
    return amp * np.sin(2 * np.pi * freq * np.arange(int(sr * seconds)) / sr)


@pytest.fixture()
def tone_wav(tmp_path):
    path = tmp_path / "tone.wav"
    soundfile.write(path, sine(1000.0), SR, subtype="PCM_16")
    return path


def test_read_wav_int16(tone_wav):
    wave, sr = read_audio(tone_wav)
    assert sr == SR and wave.dtype == np.float32 and wave.shape == (SR // 2,)
    assert abs(wave.max() - 0.5) < 1e-3
    wave8k, sr8k = read_audio(tone_wav, sample_rate=8000)
    assert sr8k == 8000 and wave8k.shape == (4000,)


def test_read_stereo_mixdown_and_scipy_fallback(tmp_path, monkeypatch):
    path = tmp_path / "stereo.wav"
    left = (sine(440.0, 0.1) * 32767).astype(np.int16)
    wavfile.write(path, SR, np.column_stack([left, np.zeros_like(left)]))
    mono, _ = read_audio(path)
    np.testing.assert_allclose(mono, left / 32768.0 / 2, atol=1e-4)
    both, _ = read_audio(path, mono=False)
    assert both.shape == (2, len(left))
    monkeypatch.setitem(sys.modules, "soundfile", None)  # import soundfile -> ImportError
    mono_scipy, sr = read_audio(path)
    assert sr == SR
    np.testing.assert_allclose(mono_scipy, mono, atol=1e-6)


@pytest.mark.parametrize("use_soundfile", [True, False])
def test_corrupt_missing_empty(tmp_path, monkeypatch, use_soundfile):
    if not use_soundfile:
        monkeypatch.setitem(sys.modules, "soundfile", None)
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunkjunk")
    with pytest.raises(ParseError, match="bad.wav"):
        read_audio(bad)
    with pytest.raises(DataNotFoundError):
        read_audio(tmp_path / "nothing.wav")
    empty = tmp_path / "empty.wav"
    wavfile.write(empty, SR, np.zeros(0, dtype=np.int16))
    with pytest.raises(InputError, match="no samples"):
        read_audio(empty)


def _wav_with_list_chunk(tmp_path, declared_extra: int = 0, cut: int = 0):
    """A 16-bit mono WAV with an odd-sized LIST chunk before ``data`` (padded to even),
    whose data chunk declares ``declared_extra`` bytes more than it holds, cut by ``cut``."""
    import struct

    samples = (sine(440.0, 0.01) * 20000).astype("<i2").tobytes()
    fmt = struct.pack("<4sIHHIIHH", b"fmt ", 16, 1, 1, SR, SR * 2, 2, 16)
    info = struct.pack("<4sI", b"LIST", 5) + b"INFOx" + b"\0"  # 5 bytes + pad byte
    data = struct.pack("<4sI", b"data", len(samples) + declared_extra) + samples
    body = b"WAVE" + fmt + info + data
    raw = struct.pack("<4sI", b"RIFF", len(body)) + body
    path = tmp_path / "chunks.wav"
    path.write_bytes(raw[:len(raw) - cut])
    return path, len(samples) // 2


@pytest.mark.parametrize("use_soundfile", [True, False])
def test_wav_data_chunk_shorter_than_declared(tmp_path, monkeypatch, use_soundfile):
    if not use_soundfile:
        monkeypatch.setitem(sys.modules, "soundfile", None)
    path, n = _wav_with_list_chunk(tmp_path)  # intact: the padded LIST chunk is skipped
    assert read_audio(path)[0].shape == (n,)
    path, n = _wav_with_list_chunk(tmp_path, cut=40)
    with pytest.raises(ParseError, match=f"chunks.wav: WAV data chunk declares {2 * n} bytes "
                                         f"but only {2 * n - 40} follow"):
        read_audio(path)
    path, _ = _wav_with_list_chunk(tmp_path, declared_extra=2)
    with pytest.raises(ParseError, match="chunks.wav"):
        read_audio(path)


def test_mel_scales_invert_and_differ():
    f = np.array([0.0, 200.0, 999.0, 1000.0, 4000.0, 8000.0])
    for scale in ("htk", "slaney"):
        np.testing.assert_allclose(mel_to_hz(hz_to_mel(f, scale), scale), f, atol=1e-6)
    assert float(hz_to_mel(1000.0, "slaney")) == pytest.approx(15.0)
    assert float(hz_to_mel(700.0)) == pytest.approx(2595 * np.log10(2))
    with pytest.raises(InputError):
        hz_to_mel(1.0, "bark")


@pytest.mark.parametrize("scale", ["htk", "slaney"])
def test_filterbank_triangles(scale):
    fb = mel_filterbank(20, 1024, SR, fmin=50, fmax=7000, scale=scale)
    assert fb.shape == (20, 513) and fb.min() >= 0 and fb.max() <= 1
    freqs = np.linspace(0, SR / 2, 513)
    peaks = freqs[fb.argmax(dim=1).numpy()]
    centers = mel_frequencies(20, 50, 7000, scale)
    assert np.all(np.abs(peaks - centers) <= SR / 1024)  # each peaks at its centre (1 bin)
    assert np.all(np.diff(centers) > 0)
    assert fb[:, freqs > 7000].abs().sum() == 0 and fb[:, freqs < 50].abs().sum() == 0
    area = mel_filterbank(20, 1024, SR, fmin=50, fmax=7000, scale=scale, norm="slaney")
    # unit-area triangles: sum(weights) * bin width ~= 1
    np.testing.assert_allclose(area.sum(1).numpy() * SR / 1024, 1.0, rtol=0.05)


@pytest.mark.parametrize("freq", [300.0, 1000.0, 3000.0])
def test_log_mel_peak_bin_matches_tone(tone_wav, tmp_path, freq):
    path = tmp_path / f"t{int(freq)}.wav"
    soundfile.write(path, sine(freq), SR, subtype="PCM_16")
    wave, sr = read_audio(path)
    spec = log_mel_spectrogram(wave, sr, n_fft=512, hop_length=160, n_mels=40)
    assert spec.shape == (40, 1 + len(wave) // 160)
    peak = int(spec.mean(dim=1).argmax())
    edges = np.concatenate([[0.0], mel_frequencies(40, 0, SR / 2), [SR / 2]])
    # the tone lies inside the peak filter's triangle (between its neighbours' centres)
    assert edges[peak] <= freq <= edges[peak + 2]


def test_log_mel_edge_cases():
    # padded to n_fft=400 samples: 1 + 400 // 160 frames
    assert log_mel_spectrogram(np.ones(10), SR, n_mels=8).shape == (8, 3)
    silent = log_mel_spectrogram(np.zeros(1600), SR, n_mels=8, eps=1e-6)
    torch.testing.assert_close(silent, torch.full_like(silent, float(np.log(1e-6))))
    with pytest.raises(InputError, match="empty"):
        log_mel_spectrogram(np.zeros(0), SR)
    with pytest.raises(InputError):
        log_mel_spectrogram(np.array([0.0, np.nan]), SR)


def test_audio_cnn_registered_and_padding_invariant(tone_wav):
    assert ENCODERS.get("audio_cnn") is AudioCNNEncoder
    torch.manual_seed(0)
    enc = AudioCNNEncoder(dim=6, sample_rate=8000, n_mels=32, n_fft=256, hop_length=80,
                          width=4, n_stages=3)
    rng = np.random.default_rng(0)
    items = [str(tone_wav), rng.normal(size=1234), (rng.normal(size=3000), 16000)]
    batch = enc.encode(items, progress=False)
    single = torch.cat([enc.encode([x], progress=False) for x in items])
    assert batch.shape == (3, 6)
    torch.testing.assert_close(batch, single, atol=1e-5, rtol=1e-5)
    assert enc.prepare(str(tone_wav)).shape == (1, 32, 1 + 4000 // 80)  # resampled to 8 kHz


def test_audio_cnn_fixed_duration_and_errors():
    enc = AudioCNNEncoder(dim=4, sample_rate=8000, n_mels=16, n_fft=256, hop_length=80,
                          width=4, n_stages=2, duration=0.5)
    assert enc.prepare(np.ones(100)).shape == enc.prepare(np.ones(9000)).shape == (1, 16, 51)
    with pytest.raises(InputError, match="empty audio"):
        enc.prepare(np.zeros(0))
    with pytest.raises(InputError):
        AudioCNNEncoder(n_mels=8, n_stages=4)
