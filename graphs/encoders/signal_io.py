"""Reading and shaping physiological signals: WFDB, DICOM waveforms and irregular vitals.

Dense waveforms (ECG, EEG, PPG) come back as a :class:`SignalRecord` holding a float32
array ``[channels, samples]``; :func:`resample_signal`, :func:`bandpass`, :func:`zscore`
and :func:`fixed_length` prepare them for a network. Irregularly sampled vital signs
(chart events) go through :func:`to_grid`, which builds the GRU-D inputs
(values, mask, time since last observation) on a regular grid.

Examples:
    >>> x = np.vstack([np.arange(8.0), np.ones(8)])
    >>> y, mask = fixed_length(zscore(x), 10)
    >>> y.shape, int(mask.sum())
    ((2, 10), 8)
    >>> resample_signal(x, fs_in=100, fs_out=50).shape
    (2, 4)
"""

from __future__ import annotations

import hashlib
import logging
import os
import warnings
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from scipy import signal as sps

from graphs.encoders import dicom_io
from ontologies.errors import DataNotFoundError, InputError, ParseError

__all__ = [
    "SignalRecord",
    "GridSeries",
    "read_wfdb",
    "read_dicom_waveform",
    "read_signal",
    "resample_signal",
    "bandpass",
    "zscore",
    "fixed_length",
    "to_grid",
]

log = logging.getLogger(__name__)


@dataclass
class SignalRecord:
    """A multichannel waveform.

    Attributes:
        signal: float32 ``[channels, samples]`` in physical units (NaN where missing).
        fs: Sampling frequency in Hz.
        channels: Channel (lead) names, one per row of ``signal``.
        units: Physical unit per channel (e.g. ``"mV"``, ``"uV"``).
        nan_counts: Missing samples per channel (NaN in ``signal``).
        path: The file it came from, if any.
    """

    signal: np.ndarray
    fs: float
    channels: list[str]
    units: list[str]
    nan_counts: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    path: str | None = None

    def __repr__(self) -> str:  # also the embedding-cache key: must reflect the data
        return (f"SignalRecord(shape={self.signal.shape}, fs={self.fs}, "
                f"channels={self.channels}, units={self.units}, "
                f"sha256={_digest(self.signal)}, path={self.path!r})")

    def __post_init__(self) -> None:
        self.signal = np.asarray(self.signal, dtype=np.float32)
        if self.signal.ndim != 2:
            raise InputError(f"signal must be [channels, samples], got shape "
                             f"{self.signal.shape}")
        self.nan_counts = np.isnan(self.signal).sum(axis=1)
        if self.nan_counts.any():
            bad = {c: int(n) for c, n in zip(self.channels, self.nan_counts, strict=False)
                   if n}
            log.warning("%s: missing (NaN) samples per channel: %s", self.path or "signal", bad)


def _wfdb_base(record_path: str | os.PathLike) -> Path:
    """``rec``, ``rec.hea`` and ``rec.dat`` all name the record ``rec``."""
    path = Path(record_path)
    if path.suffix.lower() in {".hea", ".dat", ".atr", ".mat"}:
        path = path.with_suffix("")
    return path


def read_wfdb(record_path: str | os.PathLike) -> SignalRecord:
    """Reads a WFDB record (PhysioNet format: ``.hea`` header plus signal files).

    Args:
        record_path: Record name with or without the ``.hea``/``.dat`` extension.

    Returns:
        A :class:`SignalRecord` with ``signal`` ``[channels, samples]`` float32.

    Raises:
        DataNotFoundError: The header or a signal file is missing.
        ParseError: The header or signal file is corrupt.

    Examples:
        >>> import tempfile, wfdb
        >>> d = tempfile.mkdtemp()
        >>> x = np.column_stack([np.linspace(-1, 1, 50), np.zeros(50)])
        >>> wfdb.wrsamp("r1", fs=100, units=["mV", "mV"], sig_name=["I", "II"],
        ...             p_signal=x, fmt=["16", "16"], write_dir=d)
        >>> rec = read_wfdb(os.path.join(d, "r1.hea"))
        >>> rec.signal.shape, rec.fs, rec.channels, rec.units
        ((2, 50), 100.0, ['I', 'II'], ['mV', 'mV'])
    """
    import wfdb

    base = _wfdb_base(record_path)
    header = base.with_name(base.name + ".hea")
    if not header.is_file():
        raise DataNotFoundError(f"WFDB header {header} not found (expected <record>.hea "
                                "next to its signal files)")
    try:
        rec = wfdb.rdrecord(str(base))
    except FileNotFoundError as err:
        raise DataNotFoundError(f"WFDB record {base}: signal file missing: {err}") from err
    except (ValueError, IndexError, KeyError, TypeError, OSError) as err:
        raise ParseError(f"corrupt WFDB record ({type(err).__name__}: {err}); expected a "
                         "valid header and matching signal file", path=header) from err
    if rec.p_signal is None or rec.p_signal.ndim != 2 or rec.p_signal.shape[0] == 0:
        raise ParseError("WFDB record holds no samples", path=header)
    return SignalRecord(signal=rec.p_signal.T, fs=_sampling_rate(rec.fs, header),
                        channels=list(rec.sig_name), units=list(rec.units), path=str(header))


def _sampling_rate(value: Any, path: Path) -> float:
    """The file's sampling frequency; 0, negative, NaN or text cannot time a signal."""
    try:
        fs = float(value)
    except (TypeError, ValueError) as err:
        raise ParseError(f"sampling frequency {value!r} is not a number", path=path) from err
    if not (np.isfinite(fs) and fs > 0):
        raise ParseError(f"sampling frequency {fs!r} Hz; expected a finite value > 0",
                         path=path)
    return fs


def _code(item: Any, seq: str, attr: str, default: str) -> str:
    """``attr`` (CodeMeaning/CodeValue) of the first item of code sequence ``seq``."""
    seq_value = getattr(item, seq, None)
    if seq_value:
        first = seq_value[0]
        return str(getattr(first, attr, None) or getattr(first, "CodeValue", default))
    return default


def read_dicom_waveform(path: str | os.PathLike, group: int = 0) -> SignalRecord:
    """Reads one multiplex group of a DICOM waveform (e.g. a 12-lead ECG).

    Args:
        path: A DICOM file with a ``WaveformSequence``.
        group: Index of the multiplex group to read.

    Returns:
        A :class:`SignalRecord`; channel names come from ``ChannelSourceSequence`` (or
        ``ChannelLabel``), units from ``ChannelSensitivityUnitsSequence``.

    Raises:
        DataNotFoundError: ``path`` does not exist.
        ParseError: Not DICOM, no waveform, or ``group`` out of range.

    Note: ``waveform_array`` applies channel sensitivity and baseline, so values are in
    the listed units.

    Examples:
        >>> from pydicom.data import get_testdata_file
        >>> rec = read_dicom_waveform(get_testdata_file("waveform_ecg.dcm"))
        >>> rec.signal.shape, rec.fs, rec.channels[:2], rec.units[0]
        ((12, 10000), 1000.0, ['Lead I (Einthoven)', 'Lead II'], 'uV')
    """
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"DICOM file {path} not found")
    ds = dicom_io.dcmread(path)
    groups = dicom_io.element(ds, "WaveformSequence", path)
    if not groups:
        raise ParseError("DICOM file has no WaveformSequence (expected a waveform object "
                         "such as a 12-lead ECG)", path=path)
    if not 0 <= group < len(groups):
        raise ParseError(f"waveform group {group} out of range; file has {len(groups)}",
                         path=path)
    try:
        data = ds.waveform_array(group)
        mg = groups[group]
        defs = list(getattr(mg, "ChannelDefinitionSequence", []))
        names = [_code(c, "ChannelSourceSequence", "CodeMeaning",
                       str(getattr(c, "ChannelLabel", i))) for i, c in enumerate(defs)]
        # units as UCUM code values ("uV"), the short form WFDB also uses
        units = [_code(c, "ChannelSensitivityUnitsSequence", "CodeValue", "") for c in defs]
        fs = dicom_io.number(mg, "SamplingFrequency", path)
    except ParseError:  # already names the file and tag (and is a ValueError)
        raise
    except dicom_io.DICOM_ERRORS as err:
        raise ParseError(f"corrupt waveform data in group {group} ({type(err).__name__}: "
                         f"{err})", path=path) from err
    n_ch = data.shape[1]
    names = names or [str(i) for i in range(n_ch)]
    units = units or [""] * n_ch
    if len(names) != n_ch:
        raise ParseError(f"{len(names)} channel definitions for {n_ch} channels", path=path)
    return SignalRecord(signal=data.T, fs=_sampling_rate(fs, path), channels=names,
                        units=units, path=str(path))


def read_signal(path: str | os.PathLike) -> SignalRecord:
    """Reads a waveform file by kind: ``.dcm`` -> DICOM, otherwise a WFDB record.

    Examples:
        >>> from pydicom.data import get_testdata_file
        >>> read_signal(get_testdata_file("waveform_ecg.dcm")).signal.shape
        (12, 10000)
    """
    p = Path(path)
    if p.suffix.lower() in {".dcm", ".dicom"}:
        return read_dicom_waveform(p)
    return read_wfdb(p)


def _as_2d(x: Any) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float32)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[-1] == 0:
        raise InputError(f"expected a signal [channels, samples] with samples > 0, got "
                         f"shape {arr.shape}")
    return arr


def resample_signal(x: Any, fs_in: float, fs_out: float) -> np.ndarray:
    """Resamples ``[channels, samples]`` (or ``[samples]``) by polyphase filtering.

    Args:
        x: Signal; resampled along the last axis.
        fs_in: Current sampling rate (Hz).
        fs_out: Target sampling rate (Hz); the ratio is approximated by a fraction with
            denominator <= 1000.

    Returns:
        float32 array with ``round(samples * fs_out / fs_in)`` samples.

    Examples:
        >>> resample_signal(np.ones((1, 500)), 500, 100).shape
        (1, 100)
    """
    if not (fs_in > 0 and fs_out > 0):
        raise InputError(f"sampling rates must be positive, got fs_in={fs_in}, fs_out={fs_out}")
    arr = np.asarray(x, dtype=np.float32)
    if arr.shape[-1] == 0:
        raise InputError("cannot resample an empty signal")
    if fs_in == fs_out:
        return arr.copy()
    ratio = Fraction(float(fs_out) / float(fs_in)).limit_denominator(1000)
    return sps.resample_poly(arr, ratio.numerator, ratio.denominator, axis=-1).astype(np.float32)


def bandpass(x: Any, fs: float, low: float | None = 0.5, high: float | None = 40.0,
             order: int = 4) -> np.ndarray:
    """Zero-phase Butterworth filter along the last axis (``low``/``high`` may be ``None``).

    Args:
        x: Signal ``[..., samples]``.
        fs: Sampling rate (Hz).
        low: High-pass corner in Hz, or ``None`` for a low-pass filter only.
        high: Low-pass corner in Hz, or ``None`` for a high-pass filter only.
        order: Filter order (doubled by forward-backward filtering).

    Examples:
        >>> t = np.arange(5000) / 500  # 10 s: a 1 Hz high-pass needs seconds to settle
        >>> x = np.sin(2 * np.pi * 5 * t) + np.sin(2 * np.pi * 100 * t)
        >>> y = bandpass(x, 500, low=1, high=20)
        >>> bool(np.abs(y - np.sin(2 * np.pi * 5 * t))[1000:-1000].max() < 0.01)
        True
    """
    nyq = fs / 2.0
    if low is None and high is None:
        raise InputError("bandpass needs low and/or high cut-off")
    if (low is not None and not 0 < low < nyq) or (high is not None and not 0 < high < nyq) \
            or (low is not None and high is not None and low >= high):
        raise InputError(f"cut-offs must satisfy 0 < low < high < fs/2={nyq}, got "
                         f"low={low}, high={high}")
    if low is not None and high is not None:
        sos = sps.butter(order, [low, high], btype="bandpass", fs=fs, output="sos")
    elif low is not None:
        sos = sps.butter(order, low, btype="highpass", fs=fs, output="sos")
    else:
        sos = sps.butter(order, high, btype="lowpass", fs=fs, output="sos")
    arr = np.asarray(x, dtype=np.float64)
    padlen = 3 * (2 * len(sos) + 1)
    if arr.shape[-1] <= padlen:
        raise InputError(f"signal of {arr.shape[-1]} samples too short for a filter of order "
                         f"{order} (needs > {padlen})")
    return sps.sosfiltfilt(sos, arr, axis=-1).astype(np.float32)


def zscore(x: Any, eps: float = 1e-6) -> np.ndarray:
    """Per-channel z-normalisation along the last axis, ignoring NaNs.

    A flat channel (std < ``eps``) becomes zeros rather than exploding.

    Examples:
        >>> zscore(np.array([[1.0, 3.0], [5.0, 5.0]]))
        array([[-1.,  1.],
               [ 0.,  0.]], dtype=float32)
    """
    arr = np.asarray(x, dtype=np.float32)
    if arr.shape[-1] == 0:
        raise InputError("cannot normalise an empty signal")
    with warnings.catch_warnings():  # an all-NaN channel warns; handled below
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(arr, axis=-1, keepdims=True)
        std = np.nanstd(arr, axis=-1, keepdims=True)
    mean = np.nan_to_num(mean)
    std = np.where(np.isnan(std) | (std < eps), 1.0, std)
    return ((arr - mean) / std).astype(np.float32)


def fixed_length(x: Any, n: int, align: str = "start") -> tuple[np.ndarray, np.ndarray]:
    """Crops or zero-pads ``[channels, samples]`` to exactly ``n`` samples.

    Args:
        x: Signal ``[channels, samples]`` (or ``[samples]``).
        n: Target length.
        align: ``"start"`` keeps the first ``n`` samples / pads at the end; ``"center"``
            crops the middle / pads both sides equally.

    Returns:
        ``(y, mask)``: ``y`` float32 ``[channels, n]``; ``mask`` bool ``[n]``, True where
        ``y`` holds a real sample.

    Examples:
        >>> y, m = fixed_length(np.arange(3.0), 5)
        >>> y, m.astype(int)
        (array([[0., 1., 2., 0., 0.]], dtype=float32), array([1, 1, 1, 0, 0]))
        >>> fixed_length(np.arange(5.0), 3, align="center")[0]
        array([[1., 2., 3.]], dtype=float32)
    """
    if int(n) <= 0:
        raise InputError(f"target length must be positive, got {n}")
    if align not in ("start", "center"):
        raise InputError(f"align must be 'start' or 'center', got {align!r}")
    arr = _as_2d(x)
    length = arr.shape[1]
    mask = np.zeros(n, dtype=bool)
    if length >= n:
        off = (length - n) // 2 if align == "center" else 0
        mask[:] = True
        return np.ascontiguousarray(arr[:, off:off + n]), mask
    out = np.zeros((arr.shape[0], n), dtype=np.float32)
    off = (n - length) // 2 if align == "center" else 0
    out[:, off:off + length] = arr
    mask[off:off + length] = True
    return out, mask


class GridSeries(NamedTuple):
    """GRU-D inputs on a regular grid (see :func:`to_grid`)."""

    values: np.ndarray  #: float32 [T, C], forward-filled (or zero) where unobserved
    mask: np.ndarray  #: bool [T, C], True where a measurement fell in the bin
    delta: np.ndarray  #: float32 [T, C], time since the last observation before the bin
    times: np.ndarray  #: float64 [T], start of each bin (same unit as ``step``)
    channels: list[str]  #: channel names, the column order of the arrays

    def __repr__(self) -> str:  # also the embedding-cache key: must reflect the data
        return (f"GridSeries(shape={self.values.shape}, channels={self.channels}, "
                f"sha256={_digest(self.values, self.mask, self.delta, self.times)})")


def _digest(*arrays: np.ndarray) -> str:
    """Short content hash, so reprs (and cache keys) of equal-looking arrays differ."""
    h = hashlib.sha256()
    for arr in arrays:
        arr = np.ascontiguousarray(arr)
        h.update(f"{arr.dtype}{arr.shape}".encode())
        h.update(arr.tobytes())
    return h.hexdigest()[:16]


def to_grid(times: Any, values: Any, channels: Any, step: float, horizon: float,
            channel_names: list[str] | None = None, fill: str = "ffill",
            start: Any = None, fill_value: float = 0.0) -> GridSeries:
    """Bins an irregular long-format series (time, value, channel) onto a regular grid.

    Bin ``t`` covers ``[start + t*step, start + (t+1)*step)``; ``T = ceil(horizon/step)``.
    Several observations in one bin: the latest wins. Observations outside
    ``[start, start + horizon)`` or of channels not in ``channel_names`` are dropped (and
    counted in a log message). ``delta`` follows GRU-D (Che et al. 2018): 0 in the first
    bin, then ``step`` after an observed bin, accumulating over unobserved bins, i.e.
    ``delta[t] = step * (t - last observed bin before t)`` (or ``step * t`` if none).

    Args:
        times: Observation times: numbers (any unit, e.g. hours since admission) or
            datetimes (then converted to hours since ``start``; give ``step``/``horizon``
            in hours).
        values: Measured values (NaN values are treated as not observed).
        channels: Channel name per observation (e.g. ``"heart_rate"``).
        step: Bin width (> 0).
        horizon: Length of the grid from ``start`` (> 0).
        channel_names: Output channel order; default the sorted distinct ``channels``.
        fill: ``"ffill"`` carries the last observation forward (``fill_value`` before the
            first one); ``"zero"`` puts ``fill_value`` in every unobserved cell.
        start: Grid origin; default 0 for numbers, the earliest time for datetimes.
        fill_value: Value for cells with nothing to carry forward.

    Returns:
        A :class:`GridSeries` ``(values, mask, delta, times, channels)``.

    Examples:
        >>> g = to_grid([0.2, 2.5, 0.7], [80, 90, 12], ["hr", "hr", "rr"], step=1, horizon=4)
        >>> g.channels
        ['hr', 'rr']
        >>> g.values
        array([[80., 12.],
               [80., 12.],
               [90., 12.],
               [90., 12.]], dtype=float32)
        >>> g.mask.astype(int).T
        array([[1, 0, 1, 0],
               [1, 0, 0, 0]])
        >>> g.delta.T
        array([[0., 1., 2., 1.],
               [0., 1., 2., 3.]], dtype=float32)
    """
    if not step > 0 or not horizon > 0:
        raise InputError(f"step and horizon must be positive, got step={step}, "
                         f"horizon={horizon}")
    if fill not in ("ffill", "zero"):
        raise InputError(f"fill must be 'ffill' or 'zero', got {fill!r}")
    times, values, channels = np.asarray(times), np.asarray(values), np.asarray(channels)
    if not len(times) == len(values) == len(channels):
        raise InputError(f"times, values and channels differ in length: {len(times)}, "
                         f"{len(values)}, {len(channels)}")
    frame = pd.DataFrame({"t": times, "v": values, "c": channels})
    t = frame["t"]
    if pd.api.types.is_datetime64_any_dtype(t):
        origin = t.min() if start is None else pd.Timestamp(start)
        t_num = (t - origin) / pd.Timedelta(hours=1)
    else:
        try:
            t_num = pd.to_numeric(t) - (0.0 if start is None else float(start))
        except (ValueError, TypeError) as err:
            raise InputError(f"times must be numbers or datetimes ({err})") from err
    v = pd.to_numeric(frame["v"], errors="coerce")
    names = sorted(frame["c"].astype(str).unique()) if channel_names is None \
        else [str(c) for c in channel_names]
    if not names:
        raise InputError("to_grid needs at least one channel")
    n_t = int(np.ceil(horizon / step - 1e-9))
    col = pd.Index(names).get_indexer(frame["c"].astype(str))
    row = np.floor(t_num.to_numpy(dtype=np.float64) / step).astype(np.int64)
    keep = (col >= 0) & (row >= 0) & (row < n_t) & v.notna().to_numpy() & np.isfinite(
        t_num.to_numpy(dtype=np.float64))
    if (~keep).any():
        log.info("to_grid dropped %d of %d observations (outside horizon, unknown channel "
                 "or missing value)", int((~keep).sum()), len(keep))
    order = np.argsort(t_num.to_numpy()[keep], kind="stable")
    r, c, val = row[keep][order], col[keep][order], v.to_numpy(dtype=np.float64)[keep][order]
    n_c = len(names)
    raw = np.full((n_t, n_c), np.nan, dtype=np.float64)
    raw[r, c] = val  # later (sorted) observations overwrite earlier ones: latest wins
    mask = np.zeros((n_t, n_c), dtype=bool)
    mask[r, c] = True
    steps = np.arange(n_t)[:, None]
    seen = np.where(mask, steps, -1)
    last_incl = np.maximum.accumulate(seen, axis=0)  # last observed bin <= t
    if fill == "ffill":
        carried = np.take_along_axis(raw, np.clip(last_incl, 0, None), axis=0)
        out = np.where(last_incl >= 0, carried, fill_value)
    else:
        out = np.where(mask, raw, fill_value)
    last_before = np.vstack([np.full((1, n_c), -1), last_incl[:-1]])  # last observed < t
    delta = step * (steps - np.clip(last_before, 0, None))
    return GridSeries(values=out.astype(np.float32), mask=mask,
                      delta=delta.astype(np.float32),
                      times=np.arange(n_t, dtype=np.float64) * step, channels=names)
