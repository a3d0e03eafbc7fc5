"""Evaluation metrics for multi-label clinical prediction, vectorised over labels.

Inputs are ``y_true`` (0/1) and ``y_score`` (any real score, higher = more likely) of the
same shape ``[n_patients, n_labels]`` (a 1-D vector counts as one label), as numpy
arrays or torch tensors. Thresholded metrics predict ``y_score >= threshold``.

Conventions (stated because papers differ):
- AUROC/AUPRC ``macro`` average the labels that have at least one positive and one
  negative (others are undefined); ``micro`` pools all entries. AUPRC is average
  precision (step-wise, as scikit-learn's ``average_precision_score``). Ties get
  average ranks / share one threshold. No valid label -> ``nan``.
- F1 ``macro`` averages every label, 0/0 counting as 0 (scikit-learn with
  ``zero_division=0``); ``micro`` pools counts; ``samples`` averages per patient
  (the medication-recommendation "F1").
- Jaccard is per patient |pred ∩ true| / |pred ∪ true| (0 if both empty), averaged.
- DDI rate is GAMENet/SafeDrug's: over all patients, the share of recommended drug
  pairs ``(i < j)`` listed in the DDI table (pooled, not averaged per patient).
- ``bootstrap_ci`` resamples patients (rows) with replacement; percentile intervals.

Examples:
    >>> y = np.array([[1, 0], [0, 1], [1, 1], [0, 0]])
    >>> s = np.array([[0.9, 0.2], [0.3, 0.8], [0.6, 0.4], [0.1, 0.5]])
    >>> float(auroc(y, s))  # label 0 perfect, label 1 3 of 4 pairs in order
    0.875
    >>> round(float(jaccard(y, s)), 3)
    0.625
    >>> ddi_rate(y, ddi_pairs=[[0, 1]])  # one recommended pair (row 2), and it interacts
    1.0
    >>> res = evaluate_multilabel(y, s, k=1, n_boot=20)
    >>> sorted(res["auroc_macro"])
    ['high', 'low', 'value']
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
from tqdm.auto import tqdm

from ontologies.errors import InputError

__all__ = [
    "auroc",
    "auprc",
    "f1",
    "accuracy",
    "sensitivity",
    "specificity",
    "jaccard",
    "precision_at_k",
    "recall_at_k",
    "ddi_rate",
    "bootstrap_ci",
    "evaluate_multilabel",
]


def _array(a: Any, name: str) -> np.ndarray:
    if hasattr(a, "detach"):  # torch tensor
        a = a.detach().cpu().numpy()
    try:
        return np.asarray(a)
    except (TypeError, ValueError) as err:
        raise InputError(f"{name} must be array-like, got {type(a).__name__}: {err}") from None


def check_inputs(y_true: Any, y_score: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validates a label/score pair; returns ``(bool [n, L], float64 [n, L])``.

    Raises:
        InputError: Shapes differ, arrays are empty or not 1-/2-D, scores are not finite,
            or labels are not 0/1. The message names the shapes.

    Examples:
        >>> check_inputs([1, 0], [0.3, 0.2, 0.1])
        Traceback (most recent call last):
        ...
        ontologies.errors.InputError: y_true and y_score must have the same shape, got (2,) and (3,)
    """
    yt, ys = _array(y_true, "y_true"), _array(y_score, "y_score")
    if yt.shape != ys.shape:
        raise InputError(
            f"y_true and y_score must have the same shape, got {yt.shape} and {ys.shape}"
        )
    if yt.ndim not in (1, 2) or yt.size == 0:
        raise InputError(f"y_true/y_score must be non-empty 1-D or 2-D, got shape {yt.shape}")
    if yt.ndim == 1:
        yt, ys = yt[:, None], ys[:, None]
    try:
        ys = ys.astype(np.float64)
    except (TypeError, ValueError):
        raise InputError(f"y_score of shape {ys.shape} must be numeric, got {ys.dtype}") from None
    if not np.isfinite(ys).all():
        bad = int((~np.isfinite(ys)).sum())
        raise InputError(f"y_score of shape {ys.shape} holds {bad} NaN/inf values")
    if yt.dtype != bool:
        if not np.isin(yt, (0, 1)).all():
            raise InputError(f"y_true of shape {yt.shape} must hold only 0/1 labels")
        yt = yt.astype(bool)
    return yt, ys


class _Ranked:
    """Each column sorted by descending score once, with its tie groups.

    Columns are sorted as contiguous rows of the transpose (sorting along a strided
    axis is several times slower). ``order [L, n]`` holds row indices in score order and
    ``y`` the labels in that order. Tie groups are stored as flat indices into a
    ``[L, n + 1]`` cumulative array whose first column is 0: ``end`` points at the
    running count through an entry's tie group, ``before`` at the count just before it.
    """

    def __init__(self, yt: np.ndarray, ys: np.ndarray):
        t, s = np.ascontiguousarray(yt.T), np.ascontiguousarray(ys.T)
        num_cols, n = t.shape
        self.order = np.argsort(-s, axis=1)
        s = np.take_along_axis(s, self.order, 1)
        self.y = np.take_along_axis(t, self.order, 1).astype(np.float64)
        tied = s[:, :-1] == s[:, 1:]
        self.ties = bool(tied.any())
        if self.ties:  # continuous scores rarely tie; then the gathers below are skipped
            idx = np.arange(n)
            last = np.ones(s.shape, dtype=bool)
            last[:, :-1] = ~tied
            first = np.ones(s.shape, dtype=bool)
            first[:, 1:] = ~tied
            end = np.minimum.accumulate(np.where(last, idx, n)[:, ::-1], axis=1)[:, ::-1]
            start = np.maximum.accumulate(np.where(first, idx, 0), axis=1)
            base = (np.arange(num_cols) * (n + 1))[:, None]
            self.end = (base + end + 1).ravel()
            self.before = (base + start).ravel()

    def evaluate(self, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-column (AUROC, AP) with row weights ``w`` given in sorted order ``[L, n]``.

        Integer weights are bootstrap counts: a row drawn twice is two tied copies, so
        one sort serves every resample. A positive counts tied negatives as half (AUROC)
        and gets the precision at its tie group's end (AP). nan where a column lacks a
        positive or a negative.
        """
        num_cols, n = self.y.shape
        wp = w * self.y
        tp = np.zeros((num_cols, n + 1))
        fp = np.zeros((num_cols, n + 1))
        np.cumsum(wp, axis=1, out=tp[:, 1:])
        np.cumsum(w - wp, axis=1, out=fp[:, 1:])
        pos, neg = tp[:, -1], fp[:, -1]
        if self.ties:
            shape = self.y.shape
            tp_end = tp.ravel()[self.end].reshape(shape)
            fp_end = fp.ravel()[self.end].reshape(shape)
            fp_before = fp.ravel()[self.before].reshape(shape)
        else:
            tp_end, fp_end, fp_before = tp[:, 1:], fp[:, 1:], fp[:, :-1]
        # sum_i wp_i * (neg - fp_end_i + (fp_end_i - fp_before_i) / 2), as row dot products
        auc_num = pos * neg - 0.5 * (
            np.einsum("ij,ij->i", wp, fp_end) + np.einsum("ij,ij->i", wp, fp_before)
        )
        # wherever wp > 0 at least that weight has been seen, so the floor never bites
        precision = tp_end / np.maximum(tp_end + fp_end, np.finfo(np.float64).tiny)
        ap_num = np.einsum("ij,ij->i", wp, precision)
        valid = (pos > 0) & (neg > 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            auc = np.where(valid, auc_num / (pos * neg), np.nan)
            ap = np.where(valid, ap_num / pos, np.nan)
        return auc, ap


def _rank_metric(yt: np.ndarray, ys: np.ndarray, average: str, which: int) -> float:
    _check_average(average, ("macro", "micro"))
    if average == "micro":
        yt, ys = yt.reshape(-1, 1), ys.reshape(-1, 1)
    ranked = _Ranked(yt, ys)
    return _average(ranked.evaluate(np.ones(ranked.y.shape))[which])


def _average(per_label: np.ndarray) -> float:
    valid = per_label[~np.isnan(per_label)]
    return float(valid.mean()) if valid.size else float("nan")


def auroc(y_true: Any, y_score: Any, average: str = "macro") -> float:
    """Area under the ROC curve, ``average`` in ``{"macro", "micro"}``.

    Examples:
        >>> auroc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
        0.75
    """
    yt, ys = check_inputs(y_true, y_score)
    return _rank_metric(yt, ys, average, 0)


def auprc(y_true: Any, y_score: Any, average: str = "macro") -> float:
    """Area under the precision-recall curve (average precision), macro or micro.

    Examples:
        >>> round(auprc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]), 4)
        0.8333
    """
    yt, ys = check_inputs(y_true, y_score)
    return _rank_metric(yt, ys, average, 1)


def _check_average(average: str, choices: tuple[str, ...]) -> None:
    if average not in choices:
        raise InputError(f"average must be one of {choices}, got {average!r}")


def _counts(yt: np.ndarray, yp: np.ndarray, axis: int | None) -> tuple[np.ndarray, ...]:
    tp = (yt & yp).sum(axis)
    fp = (~yt & yp).sum(axis)
    fn = (yt & ~yp).sum(axis)
    tn = (~yt & ~yp).sum(axis)
    return tp, fp, fn, tn


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den with 0/0 -> 0."""
    num, den = np.asarray(num, np.float64), np.asarray(den, np.float64)
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def f1(y_true: Any, y_score: Any, threshold: float = 0.5, average: str = "macro") -> float:
    """F1 at ``threshold``; ``average`` in ``{"macro", "micro", "samples"}``.

    Examples:
        >>> f1([[1, 0], [1, 1]], [[0.9, 0.1], [0.2, 0.7]], average="micro")
        0.8
    """
    _check_average(average, ("macro", "micro", "samples"))
    yt, ys = check_inputs(y_true, y_score)
    yp = ys >= threshold
    axis = {"macro": 0, "micro": None, "samples": 1}[average]
    tp, fp, fn, _ = _counts(yt, yp, axis)
    return float(np.mean(_ratio(2 * tp, 2 * tp + fp + fn)))


def accuracy(y_true: Any, y_score: Any, threshold: float = 0.5) -> float:
    """Share of correct entries (label-wise, i.e. 1 - Hamming loss, for multi-label).

    Examples:
        >>> accuracy([[1, 0], [1, 1]], [[0.9, 0.1], [0.2, 0.7]])
        0.75
    """
    yt, ys = check_inputs(y_true, y_score)
    return float(((ys >= threshold) == yt).mean())


def sensitivity(y_true: Any, y_score: Any, threshold: float = 0.5, average: str = "micro") -> float:
    """TP / (TP + FN): pooled (``micro``) or over labels with a positive (``macro``).

    Examples:
        >>> sensitivity([1, 1, 0, 0], [0.9, 0.2, 0.7, 0.1])
        0.5
    """
    _check_average(average, ("macro", "micro"))
    yt, ys = check_inputs(y_true, y_score)
    tp, _, fn, _ = _counts(yt, ys >= threshold, None if average == "micro" else 0)
    if average == "micro":
        return float(_ratio(tp, tp + fn)) if tp + fn else float("nan")
    keep = (tp + fn) > 0
    return float(np.mean(tp[keep] / (tp + fn)[keep])) if keep.any() else float("nan")


def specificity(y_true: Any, y_score: Any, threshold: float = 0.5, average: str = "micro") -> float:
    """TN / (TN + FP): pooled (``micro``) or over labels with a negative (``macro``).

    Examples:
        >>> specificity([1, 1, 0, 0], [0.9, 0.2, 0.7, 0.1])
        0.5
    """
    _check_average(average, ("macro", "micro"))
    yt, ys = check_inputs(y_true, y_score)
    _, fp, _, tn = _counts(yt, ys >= threshold, None if average == "micro" else 0)
    if average == "micro":
        return float(_ratio(tn, tn + fp)) if tn + fp else float("nan")
    keep = (tn + fp) > 0
    return float(np.mean(tn[keep] / (tn + fp)[keep])) if keep.any() else float("nan")


def jaccard(y_true: Any, y_score: Any, threshold: float = 0.5) -> float:
    """Mean per-patient Jaccard of predicted vs true label sets (0 if both empty).

    Examples:
        >>> jaccard([[1, 1, 0]], [[0.9, 0.1, 0.8]])
        0.3333333333333333
    """
    yt, ys = check_inputs(y_true, y_score)
    yp = ys >= threshold
    return float(np.mean(_ratio((yt & yp).sum(1), (yt | yp).sum(1))))


def _top_k_hits(y_true: Any, y_score: Any, k: int) -> tuple[np.ndarray, np.ndarray]:
    yt, ys = check_inputs(y_true, y_score)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= yt.shape[1]:
        raise InputError(f"k must be an integer in [1, {yt.shape[1]}] (labels), got {k!r}")
    # Stable sort: ties go to the lower label index, so results are reproducible.
    top = np.argsort(-ys, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(yt, top, 1).sum(1), yt.sum(1)


def precision_at_k(y_true: Any, y_score: Any, k: int) -> float:
    """Mean share of true labels among each patient's ``k`` top-scored labels.

    Examples:
        >>> precision_at_k([[1, 0, 1]], [[0.9, 0.8, 0.1]], k=2)
        0.5
    """
    hits, _ = _top_k_hits(y_true, y_score, k)
    return float(np.mean(hits / k))


def recall_at_k(y_true: Any, y_score: Any, k: int) -> float:
    """Mean share of a patient's true labels found in its top ``k`` (patients with >= 1
    true label; ``nan`` if none has one).

    Examples:
        >>> recall_at_k([[1, 0, 1], [0, 0, 0]], [[0.9, 0.8, 0.1], [1, 0, 0]], k=2)
        0.5
    """
    hits, pos = _top_k_hits(y_true, y_score, k)
    keep = pos > 0
    return float(np.mean(hits[keep] / pos[keep])) if keep.any() else float("nan")


def _ddi_matrix(ddi_pairs: Any, num_labels: int) -> sp.csr_matrix:
    pairs = _array(ddi_pairs, "ddi_pairs")
    if pairs.size == 0:
        return sp.csr_matrix((num_labels, num_labels))
    if pairs.ndim != 2 or pairs.shape[1] != 2 or not np.issubdtype(pairs.dtype, np.integer):
        raise InputError(f"ddi_pairs must be integer index pairs [m, 2], got {pairs.dtype} "
                         f"of shape {pairs.shape}")
    if pairs.min() < 0 or pairs.max() >= num_labels:
        raise InputError(f"ddi_pairs hold indices {pairs.min()}..{pairs.max()}, expected "
                         f"[0, {num_labels}) (the label columns)")
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    both = np.concatenate([pairs, pairs[:, ::-1]])
    adj = sp.csr_matrix((np.ones(len(both)), (both[:, 0], both[:, 1])),
                        shape=(num_labels, num_labels))
    adj.data[:] = 1.0  # duplicates summed above; an interaction counts once
    return adj


def ddi_rate(y_pred: Any, ddi_pairs: Any, threshold: float = 0.5) -> float:
    """Share of recommended drug pairs that interact (GAMENet/SafeDrug DDI rate).

    Args:
        y_pred: Predicted scores or 0/1 ``[n, n_drugs]``; drugs with score >= threshold
            are recommended.
        ddi_pairs: Interacting drug index pairs ``[m, 2]`` (order irrelevant).
        threshold: Recommendation threshold.

    Returns:
        Interacting pairs / all pairs, pooled over patients (0 if no pair at all).

    Examples:
        >>> ddi_rate([[1, 1, 1], [1, 0, 1]], ddi_pairs=[[0, 2]])
        0.5
    """
    ys = _array(y_pred, "y_pred")
    _, ys = check_inputs(np.zeros(ys.shape, dtype=bool), ys)
    yp = (ys >= threshold).astype(np.float64)
    adj = _ddi_matrix(ddi_pairs, yp.shape[1])
    k = yp.sum(1)
    all_pairs = float((k * (k - 1) / 2).sum())
    bad_pairs = float(np.asarray((adj @ yp.T).T * yp).sum()) / 2
    return bad_pairs / all_pairs if all_pairs else 0.0


def bootstrap_ci(
    metric_fn: Callable[[np.ndarray, np.ndarray], float],
    y_true: Any,
    y_score: Any,
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> tuple[float, float, float]:
    """Point estimate and percentile ``1 - alpha`` interval, resampling patients.

    Resamples on which the metric is undefined (``nan``) are dropped.

    Returns:
        ``(point, low, high)``; low/high are ``nan`` if ``n_boot`` is 0.

    Examples:
        >>> y, s = np.array([0, 1] * 20), np.linspace(0, 1, 40)
        >>> point, low, high = bootstrap_ci(auroc, y, s, n_boot=200, seed=1)
        >>> bool(low <= point <= high)
        True
    """
    if not 0 < alpha < 1:
        raise InputError(f"alpha must be in (0, 1), got {alpha!r}")
    yt, ys = _array(y_true, "y_true"), _array(y_score, "y_score")
    if yt.shape[:1] != ys.shape[:1] or yt.size == 0:
        raise InputError(f"y_true and y_score need the same number of rows, got "
                         f"shapes {yt.shape} and {ys.shape}")
    point = float(metric_fn(yt, ys))
    if n_boot <= 0:
        return point, float("nan"), float("nan")
    rows = np.random.default_rng(seed).integers(0, len(yt), size=(n_boot, len(yt)))
    values = np.array([metric_fn(yt[r], ys[r]) for r in rows], dtype=np.float64)
    values = values[np.isfinite(values)]
    if not values.size:
        return point, float("nan"), float("nan")
    low, high = np.quantile(values, [alpha / 2, 1 - alpha / 2])
    return point, float(low), float(high)


class _Suite:
    """Everything ``evaluate_multilabel`` reports, computed for any row weighting.

    Sorting, thresholding and per-row statistics happen once; each bootstrap resample
    is then a vector of row counts ``w`` and costs weighted sums only.
    """

    def __init__(self, yt: np.ndarray, ys: np.ndarray, ks: Sequence[int],
                 threshold: float | np.ndarray, ddi: np.ndarray | None):
        n, num_labels = yt.shape
        self.ks = ks
        self.macro = _Ranked(yt, ys)
        self.micro = _Ranked(yt.reshape(-1, 1), ys.reshape(-1, 1))
        self.micro_rows = self.micro.order // num_labels  # flat entry -> its patient
        yp = ys >= threshold
        self.cells = np.stack([yt & yp, ~yt & yp, yt & ~yp, ~yt & ~yp]).astype(np.float64)
        row_tp, row_fp, row_fn, _ = _counts(yt, yp, 1)
        self.f1_row = _ratio(2 * row_tp, 2 * row_tp + row_fp + row_fn)
        self.jaccard_row = _ratio(row_tp, row_tp + row_fp + row_fn)
        top = np.argsort(-ys, axis=1, kind="stable")[:, : max(ks)] if ks else None
        self.pos_row = yt.sum(1)
        self.hits = {k: np.take_along_axis(yt, top[:, :k], 1).sum(1) for k in ks}
        self.ddi = None
        if ddi is not None:
            adj = _ddi_matrix(ddi, num_labels)
            pred = yp.astype(np.float64)
            k = pred.sum(1)
            self.ddi = (np.asarray((adj @ pred.T).T * pred).sum(1) / 2, k * (k - 1) / 2)

    def evaluate(self, w: np.ndarray) -> dict[str, float]:
        """All metrics with patient weights ``w [n]`` (ones: the sample itself)."""
        nan = float("nan")
        auc, ap = self.macro.evaluate(w[self.macro.order])
        auc_micro, ap_micro = self.micro.evaluate(w[self.micro_rows])
        tp, fp, fn, tn = np.tensordot(self.cells, w, axes=([1], [0]))  # [4, L] weighted
        TP, FP, FN, TN = (float(v.sum()) for v in (tp, fp, fn, tn))
        total = float(w.sum())
        out = {
            "auroc_macro": _average(auc),
            "auroc_micro": float(auc_micro[0]),
            "auprc_macro": _average(ap),
            "auprc_micro": float(ap_micro[0]),
            "f1_macro": float(np.mean(_ratio(2 * tp, 2 * tp + fp + fn))),
            "f1_micro": float(_ratio(2 * TP, 2 * TP + FP + FN)),
            "f1_samples": float(w @ self.f1_row) / total,
            "accuracy": (TP + TN) / (TP + FP + FN + TN),
            "sensitivity": TP / (TP + FN) if TP + FN else nan,
            "specificity": TN / (TN + FP) if TN + FP else nan,
            "jaccard": float(w @ self.jaccard_row) / total,
        }
        has_pos = self.pos_row > 0
        w_pos = float(w[has_pos].sum())
        for k in self.ks:
            hits = self.hits[k]
            out[f"precision@{k}"] = float(w @ hits) / (k * total)
            recall = float(w[has_pos] @ (hits[has_pos] / self.pos_row[has_pos]))
            out[f"recall@{k}"] = recall / w_pos if w_pos else nan
        if self.ddi is not None:
            bad, pairs = float(w @ self.ddi[0]), float(w @ self.ddi[1])
            out["ddi_rate"] = bad / pairs if pairs else 0.0
        return out


def evaluate_multilabel(
    y_true: Any,
    y_score: Any,
    k: int | Sequence[int] = 10,
    threshold: float | Any = 0.5,
    ddi_pairs: Any = None,
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
    progress: bool = False,
) -> dict[str, dict[str, float]]:
    """Every metric above with bootstrap intervals over patients.

    The resamples are the ones :func:`bootstrap_ci` draws with the same ``seed``, so a
    single metric's interval agrees with it; they are evaluated as row counts on one
    sort, which is much faster than re-sorting every resample.

    Args:
        y_true: 0/1 labels ``[n, L]``.
        y_score: Scores ``[n, L]``.
        k: Cut-off(s) for precision@k / recall@k (clipped to ``L``).
        threshold: Threshold of the set-based metrics: one number, or one per label
            ``[L]`` (e.g. :func:`gnn.thresholds.f1_thresholds` of the validation split).
        ddi_pairs: Interacting label index pairs ``[m, 2]``; adds ``ddi_rate``.
        n_boot: Bootstrap resamples (0: no intervals, low/high are nan).
        seed: Seed of the resampling.
        alpha: 1 - confidence level.
        progress: Show a progress bar over the resamples.

    Returns:
        ``{metric: {"value": point, "low": low, "high": high}}``.
    """
    if not 0 < alpha < 1:
        raise InputError(f"alpha must be in (0, 1), got {alpha!r}")
    yt, ys = check_inputs(y_true, y_score)
    n = yt.shape[0]
    ks = sorted({min(int(x), yt.shape[1]) for x in ([k] if np.isscalar(k) else k)})
    if ks and ks[0] < 1:
        raise InputError(f"k must be >= 1, got {k!r}")
    ddi = None if ddi_pairs is None else _array(ddi_pairs, "ddi_pairs")
    cut = _array(threshold, "threshold")
    if cut.shape not in ((), (yt.shape[1],)) or not np.issubdtype(cut.dtype, np.number) \
            or not np.isfinite(cut).all():
        raise InputError(f"threshold must be a finite number or one per label "
                         f"[{yt.shape[1]}], got shape {cut.shape}")
    suite = _Suite(yt, ys, ks, cut.astype(np.float64), ddi)
    point = suite.evaluate(np.ones(n))
    samples: dict[str, list[float]] = {name: [] for name in point}
    rows = np.random.default_rng(seed).integers(0, n, size=(max(n_boot, 0), n))
    for r in tqdm(rows, desc="bootstrap", disable=not progress):
        for name, value in suite.evaluate(np.bincount(r, minlength=n).astype(np.float64)).items():
            samples[name].append(value)
    out = {}
    for name, value in point.items():
        vals = np.asarray(samples[name], dtype=np.float64)
        vals = vals[np.isfinite(vals)]
        low, high = (np.quantile(vals, [alpha / 2, 1 - alpha / 2]) if vals.size
                     else (np.nan, np.nan))
        out[name] = {"value": value, "low": float(low), "high": float(high)}
    return out
