"""Audio (heart/lung sounds, speech, cough): WAV reading, log-mel spectrograms, a 2D CNN.

The mel filterbank is built here (no torchaudio/librosa): triangular filters whose
corners are equally spaced on the mel scale, using either

* ``"htk"``: ``mel = 2595 * log10(1 + f / 700)`` (HTK, O'Shaughnessy 1987), or
* ``"slaney"``: linear below 1 kHz (``mel = 3 f / 200``) and logarithmic above
  (``mel = 15 + 27 * ln(f / 1000) / ln(6.4)``), as in Slaney's Auditory Toolbox.

Each triangle peaks at 1 on its centre frequency (``norm=None``) or is scaled to unit
area (``norm="slaney"``, ``2 / (f_right - f_left)``), so wide high-frequency bands do
not dominate.

Examples:
    >>> sr = 8000
    >>> t = np.arange(sr) / sr
    >>> spec = log_mel_spectrogram(np.sin(2 * np.pi * 1000 * t), sr, n_mels=32)
    >>> spec.shape
    torch.Size([32, 51])
    >>> centers = mel_frequencies(32, 0, sr / 2)
    >>> abs(float(centers[int(spec.mean(1).argmax())]) - 1000) < 100
    True
"""

from __future__ import annotations

import math
import os
import struct
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from graphs.encoders.base import ENCODERS, Encoder
from graphs.encoders.signal import ChannelNorm, pad_with_mask
from graphs.encoders.signal_io import resample_signal
from ontologies.errors import DataNotFoundError, InputError, ParseError

__all__ = [
    "read_audio",
    "hz_to_mel",
    "mel_to_hz",
    "mel_frequencies",
    "mel_filterbank",
    "log_mel_spectrogram",
    "AudioCNNEncoder",
]

_SLANEY_F_SP = 200.0 / 3  # Hz per mel below 1 kHz
_SLANEY_MIN_LOG_HZ = 1000.0
_SLANEY_MIN_LOG_MEL = _SLANEY_MIN_LOG_HZ / _SLANEY_F_SP  # = 15
_SLANEY_LOGSTEP = math.log(6.4) / 27.0


def read_audio(path: str | os.PathLike, sample_rate: int | None = None,
               mono: bool = True) -> tuple[np.ndarray, int]:
    """Reads an audio file as float32 in ``[-1, 1]``.

    Uses ``soundfile`` (WAV, FLAC, OGG; any PCM/float subtype) when installed, else
    ``scipy.io.wavfile`` (WAV only; int16/int32/uint8 scaled to ``[-1, 1]``).

    Args:
        path: Audio file.
        sample_rate: Resample to this rate (polyphase); ``None`` keeps the file's rate.
        mono: Average the channels into one.

    Returns:
        ``(wave, sr)``: ``wave`` ``[samples]`` when ``mono`` else ``[channels, samples]``.

    Raises:
        DataNotFoundError: Missing file.
        ParseError: Not a readable audio file.
        InputError: The file holds no samples.

    Examples:
        >>> import tempfile
        >>> from scipy.io import wavfile
        >>> p = os.path.join(tempfile.mkdtemp(), "a.wav")
        >>> stereo = np.array([[16384, 0], [-16384, 0], [0, 32767]], dtype=np.int16)
        >>> wavfile.write(p, 8000, stereo)
        >>> wave, sr = read_audio(p)
        >>> sr, wave.round(2)
        (8000, array([ 0.25, -0.25,  0.5 ], dtype=float32))
    """
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"audio file {path} not found")
    _check_wav_data_chunk(path)
    try:
        import soundfile
    except ImportError:  # optional: scipy covers plain WAV
        soundfile = None
    if soundfile is not None:
        try:
            data, sr = soundfile.read(path, dtype="float32", always_2d=True)
        except (soundfile.SoundFileError, RuntimeError, ValueError) as err:
            raise ParseError(f"not a readable audio file ({err})", path=path) from err
        data = data.T  # [channels, samples]
    else:
        data, sr = _read_wav_scipy(path)
    if data.shape[-1] == 0:
        raise InputError(f"audio file {path} holds no samples")
    if mono:
        data = data.mean(axis=0)
    if sample_rate is not None and sample_rate != sr:
        data = resample_signal(data, sr, sample_rate)
        sr = int(sample_rate)
    return np.ascontiguousarray(data, dtype=np.float32), int(sr)


def _check_wav_data_chunk(path: Path) -> None:
    """Raises ParseError if a RIFF/WAVE file's ``data`` chunk is shorter than its header
    says: both decoders would silently return the samples that are there."""
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] not in (b"RIFF", b"RIFX") or head[8:12] != b"WAVE":
            return  # not RIFF WAVE (or too short): the decoders judge it
        order = "<" if head[:4] == b"RIFF" else ">"
        size = path.stat().st_size
        offset = 12
        while offset + 8 <= size:
            f.seek(offset)
            chunk_id, length = struct.unpack(f"{order}4sI", f.read(8))
            if chunk_id == b"data":
                # 0 and 0xFFFFFFFF: a streamed file whose writer never filled in the size
                available = size - offset - 8
                if length not in (0, 0xFFFFFFFF) and length > available:
                    raise ParseError(f"WAV data chunk declares {length} bytes but only "
                                     f"{available} follow (truncated file)", path=path)
                return
            offset += 8 + length + (length & 1)  # chunks are padded to even sizes


def _read_wav_scipy(path: Path) -> tuple[np.ndarray, int]:
    from scipy.io import wavfile

    try:
        with warnings.catch_warnings():  # unknown chunks: skipped by scipy, harmless
            warnings.simplefilter("ignore", wavfile.WavFileWarning)
            sr, data = wavfile.read(path)
    # scipy hits UnboundLocalError on a RIFF header without chunks (scipy 1.17)
    except (ValueError, EOFError, OSError, UnboundLocalError) as err:
        raise ParseError(f"not a readable WAV file ({type(err).__name__}: {err})",
                         path=path) from err
    if data.dtype == np.uint8:
        data = (data.astype(np.float32) - 128.0) / 128.0
    elif np.issubdtype(data.dtype, np.integer):
        data = data.astype(np.float32) / float(-np.iinfo(data.dtype).min)
    data = np.asarray(data, dtype=np.float32)
    return (data[None, :] if data.ndim == 1 else data.T), int(sr)


def hz_to_mel(freq: Any, scale: str = "htk") -> np.ndarray:
    """Hertz -> mel on the ``"htk"`` or ``"slaney"`` scale (see module docstring).

    Examples:
        >>> float(hz_to_mel(1000.0).round(1)), float(hz_to_mel(1000.0, "slaney"))
        (1000.0, 15.0)
    """
    f = np.asarray(freq, dtype=np.float64)
    if scale == "htk":
        return 2595.0 * np.log10(1.0 + f / 700.0)
    if scale == "slaney":
        linear = f / _SLANEY_F_SP
        logpart = _SLANEY_MIN_LOG_MEL + np.log(np.maximum(f, 1e-10) / _SLANEY_MIN_LOG_HZ) \
            / _SLANEY_LOGSTEP
        return np.where(f >= _SLANEY_MIN_LOG_HZ, logpart, linear)
    raise InputError(f"mel scale must be 'htk' or 'slaney', got {scale!r}")


def mel_to_hz(mel: Any, scale: str = "htk") -> np.ndarray:
    """Mel -> Hertz, the inverse of :func:`hz_to_mel`.

    Examples:
        >>> float(mel_to_hz(hz_to_mel(440.0, "slaney"), "slaney"))
        440.0
    """
    m = np.asarray(mel, dtype=np.float64)
    if scale == "htk":
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    if scale == "slaney":
        return np.where(m >= _SLANEY_MIN_LOG_MEL,
                        _SLANEY_MIN_LOG_HZ * np.exp(_SLANEY_LOGSTEP * (m - _SLANEY_MIN_LOG_MEL)),
                        m * _SLANEY_F_SP)
    raise InputError(f"mel scale must be 'htk' or 'slaney', got {scale!r}")


def mel_frequencies(n_mels: int, fmin: float, fmax: float, scale: str = "htk") -> np.ndarray:
    """Centre frequencies (Hz) of ``n_mels`` filters equally spaced in mel on
    ``[fmin, fmax]`` (the outer corners excluded).

    Examples:
        >>> mel_frequencies(3, 0, 4000).round()
        array([ 427., 1114., 2220.])
    """
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin, scale), hz_to_mel(fmax, scale), n_mels + 2),
                      scale)
    return edges[1:-1]


def mel_filterbank(n_mels: int, n_fft: int, sample_rate: int, fmin: float = 0.0,
                   fmax: float | None = None, scale: str = "htk",
                   norm: str | None = None) -> torch.Tensor:
    """Triangular mel filters as a matrix ``[n_mels, n_fft // 2 + 1]``.

    Filter ``m`` rises linearly from corner ``m`` to its centre ``m + 1`` and falls to
    corner ``m + 2``; the ``n_mels + 2`` corners are equally spaced in mel.

    Args:
        n_mels: Number of filters.
        n_fft: FFT size (the spectrogram has ``n_fft // 2 + 1`` bins).
        sample_rate: Sampling rate (Hz).
        fmin: Lowest corner (Hz).
        fmax: Highest corner (Hz); default Nyquist.
        scale: ``"htk"`` or ``"slaney"`` mel formula.
        norm: ``None`` (peak 1) or ``"slaney"`` (unit area).

    Examples:
        >>> fb = mel_filterbank(4, 16, 8000)
        >>> fb.shape, bool(fb.min() >= 0), bool((fb.max(dim=1).values > 0).all())
        (torch.Size([4, 9]), True, True)
    """
    fmax = sample_rate / 2.0 if fmax is None else float(fmax)
    if n_mels <= 0 or n_fft <= 0 or not 0 <= fmin < fmax <= sample_rate / 2.0:
        raise InputError(f"need n_mels, n_fft > 0 and 0 <= fmin < fmax <= sr/2; got "
                         f"n_mels={n_mels}, n_fft={n_fft}, fmin={fmin}, fmax={fmax}, "
                         f"sr={sample_rate}")
    if norm not in (None, "slaney"):
        raise InputError(f"norm must be None or 'slaney', got {norm!r}")
    fft_freqs = np.linspace(0.0, sample_rate / 2.0, n_fft // 2 + 1)
    corners = mel_to_hz(np.linspace(hz_to_mel(fmin, scale), hz_to_mel(fmax, scale),
                                    n_mels + 2), scale)
    left, center, right = corners[:-2, None], corners[1:-1, None], corners[2:, None]
    rising = (fft_freqs[None, :] - left) / (center - left)
    falling = (right - fft_freqs[None, :]) / (right - center)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    if norm == "slaney":
        weights *= 2.0 / (right - left)
    return torch.from_numpy(weights.astype(np.float32))


def log_mel_spectrogram(wave: Any, sample_rate: int, n_fft: int = 400, hop_length: int = 160,
                        n_mels: int = 64, fmin: float = 0.0, fmax: float | None = None,
                        scale: str = "htk", norm: str | None = None,
                        eps: float = 1e-6, filterbank: torch.Tensor | None = None
                        ) -> torch.Tensor:
    """``log(mel_filterbank @ |STFT|^2 + eps)`` as ``[n_mels, frames]``.

    Hann-windowed ``torch.stft`` with ``center=True`` (frames = ``1 + len // hop``);
    inputs shorter than ``n_fft`` are zero-padded to ``n_fft`` first.

    Args:
        wave: Mono waveform ``[samples]`` (array or tensor).
        sample_rate: Sampling rate (Hz).
        n_fft: FFT/window size (400 = 25 ms at 16 kHz).
        hop_length: Step between frames (160 = 10 ms at 16 kHz).
        n_mels, fmin, fmax, scale, norm: See :func:`mel_filterbank`.
        eps: Floor inside the log (silence -> ``log(eps)``, not ``-inf``).
        filterbank: A precomputed :func:`mel_filterbank` (reused by the encoder).

    Examples:
        >>> log_mel_spectrogram(np.zeros(1600), 16000, n_mels=8).shape
        torch.Size([8, 11])
    """
    x = torch.as_tensor(np.asarray(wave, dtype=np.float32) if not torch.is_tensor(wave)
                        else wave, dtype=torch.float32)
    if x.dim() != 1:
        raise InputError(f"expected a mono waveform [samples], got shape {tuple(x.shape)}")
    if x.numel() == 0:
        raise InputError("empty audio: no samples to transform")
    if not torch.isfinite(x).all():
        raise InputError("audio contains NaN or infinite samples")
    if x.numel() < n_fft:  # reflect padding in stft needs more than n_fft // 2 samples
        x = F.pad(x, (0, n_fft - x.numel()))
    spec = torch.stft(x, n_fft=n_fft, hop_length=hop_length,
                      window=torch.hann_window(n_fft), center=True, return_complex=True)
    power = spec.real.square() + spec.imag.square()
    fb = filterbank if filterbank is not None else mel_filterbank(
        n_mels, n_fft, sample_rate, fmin, fmax, scale, norm)
    return torch.log(fb @ power + eps)


@ENCODERS.register("audio_cnn")
class AudioCNNEncoder(Encoder):
    """2D CNN over log-mel spectrograms with masked pooling over time.

    Conv-ChannelNorm-GELU-maxpool stages halve frequency and time; the result is
    averaged over frequency, then mean- and max-pooled over the real frames. Padding is
    masked out of every pooling step, so a clip embeds the same alone or in a batch.

    Args:
        dim: Embedding size.
        sample_rate: Rate every input is resampled to (Hz).
        n_mels, n_fft, hop_length, fmin, fmax, scale: Spectrogram settings.
        duration: Crop/zero-pad waveforms to this many seconds; ``None`` pads per batch.
        width: Channels of the first stage (doubling per stage).
        n_stages: Conv stages (each halves the spectrogram).
        cache_dir: Optional embedding cache folder.

    Shapes:
        ``forward``: ``[b, 1, n_mels, frames]`` (+ mask ``[b, frames]``) -> ``[b, dim]``.
    """

    name = "audio_cnn"

    def __init__(self, dim: int = 128, sample_rate: int = 16000, n_mels: int = 64,
                 n_fft: int = 400, hop_length: int = 160, fmin: float = 0.0,
                 fmax: float | None = None, scale: str = "htk", duration: float | None = None,
                 width: int = 16, n_stages: int = 4,
                 cache_dir: str | os.PathLike | None = None):
        super().__init__(dim=dim, pretrained=False, cache_dir=cache_dir)
        if n_stages <= 0 or width <= 0 or hop_length <= 0:
            raise InputError(f"n_stages, width and hop_length must be positive, got "
                             f"{n_stages}, {width}, {hop_length}")
        if n_mels < 2 ** n_stages:
            raise InputError(f"n_mels={n_mels} too small for {n_stages} halving stages "
                             f"(need >= {2 ** n_stages})")
        self.sample_rate, self.n_mels, self.n_fft = int(sample_rate), n_mels, n_fft
        self.hop_length, self.fmin, self.fmax, self.scale = hop_length, fmin, fmax, scale
        self.duration, self.width, self.n_stages = duration, width, n_stages
        self.register_buffer("filterbank", mel_filterbank(n_mels, n_fft, sample_rate, fmin,
                                                          fmax, scale), persistent=False)
        chans = [1] + [width * 2 ** i for i in range(n_stages)]
        self.stages = nn.ModuleList(
            nn.Sequential(nn.Conv2d(chans[i], chans[i + 1], 3, padding=1),
                          ChannelNorm(chans[i + 1]), nn.GELU())
            for i in range(n_stages))
        self.head = nn.Linear(2 * chans[-1], dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-initialises every layer (PyTorch defaults)."""
        for module in self.modules():
            if module is not self and hasattr(module, "reset_parameters"):
                module.reset_parameters()

    def config(self) -> dict[str, Any]:
        return {"dim": self.dim, "sample_rate": self.sample_rate, "n_mels": self.n_mels,
                "n_fft": self.n_fft, "hop_length": self.hop_length, "fmin": self.fmin,
                "fmax": self.fmax, "scale": self.scale, "duration": self.duration,
                "width": self.width, "n_stages": self.n_stages}

    def prepare(self, item: Any) -> torch.Tensor:
        """Path, ``(wave, sr)`` tuple or waveform at ``sample_rate`` -> normalised log-mel
        ``[1, n_mels, frames]``."""
        if isinstance(item, (str, Path, os.PathLike)):
            wave, _ = read_audio(item, sample_rate=self.sample_rate)
        else:
            sr = self.sample_rate
            if isinstance(item, tuple) and len(item) == 2:
                item, sr = item
            wave = np.asarray(item.detach().cpu() if torch.is_tensor(item) else item,
                              dtype=np.float32)
            if wave.ndim == 2:  # [channels, samples] -> mono
                wave = wave.mean(axis=0)
            if wave.size == 0:
                raise InputError(f"{self.name}: empty audio: no samples")
            if sr != self.sample_rate:
                wave = resample_signal(wave, sr, self.sample_rate)
        if self.duration is not None:
            n = int(round(self.duration * self.sample_rate))
            wave = np.pad(wave[:n], (0, max(0, n - len(wave))))
        spec = log_mel_spectrogram(wave, self.sample_rate, self.n_fft, self.hop_length,
                                   filterbank=self.filterbank)
        spec = (spec - spec.mean()) / spec.std().clamp_min(1e-3)  # per-recording loudness
        return spec[None]

    def collate(self, prepared: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Pads to the most frames: ``([b, 1, n_mels, frames], mask [b, frames])``."""
        return pad_with_mask(prepared, dim=-1)

    def forward(self, batch: Any, mask: torch.Tensor | None = None) -> torch.Tensor:
        """``[b, 1, n_mels, frames]`` or ``(x, mask)`` -> ``[b, dim]``."""
        if isinstance(batch, (tuple, list)):
            batch, mask = batch
        x = batch
        if x.dim() != 4 or x.shape[1] != 1 or x.shape[2] != self.n_mels:
            raise InputError(f"{self.name}: expected [b, 1, {self.n_mels}, frames], got "
                             f"{tuple(x.shape)}")
        m = (torch.ones(x.shape[0], x.shape[-1], device=x.device) if mask is None
             else mask.float())[:, None, None, :]
        h = x
        for stage in self.stages:
            # padding -> -inf so max pooling only sees real frames; ceil_mode keeps the
            # last odd frame, exactly as an unpadded clip would
            h = stage(h).masked_fill(m == 0, float("-inf"))
            h = F.max_pool2d(h, 2, ceil_mode=True)
            m = F.max_pool2d(m, (1, 2), ceil_mode=True)
            h = h.masked_fill(m == 0, 0.0)
        h = h.mean(dim=2)  # over frequency -> [b, c, t]
        m = m[:, 0]  # [b, 1, t]
        mean = (h * m).sum(-1) / m.sum(-1).clamp_min(1.0)
        peak = h.masked_fill(m == 0, float("-inf")).amax(-1)
        return self.head(torch.cat([mean, peak], dim=-1))

    def extra_repr(self) -> str:
        return (f"dim={self.dim}, sample_rate={self.sample_rate}, n_mels={self.n_mels}, "
                f"pretrained={self.pretrained}")
