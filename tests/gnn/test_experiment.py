"""Ablations: one split and one metric code for models and baselines; tidy output."""

import numpy as np
import pytest
import torch

from gnn.config import TrainConfig
from gnn.experiment import ablation_configs, baseline_outcomes, run_ablation, run_experiments
from gnn.metrics import evaluate_multilabel
from gnn.prepared import attach_task
from gnn.toy_setup import synthetic_setup


@pytest.fixture(scope="module")
def setup():
    return synthetic_setup(100, seed=7, min_count=2)


def _cfg(**changes):
    base = dict(hidden=16, heads=2, epochs=3, n_boot=20, out_dir=None, progress=False)
    return TrainConfig(**{**base, **changes})


def test_run_ablation_tidy_table(setup, tmp_path):
    task, cohort = setup
    configs = {"mlp notes": _cfg(model="mlp", inputs=["note"]), "gcn": _cfg(model="gcn")}
    table = run_ablation(task, cohort, configs, out_dir=tmp_path)
    assert list(table.columns) == ["model", "kind", "inputs", "metric", "value", "low", "high"]
    assert list(table["model"].unique()) == ["mlp notes", "gcn", "prevalence", "history copy"]
    counts = table.groupby("model").size()
    assert counts.nunique() == 1  # every model has every metric
    assert {"auroc_macro", "auprc_micro", "f1_macro"} <= set(table["metric"])
    rows = table[table["metric"] == "auroc_macro"].set_index("model")
    assert rows.loc["mlp notes", "inputs"] == "note"
    assert rows.loc["gcn", "inputs"].startswith("graph (gcn)")
    assert (rows["low"] <= rows["value"] + 1e-9).all()
    assert (rows["value"] <= rows["high"] + 1e-9).all()
    # each run wrote into its own folder
    assert (tmp_path / "mlp_notes" / "metrics.csv").is_file()
    assert (tmp_path / "gcn" / "best.pt").is_file()


def test_models_and_baselines_share_test_rows(setup):
    task, cohort = setup
    outcomes = run_experiments(task, cohort, {"mlp": _cfg(model="mlp", n_boot=0)})
    ys = [o.y_true for o in outcomes.values()]
    assert all(np.array_equal(ys[0], y) for y in ys)
    assert len(ys[0]) == len(task.splits["test"])


def test_baselines_are_scored_by_the_shared_metric_code(setup):
    task, cohort = setup
    base = baseline_outcomes(task, cohort, n_boot=0)
    prev = base["prevalence"]
    # one constant score per label ranks nobody above anybody: AUROC exactly 0.5
    assert prev.metrics["auroc_macro"]["value"] == pytest.approx(0.5)
    train_rows = task.splits["train"]
    assert np.allclose(prev.y_score[0], task.y[train_rows].mean(0).numpy())
    store = attach_task(cohort, task).data["patient"]
    rows = torch.nonzero(store.test_mask).flatten()
    direct = evaluate_multilabel(store.y[rows].numpy(), store.label_history[rows].numpy(),
                                 n_boot=0)
    assert base["history copy"].metrics == direct
    assert base["history copy"].inputs == "labels already in the history"


def test_ablation_configs_cover_the_lecture(setup, tmp_path):
    _, cohort = setup
    configs = ablation_configs(cohort, _cfg(out_dir=str(tmp_path)), graph_model="gat")
    assert list(configs) == ["mlp-demographics", "mlp-history_codes", "mlp-note", "mlp-image",
                             "mlp-signal", "mlp-genomic", "mlp-all", "gat-kg",
                             "gat-kg-multimodal"]
    assert configs["mlp-note"].inputs == ["note"] and configs["mlp-note"].resolved_fusion == "early"
    assert set(configs["mlp-all"].inputs) >= {"demographics", "history_codes", "note"}
    assert configs["gat-kg"].graph_modalities is False
    assert configs["gat-kg"].inputs == ["demographics"]
    assert configs["gat-kg-multimodal"].graph_modalities is True
    assert configs["gat-kg-multimodal"].resolved_fusion == "gated"
    assert configs["gat-kg"].hidden == 16  # other settings come from the base
    outs = {c.out_dir for c in configs.values()}
    assert len(outs) == len(configs)
