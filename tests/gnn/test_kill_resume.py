"""SIGKILL in the middle of an epoch, then resume: the result equals an uninterrupted run.

A child process runs the real CLI (``gnn.train.cli.main``) on a saved cohort with
mini-batch neighbour sampling (5 optimizer steps per epoch) and a checkpoint per epoch.
To make the kill land *inside* an epoch every time, the child wraps the batch iterator:
when epoch 3 asks for its third batch (two optimizer steps of epoch 3 are done) it writes
a marker file and sleeps. The wrapper only pauses; it changes no number. The test then
SIGKILLs the child, resumes from what is on disk and compares with a run that was
never interrupted.

Tolerance: none. Both runs use one intra-op thread and the same build, so the resumed
run must match bit for bit (best weights, every metric and bootstrap interval, test
scores).
"""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from gnn.checkpoint import load_checkpoint, load_state
from gnn.config import TrainConfig
from gnn.prepared import attach_task
from gnn.toy_setup import synthetic_setup
from gnn.train import build_parser, train
from graphs.cohort import CohortGraph

KILL_EPOCH, KILL_BATCH = 3, 2

CHILD = r"""
import importlib, sys, time
from pathlib import Path
from gnn.train import main
gt = importlib.import_module("gnn.train.loop")  # attribute gnn.train is the function

marker, kill_epoch, kill_batch = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
batches = gt._Run._batches

def paused(self, epoch):
    for i, item in enumerate(batches(self, epoch)):
        if epoch == kill_epoch and i == kill_batch:  # steps 0..kill_batch-1 are done
            marker.write_text(f"{epoch} {i}")
            time.sleep(600)  # the test kills us here
        yield item

gt._Run._batches = paused
sys.exit(main(sys.argv[4:]))
"""


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    task, cohort = synthetic_setup(200, seed=3, min_count=5)
    return attach_task(cohort, task).save(tmp_path_factory.mktemp("kill") / "prepared.pt")


def _argv(data, out):
    return ["--data", str(data), "--out", str(out), "--model", "hetero_sage", "--hidden", "16",
            "--epochs", "5", "--batch-size", "32", "--num-neighbors", "5", "3",
            "--patience", "none", "--n-boot", "20", "--seed", "0", "--threads", "1",
            "--no-progress"]


def _config(data, out) -> TrainConfig:
    return TrainConfig.from_args(build_parser().parse_args(_argv(data, out)))


def _kill_mid_epoch(data, out, marker) -> list[int]:
    """Runs the child until it pauses inside KILL_EPOCH, SIGKILLs it; returns the epoch
    of every read of last.pt made while it ran (each read had to succeed)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    log = open(out.parent / "child.log", "w")
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(marker), str(KILL_EPOCH),
                              str(KILL_BATCH), *_argv(data, out)], env=env, stdout=log,
                             stderr=subprocess.STDOUT)
    seen = []
    try:
        deadline = time.monotonic() + 300
        while not marker.exists():
            assert child.poll() is None, (out.parent / "child.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "the child never reached the kill point"
            if (out / "last.pt").exists():  # atomic writes: any visible last.pt loads
                seen.append(load_checkpoint(out / "last.pt")["epoch"])
            time.sleep(0.05)
        # Paused inside epoch KILL_EPOCH: its checkpoint and metrics row do not exist yet.
        seen.append(load_checkpoint(out / "last.pt")["epoch"])
        assert seen[-1] == KILL_EPOCH - 1
        rows = (out / "metrics.jsonl").read_text().splitlines()
        assert len(rows) == KILL_EPOCH - 1
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=60) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        log.close()
    return seen


def test_sigkill_mid_epoch_then_resume_equals_uninterrupted(prepared, tmp_path):
    killed, full = tmp_path / "killed" / "run", tmp_path / "full" / "run"
    killed.parent.mkdir()
    seen = _kill_mid_epoch(prepared, killed, tmp_path / "paused")
    assert seen == sorted(seen) and len(seen) >= 2  # read during training, then at the kill

    # What the kill left on disk is whole and readable.
    ckpt = load_checkpoint(killed / "last.pt")
    assert ckpt["epoch"] == KILL_EPOCH - 1 and len(ckpt["history"]) == KILL_EPOCH - 1
    assert load_state(killed / "best.pt")["epoch"] <= KILL_EPOCH - 1

    cohort = CohortGraph.load(prepared)
    resumed = train(_config(prepared, killed), None, cohort, resume=True)
    uninterrupted = train(_config(prepared, full), None, CohortGraph.load(prepared))

    assert [r["epoch"] for r in resumed.history] == list(range(1, 6))
    strip = [{k: v for k, v in r.items() if k != "seconds"} for r in uninterrupted.history]
    assert strip == [{k: v for k, v in r.items() if k != "seconds"} for r in resumed.history]
    assert resumed.best_epoch == uninterrupted.best_epoch
    a, b = load_state(full / "best.pt"), load_state(killed / "best.pt")
    assert a["epoch"] == b["epoch"] and a["model"].keys() == b["model"].keys()
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert json.loads((full / "test_metrics.json").read_text())["metrics"] == \
        json.loads((killed / "test_metrics.json").read_text())["metrics"]
    assert np.array_equal(np.load(full / "predictions.npz")["scores"],
                          np.load(killed / "predictions.npz")["scores"])
    # The run learned something, so equal results are not equal noise.
    losses = [r["train_loss"] for r in resumed.history]
    assert losses[-1] < losses[0]
