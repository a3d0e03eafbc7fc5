"""Training: every variant learns, planted signal is found (shuffled is not), resume is
exact, checkpoints fail loudly, and the CLI runs end to end on a prepared file."""

import argparse
import json

import numpy as np
import pandas as pd
import pytest
import torch
from torch_geometric.data import HeteroData

from gnn.checkpoint import load_checkpoint
from gnn.config import GRAPH_MODELS, TrainConfig
from gnn.prepared import attach_task, detach_task
from gnn.tasks import TaskData, patient_split
from gnn.toy_setup import synthetic_setup
from gnn.train import add_train_parser, link_loss, main, train
from graphs.cohort import CohortGraph
from ontologies.errors import ConfigError, InputError, SchemaError


@pytest.fixture(scope="module")
def setup():
    return synthetic_setup(100, seed=5, min_count=2)


def _cfg(**changes):
    base = dict(hidden=16, heads=2, epochs=4, n_boot=0, out_dir=None, progress=False,
                lr=0.01, patience=None)
    return TrainConfig(**{**base, **changes})


def planted_toy(n: int = 300, shuffle: bool = False, seed: int = 0):
    """Three labels (~40% positive) written into the note summary; random code edges.

    With ``shuffle`` the note rows are permuted across patients, which destroys the
    signal while keeping its distribution: a sound pipeline must then be near chance.
    """
    g = torch.Generator().manual_seed(seed)
    y = (torch.rand(n, 3, generator=g) < 0.4).float()
    note = torch.cat([2.0 * y, torch.zeros(n, 3)], 1) + torch.randn(n, 6, generator=g)
    if shuffle:
        note = note[torch.randperm(n, generator=g)]
    data = HeteroData()
    data["patient"].x = torch.randn(n, 2, generator=g)
    data["patient"].x_note = note
    data["patient"].mask_note = torch.ones(n, dtype=torch.bool)
    data["disease"].num_nodes = 6
    src = torch.arange(n).repeat(2)
    dst = torch.randint(0, 6, (2 * n,), generator=g)
    data["patient", "has_diagnosis", "disease"].edge_index = torch.stack([src, dst])
    data["disease", "rev_has_diagnosis", "patient"].edge_index = torch.stack([dst, src])
    ids = [f"p{i:03d}" for i in range(n)]
    cohort = CohortGraph(data, {"patient": ids, "disease": [f"d{i}" for i in range(6)]})
    task = TaskData("comorbidity", None, ids, y, ["A", "B", "C"], ["a", "b", "c"],
                    patient_split(y, seed=seed), torch.zeros_like(y))
    return task, cohort


@pytest.mark.parametrize("model", list(GRAPH_MODELS) + ["mlp"])
def test_every_model_learns(setup, model):
    task, cohort = setup
    result = train(_cfg(model=model), task, cohort)
    losses = [row["train_loss"] for row in result.history]
    assert len(losses) == 4 and losses[-1] < losses[0]
    assert result.test_scores.shape == result.test_y.shape == (len(task.splits["test"]),
                                                                len(task.label_ids))
    assert 0.0 <= result.test_metrics["auroc_macro"]["value"] <= 1.0


@pytest.mark.parametrize("changes", [
    {"model": "gcn", "batch_size": 32, "num_neighbors": [5, 3]},
    {"model": "hetero_sage", "batch_size": 32, "num_neighbors": [5, 3]},
    {"model": "mlp", "batch_size": 16},
    {"model": "mlp", "pos_weight": True, "fusion": "attention"},
])
def test_mini_batch_and_options_learn(setup, changes):
    task, cohort = setup
    losses = [row["train_loss"] for row in train(_cfg(**changes), task, cohort).history]
    assert losses[-1] < losses[0]


def test_link_objective_learns():
    task, cohort = synthetic_setup(100, seed=5, task="treatment", min_count=2)
    result = train(_cfg(model="hetero_sage", objective="link", epochs=5), task, cohort)
    losses = [row["train_loss"] for row in result.history]
    assert losses[-1] < losses[0]
    assert result.test_scores.shape == (len(task.splits["test"]), len(task.label_ids))


def test_link_loss_samples_negatives_only_from_negatives():
    torch.manual_seed(0)
    y = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    good = torch.tensor([[9.0, -9.0], [-9.0, -9.0]])  # right on every pair
    assert float(link_loss(good, y, neg_ratio=50)) < 1e-3
    assert float(link_loss(-good, y, neg_ratio=50)) > 5.0


def test_planted_signal_found_and_shuffled_signal_not():
    cfg = _cfg(model="mlp", inputs=["note"], epochs=60, hidden=16)
    task, cohort = planted_toy()
    found = train(cfg, task, cohort).test_metrics["auroc_macro"]["value"]
    task, cohort = planted_toy(shuffle=True)
    chance = train(cfg, task, cohort).test_metrics["auroc_macro"]["value"]
    assert found > 0.85
    assert abs(chance - 0.5) < 0.15
    # the graph model fed the same summary finds it too
    task, cohort = planted_toy()
    graph = train(_cfg(model="gcn", fusion="early", epochs=60), task, cohort)
    assert graph.test_metrics["auroc_macro"]["value"] > 0.8


def test_same_seed_same_weights(setup):
    task, cohort = setup
    a = train(_cfg(model="gat", epochs=2), task, cohort).model.state_dict()
    b = train(_cfg(model="gat", epochs=2), task, cohort).model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("changes", [
    {"model": "gat"},  # dropout + gated fusion's random modality dropout
    {"model": "gcn", "batch_size": 32, "num_neighbors": [4, 2]},  # sampler + shuffling
])
def test_resume_equals_uninterrupted(setup, tmp_path, changes):
    task, cohort = setup
    full = train(_cfg(epochs=4, out_dir=str(tmp_path / "full"), **changes), task, cohort)
    train(_cfg(epochs=2, out_dir=str(tmp_path / "cut"), **changes), task, cohort)
    resumed = train(_cfg(epochs=4, out_dir=str(tmp_path / "cut"), **changes), task, cohort,
                    resume=True)
    a = load_checkpoint(tmp_path / "full" / "last.pt")
    b = load_checkpoint(tmp_path / "cut" / "last.pt")
    assert a["epoch"] == b["epoch"] == 4
    assert a["model"].keys() == b["model"].keys()
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    strip = [{k: v for k, v in r.items() if k != "seconds"} for r in full.history]
    assert strip == [{k: v for k, v in r.items() if k != "seconds"} for r in resumed.history]
    assert np.allclose(full.test_scores, resumed.test_scores)
    csv = pd.read_csv(tmp_path / "cut" / "metrics.csv")
    assert csv["epoch"].tolist() == [1, 2, 3, 4]


def test_resume_refuses_changed_settings_and_bad_files(setup, tmp_path):
    task, cohort = setup
    out = tmp_path / "run"
    train(_cfg(model="mlp", epochs=1, out_dir=str(out)), task, cohort)
    with pytest.raises(ConfigError, match="hidden 16 -> 32"):
        train(_cfg(model="mlp", epochs=2, hidden=32, out_dir=str(out)), task, cohort,
              resume=True)
    (out / "last.pt").write_bytes((out / "last.pt").read_bytes()[:200])
    with pytest.raises(SchemaError, match="last.pt"):
        train(_cfg(model="mlp", epochs=2, out_dir=str(out)), task, cohort, resume=True)


def test_early_stopping_keeps_best_weights(setup, tmp_path):
    task, cohort = setup
    result = train(_cfg(model="mlp", epochs=40, patience=2, lr=0.05,
                        out_dir=str(tmp_path)), task, cohort)
    assert len(result.history) < 40
    assert len(result.history) - result.best_epoch == 2
    best = torch.load(tmp_path / "best.pt", weights_only=True)
    assert best["epoch"] == result.best_epoch
    assert all(torch.equal(best["model"][k], v) for k, v in result.model.state_dict().items())
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == list(range(1, len(result.history) + 1))


def test_attach_detach_round_trip_through_file(setup, tmp_path):
    task, cohort = setup
    path = attach_task(cohort, task).save(tmp_path / "prepared.pt")
    back = detach_task(CohortGraph.load(path))
    order = [task.patient_ids.index(p) for p in back.patient_ids]
    assert torch.equal(back.y, task.y[order])
    assert torch.equal(back.history, task.history[order])
    for name in ("train", "val", "test"):
        assert sorted(back.patient_ids[i] for i in back.splits[name]) == \
            sorted(task.patient_ids[i] for i in task.splits[name])
    assert back.label_ids == task.label_ids
    with pytest.raises(InputError, match="no task"):
        detach_task(cohort)
    with pytest.raises(ConfigError, match="cohort graph"):
        train(_cfg(), task, None)


def test_cli_end_to_end(setup, tmp_path, capsys):
    task, cohort = setup
    data = attach_task(cohort, task).save(tmp_path / "prepared.pt")
    config = tmp_path / "run.yaml"
    config.write_text("model: gcn\nhidden: 16\nepochs: 2\nn_boot: 20\n")
    out = tmp_path / "out"
    code = main(["--data", str(data), "--config", str(config), "--model", "mlp",
                 "--epochs", "3", "--out", str(out), "--no-progress"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "mlp: best epoch" in printed and "test auroc_macro" in printed
    for name in ("metrics.csv", "metrics.jsonl", "last.pt", "best.pt", "config.json",
                 "test_metrics.json", "predictions.npz", "report.md", "roc.png"):
        assert (out / name).is_file(), name
    saved = json.loads((out / "config.json").read_text())
    assert saved["model"] == "mlp" and saved["hidden"] == 16 and saved["epochs"] == 3
    assert len(pd.read_csv(out / "metrics.csv")) == 3
    # resume with more epochs continues; changed settings or bad input exit with 2
    assert main(["--data", str(data), "--config", str(config), "--model", "mlp",
                 "--epochs", "4", "--out", str(out), "--resume", "--no-progress"]) == 0
    assert len(pd.read_csv(out / "metrics.csv")) == 4
    assert main(["--data", str(data), "--model", "mlp", "--hidden", "8", "--out", str(out),
                 "--resume", "--no-progress"]) == 2
    assert "cannot resume" in capsys.readouterr().err
    assert main(["--data", str(tmp_path / "missing.pt"), "--no-progress"]) == 2
    assert main(["--data", str(data), "--model", "gnc"]) == 2
    assert "gnc" in capsys.readouterr().err


def test_add_train_parser_registers_subcommand():
    parser = argparse.ArgumentParser(prog="medkg")
    add_train_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["train", "--data", "x.pt", "--model", "gat", "--batch-size",
                              "full", "--num-neighbors", "5", "5"])
    assert args.command == "train" and callable(args.func)
    cfg = TrainConfig.from_args(args)
    assert cfg.model == "gat" and cfg.batch_size is None and cfg.num_neighbors == [5, 5]
