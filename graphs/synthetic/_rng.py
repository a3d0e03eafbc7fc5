"""Counter-based random numbers: the same (seed, stream, patient, visit) always gives the
same draws, whatever else is rendered in the same batch.

The modality renderers must re-create any single observation without generating the
whole cohort, so they cannot share one sequential generator. Instead each observation
gets a 64-bit key hashed from its coordinates, and draw ``j`` of that observation is
``splitmix64(key + j)``: a pure function, vectorised over numpy ``uint64`` arrays.

Examples:
    >>> k = keys(0, "image", [0, 1, 1], [0, 0, 0])
    >>> u = uniform(k, 3)
    >>> u.shape, bool((u[1] == u[2]).all()), bool((u[0] == u[1]).all())
    ((3, 3), True, False)
    >>> bool(np.array_equal(uniform(keys(0, "image", [1], [0]), 3)[0], u[1]))
    True
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np

__all__ = ["keys", "uniform", "normal", "python_seeds"]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _mix(x: np.ndarray) -> np.ndarray:
    # splitmix64 finaliser; uint64 arithmetic wraps, which is the point
    with np.errstate(over="ignore"):
        x = x + _GOLDEN
        x = (x ^ (x >> np.uint64(30))) * _M1
        x = (x ^ (x >> np.uint64(27))) * _M2
        return x ^ (x >> np.uint64(31))


def keys(seed: int, stream: str, patients: Sequence[int] | np.ndarray,
         visits: Sequence[int] | np.ndarray | int = 0) -> np.ndarray:
    """One 64-bit key per (seed, stream, patient index, visit index).

    Args:
        seed: The cohort seed.
        stream: A name separating independent uses (``"image"``, ``"ecg"``, ...).
        patients: Patient row indices.
        visits: Visit indices (broadcast against ``patients``).

    Returns:
        ``uint64`` array shaped like ``patients``.
    """
    p = np.asarray(patients, dtype=np.int64).astype(np.uint64)
    v = np.broadcast_to(np.asarray(visits, dtype=np.int64), p.shape).astype(np.uint64)
    base = _mix(np.array([seed & 0xFFFFFFFFFFFFFFFF], dtype=np.uint64)
                ^ np.uint64(zlib.crc32(stream.encode())))
    with np.errstate(over="ignore"):
        return _mix(_mix(base ^ p) ^ (v * _GOLDEN))


def uniform(key: np.ndarray, count: int, offset: int = 0) -> np.ndarray:
    """``count`` uniform draws in [0, 1) per key: float64 ``[len(key), count]``.

    ``offset`` selects a later block of draws of the same key (for a second use).
    """
    with np.errstate(over="ignore"):
        j = np.arange(offset, offset + count, dtype=np.uint64)[None, :] * _GOLDEN
        bits = _mix(np.asarray(key, dtype=np.uint64)[:, None] ^ j)
    return (bits >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)


def normal(key: np.ndarray, count: int, offset: int = 0) -> np.ndarray:
    """``count`` standard-normal draws per key (Box-Muller), float64 ``[len(key), count]``."""
    u = uniform(key, 2 * count, offset=2 * offset)
    u1 = np.maximum(u[:, :count], 1e-300)
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u[:, count:])


def python_seeds(key: np.ndarray) -> list[int]:
    """Plain ints for ``random.Random`` (used by the text renderer)."""
    return [int(k) for k in np.asarray(key, dtype=np.uint64)]
