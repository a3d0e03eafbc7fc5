"""Metrics: agreement with scikit-learn, hand-checked cases, bootstrap, bad input."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from sklearn import metrics as sk

from gnn import metrics as M
from ontologies.errors import InputError


@pytest.fixture(scope="module")
def random_multilabel():
    """Scores rounded to 1 decimal (many ties), one all-negative and one all-positive label."""
    rng = np.random.default_rng(0)
    y = (rng.random((150, 12)) < rng.uniform(0.05, 0.5, 12)).astype(int)
    y[:, 0] = 0
    y[:, 1] = 1
    s = np.round(rng.random((150, 12)) * 0.8 + 0.3 * y, 1)
    valid = (y.sum(0) > 0) & (y.sum(0) < len(y))
    return y, s, valid


def test_auroc_matches_sklearn(random_multilabel):
    y, s, valid = random_multilabel
    assert M.auroc(y, s) == pytest.approx(sk.roc_auc_score(y[:, valid], s[:, valid]))
    assert M.auroc(y, s, "micro") == pytest.approx(sk.roc_auc_score(y, s, average="micro"))


def test_auprc_matches_sklearn_average_precision(random_multilabel):
    y, s, valid = random_multilabel
    assert M.auprc(y, s) == pytest.approx(sk.average_precision_score(y[:, valid], s[:, valid]))
    assert M.auprc(y, s, "micro") == pytest.approx(
        sk.average_precision_score(y, s, average="micro")
    )


@pytest.mark.parametrize("average", ["macro", "micro", "samples"])
def test_f1_matches_sklearn(random_multilabel, average):
    y, s, _ = random_multilabel
    expected = sk.f1_score(y, s >= 0.5, average=average, zero_division=0)
    assert M.f1(y, s, 0.5, average) == pytest.approx(expected)


def test_set_metrics_match_sklearn(random_multilabel):
    y, s, _ = random_multilabel
    p = s >= 0.5
    assert M.jaccard(y, s) == pytest.approx(
        sk.jaccard_score(y, p, average="samples", zero_division=0)
    )
    assert M.accuracy(y, s) == pytest.approx(1 - sk.hamming_loss(y, p))
    assert M.sensitivity(y, s) == pytest.approx(sk.recall_score(y.ravel(), p.ravel()))
    assert M.specificity(y, s) == pytest.approx(sk.recall_score(1 - y.ravel(), ~p.ravel()))
    has_pos = y.sum(0) > 0
    assert M.sensitivity(y, s, average="macro") == pytest.approx(
        sk.recall_score(y[:, has_pos], p[:, has_pos], average="macro")
    )


def test_precision_and_recall_at_k_match_loops(random_multilabel):
    y, s, _ = random_multilabel
    s = s + np.arange(s.shape[1]) * 1e-6  # break ties so the loop is unambiguous
    for k in (1, 3, 12):
        top = [np.argsort(-row)[:k] for row in s]
        hits = np.array([y[i, t].sum() for i, t in enumerate(top)])
        assert M.precision_at_k(y, s, k) == pytest.approx(np.mean(hits / k))
        pos = y.sum(1)
        assert M.recall_at_k(y, s, k) == pytest.approx(np.mean(hits[pos > 0] / pos[pos > 0]))


def test_hand_checked_tiny_cases():
    # 2 positives {0.35, 0.8} vs 2 negatives {0.1, 0.4}: 3 of 4 pairs ordered.
    assert M.auroc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == 0.75
    # ranked 0.8(+) 0.4(-) 0.35(+) 0.1(-): AP = (1/1 + 2/3) / 2
    assert M.auprc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(5 / 6)
    # a tie between a positive and a negative counts half
    assert M.auroc([0, 1], [0.5, 0.5]) == 0.5
    # true {0,1}, predicted {0,2}: |∩| = 1, |∪| = 3
    assert M.jaccard([[1, 1, 0]], [[0.9, 0.1, 0.8]]) == pytest.approx(1 / 3)
    # an empty prediction for an empty truth scores 0 (GAMENet convention)
    assert M.jaccard([[0, 0]], [[0.1, 0.2]]) == 0.0
    assert M.precision_at_k([[1, 0, 1]], [[0.9, 0.8, 0.1]], k=2) == 0.5
    assert M.recall_at_k([[1, 0, 1]], [[0.9, 0.8, 0.1]], k=2) == 0.5


def test_undefined_auroc_is_nan():
    assert np.isnan(M.auroc([1, 1, 1], [0.2, 0.5, 0.9]))


def gamenet_ddi_rate(pred: np.ndarray, pairs: list[tuple[int, int]]) -> float:
    """The loop of GAMENet/SafeDrug's ddi_rate_score, written out for reference."""
    adj = np.zeros((pred.shape[1], pred.shape[1]))
    for i, j in pairs:
        adj[i, j] = adj[j, i] = 1
    all_cnt = dd_cnt = 0
    for row in pred:
        meds = np.nonzero(row)[0]
        for i, j in itertools.combinations(meds, 2):
            all_cnt += 1
            dd_cnt += adj[i, j] == 1
    return 0.0 if all_cnt == 0 else dd_cnt / all_cnt


def test_ddi_rate_matches_the_reference_loop():
    rng = np.random.default_rng(3)
    pred = (rng.random((40, 15)) < 0.3).astype(int)
    pairs = [tuple(p) for p in rng.integers(0, 15, (20, 2))]
    assert M.ddi_rate(pred, pairs) == pytest.approx(gamenet_ddi_rate(pred, pairs))
    assert M.ddi_rate([[1, 1, 1], [1, 0, 1]], [[2, 0], [0, 2]]) == 0.5  # order/dupes ignored
    assert M.ddi_rate([[1, 0, 0]], [[0, 1]]) == 0.0  # no pair at all


def test_bootstrap_ci_brackets_the_point_and_is_seeded():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    s = y * 0.5 + rng.random(200)
    point, low, high = M.bootstrap_ci(M.auroc, y, s, n_boot=200, seed=1)
    assert point == M.auroc(y, s)
    assert low < point < high
    assert M.bootstrap_ci(M.auroc, y, s, n_boot=200, seed=1) == (point, low, high)
    assert M.bootstrap_ci(M.auroc, y, s, n_boot=200, seed=2) != (point, low, high)
    wider = M.bootstrap_ci(M.auroc, y, s, n_boot=200, seed=1, alpha=0.01)
    assert wider[1] <= low and wider[2] >= high


def test_evaluate_multilabel_agrees_with_bootstrap_ci(random_multilabel):
    """Its count-weighted resamples are bootstrap_ci's row resamples for the same seed."""
    y, s, _ = random_multilabel
    pairs = [[2, 3], [4, 5]]
    report = M.evaluate_multilabel(y, s, k=[1, 3], ddi_pairs=pairs, n_boot=30, seed=5)
    checks = {
        "auroc_macro": M.auroc,
        "auprc_micro": lambda a, b: M.auprc(a, b, "micro"),
        "f1_macro": M.f1,
        "f1_samples": lambda a, b: M.f1(a, b, average="samples"),
        "jaccard": M.jaccard,
        "specificity": M.specificity,
        "recall@3": lambda a, b: M.recall_at_k(a, b, 3),
        "ddi_rate": lambda a, b: M.ddi_rate(b, pairs),
    }
    for name, fn in checks.items():
        expected = M.bootstrap_ci(fn, y, s, n_boot=30, seed=5)
        got = report[name]
        assert (got["value"], got["low"], got["high"]) == pytest.approx(expected), name
    assert {"precision@1", "recall@1", "auprc_macro", "accuracy"} <= set(report)


def test_evaluate_without_bootstrap_has_nan_bounds():
    report = M.evaluate_multilabel([[1, 0], [0, 1]], [[0.9, 0.1], [0.2, 0.7]], k=1, n_boot=0)
    assert report["auroc_macro"]["value"] == 1.0
    assert np.isnan(report["auroc_macro"]["low"])


def test_torch_tensors_are_accepted():
    y = torch.tensor([[1, 0], [0, 1]])
    s = torch.tensor([[0.9, 0.2], [0.3, 0.6]], requires_grad=True)
    assert M.auroc(y, s) == 1.0


@pytest.mark.parametrize(
    "y, s, message",
    [
        ([[1, 0]], [[0.1, 0.2, 0.3]], r"same shape, got \(1, 2\) and \(1, 3\)"),
        ([], [], r"non-empty"),
        ([1, 0], [0.5, float("nan")], r"NaN"),
        ([2, 0], [0.5, 0.1], r"0/1"),
        (np.zeros((2, 2, 2)), np.zeros((2, 2, 2)), r"shape \(2, 2, 2\)"),
    ],
)
def test_bad_input_raises_input_error(y, s, message):
    with pytest.raises(InputError, match=message):
        M.auroc(y, s)


def test_bad_k_and_ddi_pairs_raise():
    with pytest.raises(InputError, match=r"k must be an integer in \[1, 2\]"):
        M.precision_at_k([[1, 0]], [[0.3, 0.1]], k=3)
    with pytest.raises(InputError, match=r"expected \[0, 2\)"):
        M.ddi_rate([[1, 1]], [[0, 5]])
    with pytest.raises(InputError, match=r"\[m, 2\]"):
        M.ddi_rate([[1, 1]], [0, 1])
