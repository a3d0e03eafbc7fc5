"""Validation-tuned decision thresholds and their use in evaluation and training."""

import numpy as np
import pytest

from gnn.config import TrainConfig
from gnn.metrics import evaluate_multilabel, f1
from gnn.thresholds import f1_thresholds
from gnn.toy_setup import synthetic_setup
from gnn.train import train
from ontologies.errors import InputError


def _brute_force_best_f1(y, s):
    return max(f1(y, s, threshold=t, average="macro") for t in np.unique(s))


def test_thresholds_reach_the_best_achievable_f1_per_label():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, size=(60, 5))
    s = np.round(y * 0.3 + rng.random(y.shape), 2)  # rounding creates ties
    t = f1_thresholds(y, s)
    for label in range(5):
        got = f1(y[:, label], s[:, label], threshold=t[label], average="macro")
        assert got == pytest.approx(_brute_force_best_f1(y[:, label], s[:, label]))


def test_labels_without_positives_keep_the_default_and_ties_are_not_split():
    y = np.array([[0, 1], [0, 1], [0, 0]])
    s = np.array([[0.9, 0.4], [0.1, 0.4], [0.2, 0.4]])
    t = f1_thresholds(y, s, default=0.7)
    assert t[0] == 0.7
    # label 1: all scores tie; the only realisable positive set is "everyone"
    assert (s[:, 1] >= t[1]).all()


def test_evaluate_accepts_per_label_thresholds_and_checks_their_shape():
    y = np.array([[1, 0], [0, 1], [1, 1], [0, 0]])
    s = np.array([[0.3, 0.2], [0.1, 0.8], [0.25, 0.4], [0.05, 0.5]])
    at_half = evaluate_multilabel(y, s, n_boot=0)["f1_macro"]["value"]
    tuned = evaluate_multilabel(y, s, threshold=[0.2, 0.3], n_boot=0)["f1_macro"]["value"]
    assert tuned > at_half
    with pytest.raises(InputError, match="one per label"):
        evaluate_multilabel(y, s, threshold=[0.2, 0.3, 0.4], n_boot=0)
    with pytest.raises(InputError, match="finite"):
        evaluate_multilabel(y, s, threshold=float("nan"), n_boot=0)


def test_training_tunes_thresholds_on_validation_only(tmp_path):
    task, cohort = synthetic_setup(80, seed=3, min_count=2)
    result = train(TrainConfig(model="mlp", epochs=5, n_boot=0, out_dir=str(tmp_path),
                               progress=False), task, cohort)
    store = result.model  # the thresholds must come from the validation rows
    assert result.thresholds.shape == (len(task.label_ids),) and store is not None
    expected = evaluate_multilabel(result.test_y, result.test_scores,
                                   threshold=result.thresholds, n_boot=0)
    assert result.test_metrics["f1_micro"]["value"] == expected["f1_micro"]["value"]
    import json

    saved = json.loads((tmp_path / "test_metrics.json").read_text())["thresholds"]
    assert list(saved) == list(task.label_ids)
