"""Paired bootstrap comparison of ablation rows."""

import numpy as np
import pytest

from gnn.compare import compare, paired_difference
from gnn.experiment import Outcome
from gnn.metrics import auroc, evaluate_multilabel
from ontologies.errors import ConfigError, InputError


def _scores(seed: int = 0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, size=(150, 4))
    better = y + rng.normal(0, 0.8, size=y.shape)
    worse = y + rng.normal(0, 1.6, size=y.shape)
    return y, better, worse


def test_point_difference_is_the_metric_difference():
    y, a, b = _scores()
    diff, low, high = paired_difference(y, a, b, n_boot=200, seed=1)
    assert diff == pytest.approx(auroc(y, a) - auroc(y, b))
    assert low < diff < high


def test_identical_scores_give_a_zero_interval_and_swapping_negates():
    y, a, b = _scores()
    assert paired_difference(y, a, a, n_boot=50) == (0.0, 0.0, 0.0)
    d1, l1, h1 = paired_difference(y, a, b, n_boot=100, seed=3)
    d2, l2, h2 = paired_difference(y, b, a, n_boot=100, seed=3)
    assert (d2, l2, h2) == pytest.approx((-d1, -h1, -l1))


def test_paired_interval_is_narrower_than_separate_intervals():
    # correlated models: patient difficulty cancels in the paired difference
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, size=(120, 3))
    shared = rng.normal(0, 1.0, size=y.shape)
    a = y + shared + rng.normal(0, 0.2, size=y.shape)
    b = y + shared + rng.normal(0, 0.6, size=y.shape)
    _, low, high = paired_difference(y, a, b, n_boot=300)
    ca = evaluate_multilabel(y, a, n_boot=300)["auroc_macro"]
    cb = evaluate_multilabel(y, b, n_boot=300)["auroc_macro"]
    assert high - low < (ca["high"] - ca["low"]) + (cb["high"] - cb["low"])


def test_compare_rows_and_verdicts():
    y, a, b = _scores()
    rows = {name: Outcome(name, "model", name, evaluate_multilabel(y, s, n_boot=200), y, s)
            for name, s in (("a", a), ("b", b))}
    c = compare(rows, "a", "b", n_boot=200)
    assert c.value_a > c.value_b and c.paired_significant
    assert c.intervals_separate == (c.ci_a[0] > c.ci_b[1])
    assert "paired difference" in c.describe() and c.to_dict()["paired_significant"]
    assert not compare(rows, "b", "a", n_boot=200).paired_significant


def test_bad_requests_are_named():
    y, a, b = _scores()
    with pytest.raises(ConfigError, match="metric='f1'"):
        paired_difference(y, a, b, metric="f1")
    with pytest.raises(ConfigError, match="n_boot"):
        paired_difference(y, a, b, n_boot=0)
    rows = {"a": Outcome("a", "model", "a", evaluate_multilabel(y, a, n_boot=10), y, a),
            "c": Outcome("c", "model", "c", evaluate_multilabel(y[:10], a[:10], n_boot=10),
                         y[:10], a[:10])}
    with pytest.raises(ConfigError, match="no row 'zz'"):
        compare(rows, "a", "zz")
    with pytest.raises(InputError, match="same test labels"):
        compare(rows, "a", "c")
