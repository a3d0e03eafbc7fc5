"""Is model A better than model B? Paired bootstrap on the same test patients.

Two rows of an ablation share their test patients, so the question "does A beat B" is
answered best by resampling patients once and scoring both models on each resample: the
interval of the *difference* is much narrower than two separate intervals, because
patient-level difficulty cancels. :func:`compare` reports both views: whether the two
95% intervals of the table overlap (the stricter, table-reading criterion) and the paired
interval of the difference.

Examples:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 2, size=(200, 3))
    >>> good = y + rng.normal(0, 0.5, size=y.shape)  # informative scores
    >>> noise = rng.normal(0, 1, size=y.shape)       # uninformative scores
    >>> diff, low, high = paired_difference(y, good, noise, n_boot=200)
    >>> bool(low > 0), round(diff, 2)
    (True, 0.47)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from gnn.metrics import auprc, auroc, check_inputs
from ontologies.errors import ConfigError, InputError

__all__ = ["Comparison", "paired_difference", "compare", "METRICS"]

#: Metrics :func:`paired_difference` can compare (threshold-free, so fair across models).
METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "auroc_macro": lambda y, s: auroc(y, s, "macro"),
    "auroc_micro": lambda y, s: auroc(y, s, "micro"),
    "auprc_macro": lambda y, s: auprc(y, s, "macro"),
    "auprc_micro": lambda y, s: auprc(y, s, "micro"),
}


def paired_difference(y_true: Any, score_a: Any, score_b: Any, metric: str = "auroc_macro",
                      n_boot: int = 1000, seed: int = 0, alpha: float = 0.05
                      ) -> tuple[float, float, float]:
    """``metric(A) - metric(B)`` and its paired percentile bootstrap interval.

    Args:
        y_true: 0/1 labels ``[n, L]`` of the shared test patients.
        score_a: Scores of model A ``[n, L]``.
        score_b: Scores of model B ``[n, L]`` (same patients, same order).
        metric: A key of :data:`METRICS`.
        n_boot: Resamples of patients (rows), drawn once and used for both models.
        seed: Seed of the resampling.
        alpha: 1 - confidence level.

    Returns:
        ``(difference, low, high)``; ``low > 0`` means A is better at that level.

    Raises:
        ConfigError: Unknown ``metric`` or ``n_boot < 1``.
        InputError: Shapes differ.
    """
    if metric not in METRICS:
        raise ConfigError(f"metric={metric!r}: expected one of {', '.join(METRICS)}")
    if isinstance(n_boot, bool) or not isinstance(n_boot, int) or n_boot < 1:
        raise ConfigError(f"n_boot={n_boot!r}: expected an integer >= 1")
    yt, sa = check_inputs(y_true, score_a)
    _, sb = check_inputs(y_true, score_b)
    fn = METRICS[metric]
    point = float(fn(yt, sa) - fn(yt, sb))
    rows = np.random.default_rng(seed).integers(0, len(yt), size=(n_boot, len(yt)))
    diffs = np.array([fn(yt[r], sa[r]) - fn(yt[r], sb[r]) for r in rows], dtype=np.float64)
    diffs = diffs[np.isfinite(diffs)]
    if not diffs.size:
        return point, float("nan"), float("nan")
    low, high = np.quantile(diffs, [alpha / 2, 1 - alpha / 2])
    return point, float(low), float(high)


@dataclass(frozen=True)
class Comparison:
    """Model ``a`` against model ``b`` on one metric (see :func:`compare`)."""

    metric: str
    a: str
    b: str
    value_a: float
    ci_a: tuple[float, float]
    value_b: float
    ci_b: tuple[float, float]
    difference: float
    difference_ci: tuple[float, float]

    @property
    def intervals_separate(self) -> bool:
        """A's interval lies entirely above B's (beats it by more than the intervals)."""
        return self.ci_a[0] > self.ci_b[1]

    @property
    def paired_significant(self) -> bool:
        """The paired interval of the difference excludes 0 on A's side."""
        return self.difference_ci[0] > 0

    def describe(self) -> str:
        """One line for a report."""
        verdict = ("A beats B by more than the intervals" if self.intervals_separate else
                   "intervals overlap")
        return (f"{self.a} vs {self.b}, {self.metric}: {self.value_a:.3f} "
                f"[{self.ci_a[0]:.3f}, {self.ci_a[1]:.3f}] vs {self.value_b:.3f} "
                f"[{self.ci_b[0]:.3f}, {self.ci_b[1]:.3f}] ({verdict}); paired difference "
                f"{self.difference:+.3f} [{self.difference_ci[0]:+.3f}, "
                f"{self.difference_ci[1]:+.3f}]")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields plus both verdicts."""
        return {**asdict(self), "intervals_separate": self.intervals_separate,
                "paired_significant": self.paired_significant}


def compare(outcomes: dict[str, Any], a: str, b: str, metric: str = "auroc_macro",
            n_boot: int = 1000, seed: int = 0) -> Comparison:
    """Compares two rows of an ablation (:class:`gnn.experiment.Outcome` by name).

    The rows' own intervals come from their ``metrics``; the paired difference is
    recomputed from their test scores, which must cover the same patients.

    Raises:
        ConfigError: A name is not in ``outcomes`` or the metric is missing.
        InputError: The two rows were scored on different test labels.
    """
    for name in (a, b):
        if name not in outcomes:
            raise ConfigError(f"no row {name!r} in the ablation; rows: {', '.join(outcomes)}")
        if metric not in outcomes[name].metrics:
            raise ConfigError(f"row {name!r} has no metric {metric!r}")
    oa, ob = outcomes[a], outcomes[b]
    if np.shape(oa.y_true) != np.shape(ob.y_true) or not np.array_equal(oa.y_true, ob.y_true):
        raise InputError(f"rows {a!r} and {b!r} were not scored on the same test labels")
    diff, low, high = paired_difference(oa.y_true, oa.y_score, ob.y_score, metric,
                                        n_boot=n_boot, seed=seed)
    ma, mb = oa.metrics[metric], ob.metrics[metric]
    return Comparison(metric, a, b, ma["value"], (ma["low"], ma["high"]), mb["value"],
                      (mb["low"], mb["high"]), diff, (low, high))
