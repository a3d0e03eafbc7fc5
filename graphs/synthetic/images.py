"""Chest-X-ray-like images: ``render_images(cohort, ...) -> float32 [n, size, size]``.

A frontal radiograph in miniature (bright = dense): soft-tissue body, two dark lungs,
a bright mediastinum/spine band and cardiac silhouette, faint ribs. Planted signs:

=============== ===============================================================
pneumonia       focal lobar opacity (a soft blob) in one of five lobes
copd            hyperinflation: taller, wider, lower (flat diaphragm), darker lungs
hf              enlarged cardiac silhouette, perihilar haze, basal effusion
=============== ===============================================================

Everything else (diabetes, depression, asthma, ...) leaves the image normal. Nuisance
variation: per-patient anatomy (lung and heart size), per-image rotation (+-5 deg),
shift, scale, contrast, brightness and noise. Signs scale with the condition's
:func:`~graphs.synthetic.disease.intensity`, so HF and COPD are faintly visible a visit
or two before they are diagnosed.

Examples:
    >>> from graphs.synthetic.cohort import generate_cohort
    >>> c = generate_cohort(20, seed=1, note_text=False)
    >>> x = render_images(c, c.patient_ids[:3])
    >>> x.shape, x.dtype, bool(0 <= x.min() and x.max() <= 1)
    ((3, 64, 64), dtype('float32'), True)
    >>> bool((render_images(c, c.patient_ids[1:2]) == x[1:2]).all())  # batch-independent
    True
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

__all__ = ["render_images", "LOBES"]

_C = {k: i for i, k in enumerate(CONDITION_KEYS)}

#: Lobe centres in patient coordinates (x right of image, y down; the patient's right
#: lung is on the image's left, as on a real frontal film).
LOBES = {"RUL": (-0.38, -0.30), "RML": (-0.30, 0.08), "RLL": (-0.40, 0.32),
         "LUL": (0.38, -0.30), "LLL": (0.42, 0.32)}
_LOBE_XY = np.array(list(LOBES.values()))


def _ellipse(x, y, cx, cy, rx, ry, edge=0.035):
    # smooth (anti-aliased) inside-ness in [0, 1]
    r = np.sqrt(((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2)
    return 1.0 / (1.0 + np.exp(np.clip((r - 1.0) / edge, -50, 50)))


def render_images(cohort: SyntheticCohort, patient_ids: str | Sequence[str] | None = None,
                  visits: int | Sequence[int] | Sequence[str] | None = None,
                  size: int = 64) -> np.ndarray:
    """Renders chest-X-ray-like images of the selected (patient, visit) pairs.

    Args:
        cohort: A :class:`~graphs.synthetic.cohort.SyntheticCohort`.
        patient_ids: Patients (``None``: all); see :func:`graphs.synthetic.access.select`.
        visits: Visits (``None``: each patient's last); see ``select``.
        size: Image side in pixels (>= 16).

    Returns:
        ``float32 [n, size, size]`` in [0, 1]; the same (seed, patient, visit) always
        gives the same image.
    """
    if not isinstance(size, (int, np.integer)) or size < 16:
        raise InputError(f"size={size!r}: expected an integer >= 16")
    pidx, vidx = select(cohort, patient_ids, visits)
    out = np.empty((len(pidx), size, size), np.float32)
    for lo in range(0, len(pidx), 256):  # bounded memory: ~256 * size^2 floats per temp
        sl = slice(lo, lo + 256)
        out[sl] = _render(cohort, pidx[sl], vidx[sl], size)
    return out


def _render(cohort, pidx, vidx, size):
    n = len(pidx)
    lvl = intensity(cohort.state, pidx, vidx)
    copd, hf, pneu = (lvl[:, _C[k]][:, None, None] for k in ("copd", "hf", "pneumonia"))
    u = _rng.uniform(_rng.keys(cohort.seed, "image", pidx, vidx), 12)
    anat = _rng.uniform(_rng.keys(cohort.seed, "image-anatomy", pidx), 3)

    def col(a):
        return a[:, None, None]

    theta = np.deg2rad((u[:, 0] - 0.5) * 10)
    dx, dy = (u[:, 1] - 0.5) * 0.08, (u[:, 2] - 0.5) * 0.08
    scale = 0.95 + 0.1 * u[:, 3]
    grid = np.linspace(-1, 1, size)
    gy, gx = np.meshgrid(grid, grid, indexing="ij")
    # image -> patient coordinates (inverse of rotate-scale-shift)
    xs, ys = (gx[None] - col(dx)) / col(scale), (gy[None] - col(dy)) / col(scale)
    c, s = col(np.cos(theta)), col(np.sin(theta))
    x, y = c * xs + s * ys, -s * xs + c * ys

    lung_w = col(0.95 + 0.1 * anat[:, 0])
    heart_f = col(0.92 + 0.16 * anat[:, 1])
    body = _ellipse(x, y, 0.0, 0.05, 0.92 + 0.05 * col(anat[:, 2]), 1.15)
    img = 0.45 * body
    # lungs: COPD makes them bigger, lower and darker (hyperinflation, flat diaphragm)
    grow_x, grow_y, drop = 1 + 0.08 * copd, 1 + 0.2 * copd, 0.08 * copd
    lungs = np.maximum(
        _ellipse(x, y, -0.38, -0.02 + drop, 0.27 * lung_w * grow_x, 0.55 * grow_y),
        _ellipse(x, y, 0.38, -0.02 + drop, 0.25 * lung_w * grow_x, 0.52 * grow_y))
    ribs = 0.04 * (0.5 + 0.5 * np.sin(22 * y + 3 * x ** 2))
    img = img - lungs * (0.30 + 0.1 * copd - ribs)
    # HF: perihilar haze and basal effusion inside the lungs
    haze = 0.12 * hf * np.exp(-((np.abs(x) - 0.15) ** 2) / 0.1)
    effusion = 0.15 * hf / (1 + np.exp(-(y - 0.33) / 0.04))
    img = img + lungs * (haze + effusion)
    # pneumonia: a soft opacity centred in one lobe
    lobe = np.minimum((u[:, 7] * len(LOBES)).astype(int), len(LOBES) - 1)
    bx = _LOBE_XY[lobe, 0] + (u[:, 8] - 0.5) * 0.12
    by = _LOBE_XY[lobe, 1] + (u[:, 9] - 0.5) * 0.12
    rad = 0.13 + 0.07 * u[:, 10]
    blob = np.exp(-((x - col(bx)) ** 2 + (y - col(by)) ** 2) / (2 * col(rad) ** 2))
    img = img + 0.32 * pneu * blob * lungs
    # mediastinum/spine band and heart, composited over the lungs
    spine = _ellipse(x, y, 0.0, -0.05, 0.09, 0.95, edge=0.08)
    img = img * (1 - spine) + 0.55 * spine
    heart = _ellipse(x, y, 0.10, 0.32, 0.27 * heart_f * (1 + 0.45 * hf),
                     0.22 * heart_f * (1 + 0.15 * hf))
    img = img * (1 - heart) + 0.62 * heart
    contrast = col(0.85 + 0.3 * u[:, 4])
    bright = col((u[:, 5] - 0.5) * 0.1)
    noise = _rng.normal(_rng.keys(cohort.seed, "image-noise", pidx, vidx), size * size)
    img = contrast * img + bright + col(0.02 + 0.03 * u[:, 6]) * noise.reshape(n, size, size)
    return np.clip(img, 0, 1).astype(np.float32)
