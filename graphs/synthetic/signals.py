"""ECG-like signals: ``render_signals(cohort, ...) -> float32 [n, leads, fs * seconds]``.

Each beat is a sum of Gaussian P, Q, R, S and T waves placed at the beat time; beats
follow RR intervals. Limb leads I, II, III are projections of one cardiac vector on the
frontal axes 0, 60 and 120 degrees (so Einthoven's law III = II - I holds before noise).
Planted signs:

=============== ===============================================================
af              irregularly irregular RR intervals, no P wave, fibrillatory ripple
ihd             ST-segment depression after the QRS, flattened T wave
hf              tachycardia and low QRS voltage
htn             taller R waves (left-ventricular-hypertrophy-like), weak
=============== ===============================================================

Other conditions leave the ECG normal. Nuisance variation: per-patient heart rate,
electrical axis and R amplitude; per-recording sinus arrhythmia, white noise and
baseline wander. Signs scale with :func:`~graphs.synthetic.disease.intensity`, so
paroxysmal AF shows a visit before it is diagnosed.

Examples:
    >>> from graphs.synthetic.cohort import generate_cohort
    >>> c = generate_cohort(10, seed=2, note_text=False)
    >>> x = render_signals(c, c.patient_ids[:2], leads=3)
    >>> x.shape, x.dtype
    ((2, 3, 1000), dtype('float32'))
    >>> render_signals(c, c.patient_ids[:1], leads=1, fs=250, seconds=4).shape
    (1, 1, 1000)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from graphs.synthetic import _rng
from graphs.synthetic.access import select
from graphs.synthetic.catalog import CONDITION_KEYS
from graphs.synthetic.disease import intensity
from ontologies.errors import InputError

if TYPE_CHECKING:  # pragma: no cover
    from graphs.synthetic.cohort import SyntheticCohort

__all__ = ["render_signals", "LEAD_NAMES"]

_C = {k: i for i, k in enumerate(CONDITION_KEYS)}
LEAD_NAMES = ("I", "II", "III")
_LEAD_ANGLES = np.deg2rad([0.0, 60.0, 120.0])


def render_signals(cohort: SyntheticCohort, patient_ids: str | Sequence[str] | None = None,
                   visits: int | Sequence[int] | Sequence[str] | None = None,
                   leads: int = 3, fs: int = 100, seconds: float = 10.0) -> np.ndarray:
    """Renders ECG-like recordings of the selected (patient, visit) pairs.

    Args:
        cohort: A :class:`~graphs.synthetic.cohort.SyntheticCohort`.
        patient_ids: Patients (``None``: all); see :func:`graphs.synthetic.access.select`.
        visits: Visits (``None``: each patient's last).
        leads: 3 (I, II, III) or 1 (lead II).
        fs: Sampling rate in Hz (>= 50).
        seconds: Duration (>= 2).

    Returns:
        ``float32 [n, leads, round(fs * seconds)]`` in millivolt-like units.
    """
    if leads not in (1, 3):
        raise InputError(f"leads={leads!r}: expected 1 (lead II) or 3 (I, II, III)")
    if not isinstance(fs, (int, np.integer)) or fs < 50:
        raise InputError(f"fs={fs!r}: expected an integer sampling rate >= 50 Hz")
    if not seconds >= 2:
        raise InputError(f"seconds={seconds!r}: expected a duration of at least 2 s")
    pidx, vidx = select(cohort, patient_ids, visits)
    length = int(round(fs * seconds))
    out = np.empty((len(pidx), leads, length), np.float32)
    for lo in range(0, len(pidx), 256):  # [256, length] temporaries stay small
        sl = slice(lo, lo + 256)
        out[sl] = _render(cohort, pidx[sl], vidx[sl], leads, fs, length)
    return out


def _render(cohort, pidx, vidx, leads, fs, length):
    n = len(pidx)
    lvl = intensity(cohort.state, pidx, vidx)
    af, ihd, hf, htn = (lvl[:, _C[k]] for k in ("af", "ihd", "hf", "htn"))
    pat = _rng.uniform(_rng.keys(cohort.seed, "ecg-patient", pidx), 4)
    u = _rng.uniform(_rng.keys(cohort.seed, "ecg", pidx, vidx), 8)
    t = np.arange(length) / fs
    beats = int(np.ceil(length / fs / 0.28)) + 3  # enough beats at the shortest RR

    # per-patient resting rate and ST level (a normal variant), per-visit variation
    hr = 60 + 25 * pat[:, 0] + 8 * (u[:, 7] - 0.5) + 18 * hf + 10 * af
    rr_mean = 60.0 / hr
    # sinus arrhythmia 3 %, AF up to 20 %: "irregularly irregular"
    jitter = _rng.normal(_rng.keys(cohort.seed, "ecg-rr", pidx, vidx), beats)
    rr = np.maximum(rr_mean[:, None] * (1 + (0.03 + 0.17 * af)[:, None] * jitter), 0.28)
    times = np.cumsum(rr, axis=1) - (u[:, 0] * rr_mean)[:, None] - rr[:, :1]
    r_amp = (0.8 + 0.4 * pat[:, 1]) * (1 - 0.35 * hf) * (1 + 0.35 * htn)
    st = 0.08 * (pat[:, 3] - 0.5) - 0.11 * ihd
    waves = (  # (amplitude [n], offset from R in s (None: T wave, depends on RR), width s)
        (0.12 * (1 - af), -0.16, 0.022),        # P (absent in AF)
        (-0.08 * r_amp, -0.025, 0.008),         # Q
        (r_amp, 0.0, 0.010),                    # R
        (-0.2 * r_amp, 0.03, 0.009),            # S
        (st, 0.11, 0.04),                       # ST segment shift (depressed in IHD)
        (0.28 * (1 - 0.5 * ihd), None, 0.045),  # T (QT shortens with RR)
    )
    # only the upcoming beat and the two before it reach any instant (RR >= 0.28 s),
    # so each sample sums 3 beats instead of all of them
    nxt = np.stack([np.searchsorted(row, t) for row in times])  # [n, L]
    sig = np.zeros((n, length))
    for back in (0, 1, 2):
        k = nxt - back
        ok = (k >= 0) & (k < beats)
        k = np.clip(k, 0, beats - 1)
        d = t[None, :] - np.take_along_axis(times, k, axis=1)
        t_off = 0.26 * np.sqrt(np.take_along_axis(rr, k, axis=1))
        for amp, offset, width in waves:
            off = t_off if offset is None else offset
            sig += ok * amp[:, None] * np.exp(-0.5 * ((d - off) / width) ** 2)
    sig += (0.04 * af)[:, None] * np.sin(2 * np.pi * (5 + 2 * u[:, 1])[:, None] * t
                                          + 6.28 * u[:, 2][:, None])

    axis = np.deg2rad(30 + 45 * pat[:, 2])
    gains = np.cos(axis[:, None] - _LEAD_ANGLES[None, :])  # [n, 3]
    if leads == 1:
        gains = gains[:, 1:2]
    x = gains[:, :, None] * sig[:, None, :]
    wander_f = 0.1 + 0.3 * u[:, 3]
    wander = (0.03 + 0.17 * u[:, 4])[:, None, None] * np.sin(
        2 * np.pi * wander_f[:, None, None] * t + 6.28 * u[:, 5][:, None, None]
        + np.arange(x.shape[1])[None, :, None])
    noise = _rng.normal(_rng.keys(cohort.seed, "ecg-noise", pidx, vidx), x.shape[1] * length)
    sd = (0.015 + 0.025 * u[:, 6])[:, None, None]
    return (x + wander + sd * noise.reshape(x.shape)).astype(np.float32)
