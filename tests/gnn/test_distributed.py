"""Data-parallel training (DDP over gloo, launched by torchrun) equals one process.

Two launches of two processes each (``python -m torch.distributed.run``, which is what the
``torchrun`` command runs): one checks that a step's averaged gradient is the
one-process full-batch gradient (global loss normalisation), one runs the real CLI
(``-m gnn.train --distributed``) and compares its results with a one-process run.

Tolerances: the two runs differ only in float summation order (each rank's partial
gradient, then gloo's sum), so gradients must agree to rtol 1e-4 / atol 1e-7 (seen:
<= 6e-8 apart) and after 8 epochs test scores to 1e-5, weights to 1e-4 and metrics to
1e-4 (seen: scores 9e-8, weights 6e-7, metrics identical). The ranks themselves must
hold bitwise-identical gradients.
"""

import importlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.distributed as torch_dist

from gnn import distributed as dist
from gnn.checkpoint import load_checkpoint, load_state
from gnn.cli import main as medkg
from gnn.config import TrainConfig
from gnn.prepared import attach_task, detach_task
from gnn.toy_setup import synthetic_setup
from gnn.train import build_parser, main, train
from graphs.cohort import CohortGraph
from ontologies.errors import ConfigError

gt = importlib.import_module("gnn.train.loop")  # attribute gnn.train is the function


def _launch(args: list[str], cwd) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    for name in dist.ENV_VARS:  # a stale variable must not leak into torchrun's workers
        env.pop(name, None)
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                           "--nproc_per_node=2", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ddp")
    task, cohort = synthetic_setup(200, seed=3, min_count=5)
    comorbidity = attach_task(cohort, task).save(folder / "comorbidity.pt")
    task, cohort = synthetic_setup(100, seed=5, task="treatment", min_count=2)
    treatment = attach_task(cohort, task).save(folder / "treatment.pt")
    return folder, comorbidity, treatment


# ---------------------------------------------------------------------- no torchrun
def test_init_from_env_names_what_is_missing_and_the_command():
    with pytest.raises(ConfigError, match="missing RANK, .*MASTER_PORT.*torchrun --standalone"):
        dist.init_from_env({})
    good = {"RANK": "0", "WORLD_SIZE": "2", "LOCAL_RANK": "0", "MASTER_ADDR": "localhost",
            "MASTER_PORT": "29500"}
    with pytest.raises(ConfigError, match="WORLD_SIZE='two'"):
        dist.init_from_env({**good, "WORLD_SIZE": "two"})
    with pytest.raises(ConfigError, match="RANK=2 is not below WORLD_SIZE=2"):
        dist.init_from_env({**good, "RANK": "2"})


def test_cli_distributed_outside_torchrun_is_a_clean_error(monkeypatch, tmp_path, capsys):
    for name in dist.ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    args = ["--data", str(tmp_path / "prepared.pt"), "--distributed", "--no-progress"]
    assert main(args) == 2
    assert medkg(["train", *args]) == 2
    err = capsys.readouterr().err
    assert err.count("medkg: error: --distributed needs the environment torchrun sets") == 2
    assert "torchrun --standalone --nproc_per_node=2 -m gnn.train" in err
    assert "Traceback" not in err


def test_batch_chunks_give_every_rank_a_patient():
    assert [len(c) for c in dist.batch_chunks(10, 4, 2)] == [4, 4, 2]
    assert [len(c) for c in dist.batch_chunks(10, 4, 3)] == [4, 6]  # 2 left for 3: merged
    assert [len(c) for c in dist.batch_chunks(9, 4, 2)] == [4, 5]
    assert [len(c) for c in dist.batch_chunks(9, 4, 1)] == [4, 4, 1]
    assert torch.equal(torch.cat(dist.batch_chunks(11, 3, 2)), torch.arange(11))
    with pytest.raises(ConfigError, match="batch_size=1"):
        dist.batch_chunks(10, 1, 2)


# ---------------------------------------------------------------------- one-rank group
@pytest.fixture
def one_rank():
    """A real gloo process group of one rank, in this process (no ports, no launch)."""
    torch_dist.init_process_group("gloo", store=torch_dist.HashStore(), rank=0, world_size=1)
    ctx = dist.DistContext(rank=0, world_size=1)
    yield ctx
    ctx.close()


def _cfg(out=None, **changes) -> TrainConfig:
    settings = dict(model="hetero_sage", hidden=16, epochs=4, n_boot=0, progress=False,
                    patience=None, out_dir=None if out is None else str(out))
    return TrainConfig(**{**settings, **changes})


def test_distributed_code_path_on_one_rank_matches_plain_training(files, one_rank):
    cohort = CohortGraph.load(files[1])
    plain = train(_cfg(), None, cohort)
    ddp = train(_cfg(), None, cohort, distributed=one_rank)
    a, b = plain.model.state_dict(), ddp.model.state_dict()
    assert all(torch.allclose(a[k], b[k], rtol=1e-4, atol=1e-5) for k in a)
    assert np.allclose(plain.test_scores, ddp.test_scores, atol=1e-5)


def test_distributed_mini_batch_resumes_exactly_and_refuses_another_world(files, one_rank,
                                                                          tmp_path):
    cohort = CohortGraph.load(files[1])
    batch = dict(batch_size=32, num_neighbors=[4, 2])
    full = train(_cfg(tmp_path / "full", **batch), None, cohort, distributed=one_rank)
    train(_cfg(tmp_path / "cut", epochs=2, **batch), None, cohort, distributed=one_rank)
    resumed = train(_cfg(tmp_path / "cut", **batch), None, cohort, resume=True,
                    distributed=one_rank)
    a, b = load_checkpoint(tmp_path / "full" / "last.pt"), load_checkpoint(tmp_path / "cut" /
                                                                           "last.pt")
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    strip = [{k: v for k, v in r.items() if k != "seconds"} for r in full.history]
    assert strip == [{k: v for k, v in r.items() if k != "seconds"} for r in resumed.history]
    losses = [r["train_loss"] for r in full.history]
    assert losses[-1] < losses[0]

    # A mini-batch checkpoint of 2 processes cannot continue on 1: the schedule differs.
    a["fingerprint"]["world_size"] = 2
    torch.save(a, tmp_path / "full" / "last.pt")
    with pytest.raises(ConfigError, match="mini-batch run of 2 process.*--nproc_per_node=2"):
        train(_cfg(tmp_path / "full", epochs=5, **batch), None, cohort, resume=True,
              distributed=one_rank)


# ---------------------------------------------------------------------- two processes
GRADIENT_WORKER = r"""
import importlib, json, sys
import torch
gt = importlib.import_module("gnn.train.loop")
from gnn import distributed as dist
from gnn.config import TrainConfig
from gnn.prepared import detach_task
from graphs.cohort import CohortGraph

out, cases = sys.argv[1], json.loads(sys.argv[2])
ctx = dist.init_from_env()
torch.use_deterministic_algorithms(True)
for name, (path, settings) in cases.items():
    cohort = CohortGraph.load(path)
    config = TrainConfig(**settings)
    gt._seed(config.seed)
    run = gt._Run(config, detach_task(cohort), cohort, ctx)
    loss = run.train_epoch(1)
    torch.save({"loss": loss, "grads": {k: p.grad for k, p in run.model.named_parameters()}},
               f"{out}/{name}-{ctx.rank}.pt")
ctx.close()
"""


def _one_process_gradient(path, settings, rows=None):
    """Gradient of one full-batch step in this process (loss over ``rows`` positions of
    the train split if given: the negative control)."""
    cohort = CohortGraph.load(path)
    config = TrainConfig(**settings)
    previous = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        gt._seed(config.seed)
        run = gt._Run(config, detach_task(cohort), cohort)
        if rows is None:
            loss = torch.tensor(run.train_epoch(1))
        else:
            run.model.train()
            train_rows = run.rows["train"]
            terms, owner = run.loss_terms(run.model(run.data, index=train_rows),
                                          run.y[train_rows])
            loss = terms[torch.isin(owner, rows)].mean()
            loss.backward()
    finally:
        torch.use_deterministic_algorithms(previous)
    return float(loss.detach()), {k: p.grad for k, p in run.model.named_parameters()}


def test_two_processes_compute_the_one_process_gradient(files, tmp_path):
    folder, comorbidity, treatment = files
    base = {"hidden": 16, "heads": 2, "out_dir": None, "progress": False}
    all_neighbours = {"num_neighbors": [-1, -1], "dropout": 0.0, "fusion": "early"}
    cases = {  # name: (data, 2-process settings, what the 1-process reference changes)
        "hetero_sage": (comorbidity, {"model": "hetero_sage"}, {}),  # dropout, unused params
        "gcn_pos_weight": (comorbidity, {"model": "gcn", "pos_weight": True}, {}),
        "link": (treatment, {"model": "hetero_sage", "objective": "link"}, {}),
        # One mini-batch holding every training patient, all neighbours, no dropout:
        # the same gradient as a full-batch step.
        "sampled": (comorbidity, {"model": "hetero_sage", "batch_size": 1000,
                                  **all_neighbours}, {"batch_size": None}),
        "mlp_batch": (comorbidity, {"model": "mlp", "batch_size": 1000, "dropout": 0.0},
                      {"batch_size": None}),
    }
    worker = tmp_path / "worker.py"
    worker.write_text(GRADIENT_WORKER)
    spec = {name: (str(path), {**base, **settings}) for name, (path, settings, _) in
            cases.items()}
    _launch([str(worker), str(tmp_path), json.dumps(spec)], cwd=tmp_path)

    for name, (path, settings, reference) in cases.items():
        rank0 = torch.load(tmp_path / f"{name}-0.pt", weights_only=True)
        rank1 = torch.load(tmp_path / f"{name}-1.pt", weights_only=True)
        loss, grads = _one_process_gradient(path, {**base, **settings, **reference})
        assert abs(rank0["loss"] - loss) < 1e-6 and rank0["loss"] == rank1["loss"], name
        assert rank0["grads"].keys() == grads.keys()
        for key, g in grads.items():
            g0, g1 = rank0["grads"][key], rank1["grads"][key]
            if g is None:  # unused everywhere: no gradient, as in one process
                assert g0 is None and g1 is None, (name, key)
                continue
            assert torch.equal(g0, g1), (name, key)
            assert torch.allclose(g0, g, rtol=1e-4, atol=1e-7), (name, key,
                                                                 float((g0 - g).abs().max()))

    # Negative control: the gradient of one rank's half alone is clearly different.
    path, settings, _ = cases["hetero_sage"]
    _, half = _one_process_gradient(path, {**base, **settings}, rows=torch.arange(0, 1000, 2))
    full = torch.load(tmp_path / "hetero_sage-0.pt", weights_only=True)["grads"]
    assert any(not torch.allclose(full[k], g, rtol=1e-2, atol=1e-5) for k, g in half.items()
               if g is not None)


def test_torchrun_two_processes_match_one_process(files, tmp_path):
    folder, comorbidity, _ = files
    argv = ["--data", str(comorbidity), "--model", "gcn", "--hidden", "16", "--epochs", "8",
            "--patience", "none", "--n-boot", "20", "--threads", "1", "--no-progress"]
    done = _launch(["-m", "gnn.train", *argv, "--out", str(tmp_path / "ddp"), "--distributed"],
                   cwd=tmp_path)
    assert done.stdout.count("gcn: best epoch") == 1  # only rank 0 prints

    config = TrainConfig.from_args(build_parser().parse_args(argv + ["--out",
                                                                     str(tmp_path / "one")]))
    one = train(config, None, CohortGraph.load(comorbidity))
    ddp_dir = tmp_path / "ddp"
    saved = json.loads((ddp_dir / "test_metrics.json").read_text())
    assert saved["best_epoch"] == one.best_epoch
    assert saved["metrics"].keys() == one.test_metrics.keys()
    for name, m in one.test_metrics.items():
        assert abs(saved["metrics"][name]["value"] - m["value"]) < 1e-4, name
    scores = np.load(ddp_dir / "predictions.npz")["scores"]
    assert np.allclose(scores, one.test_scores, atol=1e-5)
    best = load_state(ddp_dir / "best.pt")["model"]
    assert all(torch.allclose(best[k], v, atol=1e-4) for k, v in one.model.state_dict().items())
    rows = [json.loads(line) for line in (ddp_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == list(range(1, 9))
    assert all(abs(r["train_loss"] - h["train_loss"]) < 1e-5 for r, h in zip(rows, one.history,
                                                                            strict=True))
    assert load_checkpoint(ddp_dir / "last.pt")["epoch"] == 8
    assert one.history[-1]["train_loss"] < one.history[0]["train_loss"]  # it learned
