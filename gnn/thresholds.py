"""Decision thresholds for multi-label predictions, chosen on validation data.

A fixed 0.5 cut-off means little for rare labels: a calibrated model rarely scores a
5%-prevalence condition above 0.5, so F1 at 0.5 is often 0 even for a good ranking.
:func:`f1_thresholds` picks, per label, the cut-off that maximises F1 on the validation
split; training then reports test F1 at those thresholds (never tuned on the test split).

Examples:
    >>> import numpy as np
    >>> y = np.array([[1, 0], [1, 0], [0, 1], [0, 0]])
    >>> s = np.array([[0.30, 0.1], [0.20, 0.2], [0.10, 0.9], [0.05, 0.3]])
    >>> f1_thresholds(y, s).round(3).tolist()  # label 0: top-2 rows; label 1: top row
    [0.15, 0.6]
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gnn.metrics import check_inputs
from ontologies.errors import InputError

__all__ = ["f1_thresholds"]


def f1_thresholds(y_true: Any, y_score: Any, default: float = 0.5) -> np.ndarray:
    """Per-label score cut-offs that maximise F1 (``predict score >= threshold``).

    Each threshold sits halfway between the lowest score predicted positive and the next
    lower score, so tied scores are never split. Labels without a positive example keep
    ``default`` (there is nothing to tune on).

    Args:
        y_true: 0/1 labels ``[n, L]`` (validation split).
        y_score: Scores ``[n, L]``.
        default: Threshold of labels that cannot be tuned.

    Returns:
        ``float64 [L]`` thresholds.

    Raises:
        InputError: Shapes differ, or ``default`` is not a finite number.
    """
    if not np.isfinite(default):
        raise InputError(f"default threshold must be finite, got {default!r}")
    yt, ys = check_inputs(y_true, y_score)
    n, num_labels = yt.shape
    out = np.full(num_labels, float(default))
    if n == 0:
        return out
    order = np.argsort(-ys, axis=0, kind="stable")
    sorted_scores = np.take_along_axis(ys, order, 0)
    tp = np.cumsum(np.take_along_axis(yt, order, 0), axis=0)  # positives among the top k
    positives = yt.sum(0)
    k = np.arange(1, n + 1)[:, None]
    f1 = 2 * tp / (k + positives)  # 2TP / (2TP + FP + FN) with TP + FP = k
    # only cuts between different scores can be realised by a threshold
    realisable = np.ones_like(f1, dtype=bool)
    realisable[:-1] = sorted_scores[:-1] != sorted_scores[1:]
    f1 = np.where(realisable, f1, -1.0)
    best = f1.argmax(0)
    for label in np.flatnonzero(positives > 0):
        i = best[label]
        low = sorted_scores[i + 1, label] if i + 1 < n else sorted_scores[i, label] - 1.0
        out[label] = (sorted_scores[i, label] + low) / 2
    return out
