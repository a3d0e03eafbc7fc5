"""Training loop: train, early-stop and test one model (command line: :mod:`gnn.train.cli`).

``train(config, task, cohort)`` builds a :class:`~gnn.predictor.PatientPredictor`, trains it
with Adam on BCE-with-logits (optional ``pos_weight``; negative sampling for
``objective="link"``), validates every epoch (early stopping on validation AUPRC macro,
or validation loss when no validation label has both classes), keeps the best weights,
and evaluates them once on the test split with :func:`gnn.metrics.evaluate_multilabel`
(bootstrap intervals). Thresholded metrics (F1, sensitivity, DDI rate, ...) use per-label
cut-offs that maximise F1 on the validation split (:func:`gnn.thresholds.f1_thresholds`),
never tuned on the test split. Every model sees the task's own split, so comparisons are
fair.

Determinism: ``train`` seeds torch, numpy and ``random`` from ``config.seed`` (whatever
the random state was before the call) and keeps ``torch.use_deterministic_algorithms(True,
warn_only=True)`` on while it runs. With the same data, settings, software build, machine
and number of intra-op threads, two runs give bitwise-identical weights, metrics
(bootstrap intervals included) and predictions, for every model and with mini-batch
neighbour sampling (``tests/gnn/test_determinism.py``). Neighbour sampling is reseeded
per epoch from (seed, epoch) and ``last.pt`` holds the random states, so ``resume``
continues a run killed even in mid-epoch bit for bit (``tests/gnn/test_kill_resume.py``).
What breaks bitwise equality (checked with torch 2.13 CPU + MKL, 1 vs 2 threads):

- Another thread count (``threads`` / ``OMP_NUM_THREADS``). MKL's matrix product splits
  long reductions across threads: ``A.T @ B`` over K >= 1,000 rows (a weight gradient
  over >= 1,000 nodes) differed in the last bits between 1 and 2 threads, K <= 512 did
  not. After 3 epochs on a 100-patient cohort the weights of gcn, gat, rgcn, hgt and
  hetero_gat differed by up to 5e-7, those of hetero_sage (with or without sampling) not
  at all. Fix ``threads`` to reproduce a run exactly.
- Not scatter-add order: torch's CPU ``scatter_add_``, ``index_add_``,
  ``scatter_reduce`` (sum, amax), PyG's ``scatter`` (sum, mean), CSR ``sparse.mm`` and
  the backward of embedding lookups gave the same bits on 1 or 2 threads and on reruns.
  The exception is ``index_put_(accumulate=True)``, the backward of ``x[index]`` that
  every model uses: with deterministic algorithms *off* it accumulates in thread-race
  order (reruns on 2 threads differed by ~6e-5 on a 400k-row gather). That is why
  ``train`` switches them on.
- Another torch / PyG / MKL version, CPU model or a GPU. PyTorch promises nothing across
  releases or platforms, and MKL picks code paths per processor (Intel's "Conditional
  Numerical Reproducibility" notes; ``MKL_CBWR`` pins one). Expect rounding-size
  differences that training can amplify.
- Distributed runs: equal to the one-process run up to float summation order (below).

Distributed (:mod:`gnn.distributed`): ``torchrun --standalone --nproc_per_node=2 -m
gnn.train --data prepared.pt --distributed`` (or ``... --no-python medkg train ...
--distributed``) trains data-parallel over gloo on CPU: training patients are split
across the processes, gradients are averaged with a global loss normalisation (so two
processes compute the one-process gradient), validation gives rank 0's numbers to all,
and only rank 0 writes files. In full batch every process still runs the whole-graph
forward, so only mini-batch training (``batch_size``) shares out work. Two processes
match one within float rounding (``tests/gnn/test_distributed.py``: test scores within
1e-5).

Files in ``config.out_dir``: ``config.json``, ``metrics.csv`` / ``metrics.jsonl`` (one
row per epoch, rewritten atomically), ``last.pt`` (resumable), ``best.pt`` (best
weights), ``test_metrics.json`` and ``predictions.npz`` (test scores for plots).

Examples:
    >>> from gnn.config import TrainConfig
    >>> from gnn.toy_setup import synthetic_setup
    >>> task, cohort = synthetic_setup(60, seed=0, min_count=2)
    >>> cfg = TrainConfig(model="mlp", epochs=3, n_boot=0, out_dir=None, progress=False)
    >>> result = train(cfg, task, cohort)
    >>> len(result.history), result.test_scores.shape == result.test_y.shape
    (3, True)
"""

from __future__ import annotations

import io
import json
import logging
import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm.auto import tqdm

from gnn import distributed as dist
from gnn.checkpoint import load_checkpoint, load_state, restore, save_checkpoint, save_state
from gnn.config import TrainConfig
from gnn.metrics import auprc, auroc, evaluate_multilabel
from gnn.predictor import PatientPredictor, label_node_index
from gnn.prepared import attach_task, detach_task, fingerprint
from gnn.thresholds import f1_thresholds
from ontologies.atomic import atomic_write
from ontologies.errors import ConfigError

__all__ = ["train", "TrainResult", "link_loss", "link_terms"]

log = logging.getLogger("medkg.train")

# Settings that may change between a killed run and its resumption.
_RESUMABLE = {"epochs", "patience", "progress", "threads", "n_boot", "out_dir"}


@dataclass
class TrainResult:
    """What a training run produced.

    Attributes:
        config: The settings.
        model: The predictor holding the best validation weights (eval mode).
        history: One dict per epoch (``epoch``, ``train_loss``, ``val_loss``,
            ``val_auroc_macro``, ``val_auprc_macro``, ``seconds``).
        monitor: The early-stopping metric.
        best_epoch: Epoch of the best validation metric.
        best_metric: Its value.
        test_metrics: ``{metric: {"value", "low", "high"}}`` on the test split.
        test_scores: Sigmoid scores ``[test patients, labels]``.
        test_y: 0/1 labels, same shape.
        test_patient_ids: Patient ids of the rows.
        label_ids: Label vocabulary.
        out_dir: Folder written to (None if nothing was written).
        thresholds: Per-label decision thresholds tuned on validation ``[labels]``.
    """

    config: TrainConfig
    model: PatientPredictor
    history: list[dict[str, Any]]
    monitor: str
    best_epoch: int
    best_metric: float
    test_metrics: dict[str, dict[str, float]]
    test_scores: np.ndarray
    test_y: np.ndarray
    test_patient_ids: list[str]
    label_ids: list[str]
    out_dir: Path | None = None
    files: dict[str, Path] = field(default_factory=dict)
    thresholds: np.ndarray | None = None

    @property
    def epoch_seconds(self) -> float:
        """Median wall time per epoch (training + validation; the first epoch also
        builds cached graph views, so the median is the steady-state figure)."""
        times = [row["seconds"] for row in self.history]
        return float(np.median(times)) if times else float("nan")


def link_loss(logits: Tensor, y: Tensor, neg_ratio: int = 5) -> Tensor:
    """BCE over every positive (patient, label) pair and sampled negatives.

    For each positive, ``neg_ratio`` (patient, label) pairs are drawn uniformly from the
    rows in ``logits``; draws that hit a positive are discarded. Draws use torch's global
    RNG (seeded and checkpointed by :func:`train`).

    Args:
        logits: Scores ``[n, labels]`` of the rows being trained on.
        y: 0/1 labels of the same shape.
        neg_ratio: Negatives per positive (``n * neg_ratio`` when there are no positives).

    Examples:
        >>> torch.manual_seed(0) and None
        >>> y = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
        >>> float(link_loss(torch.where(y > 0, 5.0, -5.0), y)) < 0.01
        True
    """
    scores, target, _ = _link_pairs(logits, y, neg_ratio)
    return F.binary_cross_entropy_with_logits(scores, target)


def link_terms(logits: Tensor, y: Tensor, neg_ratio: int = 5) -> tuple[Tensor, Tensor]:
    """The unreduced terms of :func:`link_loss` (same draws) and the row of each.

    Distributed training sums the terms of its own rows (see :mod:`gnn.distributed`).

    Returns:
        ``(terms [T], rows [T])``: BCE of every positive, then of the kept negatives.

    Examples:
        >>> torch.manual_seed(0) and None
        >>> terms, rows = link_terms(torch.zeros(2, 3), torch.tensor([[1.0, 0, 0], [0, 0, 1]]))
        >>> rows[:2].tolist(), round(float(terms[0]), 4)  # the positives first; log(2)
        ([0, 1], 0.6931)
    """
    scores, target, rows = _link_pairs(logits, y, neg_ratio)
    return F.binary_cross_entropy_with_logits(scores, target, reduction="none"), rows


def _link_pairs(logits: Tensor, y: Tensor, neg_ratio: int) -> tuple[Tensor, Tensor, Tensor]:
    """(scores, 0/1 targets, rows) of the positives and the sampled negatives."""
    pos = torch.nonzero(y > 0.5)
    n, num = y.shape
    draws = max(len(pos), 1) * neg_ratio if len(pos) else n * neg_ratio
    r = torch.randint(0, n, (draws,))
    c = torch.randint(0, num, (draws,))
    keep = y[r, c] < 0.5
    scores = torch.cat([logits[pos[:, 0], pos[:, 1]], logits[r[keep], c[keep]]])
    target = torch.cat([torch.ones(len(pos)), torch.zeros(int(keep.sum()))])
    return scores, target, torch.cat([pos[:, 0], r[keep]])


def _nan_to_none(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}


def _write_metrics(out: Path, history: list[dict[str, Any]]) -> None:
    buf = io.StringIO()
    pd.DataFrame(history).to_csv(buf, index=False)
    with atomic_write(out / "metrics.csv", "w") as f:
        f.write(buf.getvalue())
    with atomic_write(out / "metrics.jsonl", "w") as f:
        for row in history:
            f.write(json.dumps(_nan_to_none(row)) + "\n")


def _seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class _Run:
    """State of one training run (kept out of ``train`` to keep each step readable)."""

    def __init__(self, config: TrainConfig, task: Any, cohort: Any,
                 distributed: dist.DistContext | None = None):
        self.config, self.task, self.dist = config, task, distributed
        self.prepared = attach_task(cohort, task)
        self.data = self.prepared.data
        store = self.data["patient"]
        self.y = store.y
        self.rows = {s: torch.nonzero(store[f"{s}_mask"]).flatten() for s in
                     ("train", "val", "test")}
        if not len(self.rows["train"]):
            raise ConfigError("the task's train split is empty")
        label_nodes, label_type = None, "drug"
        if config.objective == "link":
            ids = cohort.node_ids.get("drug")
            label_nodes = (torch.full((len(task.label_ids),), -1, dtype=torch.long) if ids is None
                           else torch.from_numpy(ids.get_indexer(task.label_ids)).long())
        elif config.label_readout:
            label_type, label_nodes = label_node_index(cohort, task.label_ids)
        self.model = PatientPredictor.from_config(config, self.data, len(task.label_ids),
                                                  label_nodes, label_type or "drug")
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr,
                                          weight_decay=config.weight_decay)
        self.pos_weight = None
        if config.pos_weight:
            y_train = self.y[self.rows["train"]]
            pos = y_train.sum(0)
            self.pos_weight = torch.where(pos > 0, (len(y_train) - pos) / pos.clamp(min=1), 1.0)
        y_val = self.y[self.rows["val"]]
        both = ((y_val > 0).any(0) & (y_val == 0).any(0)).any() if len(y_val) else False
        self.monitor = "val_auprc_macro" if bool(both) else "val_loss"
        self.sampler = None
        # What training calls: the model, or its DDP wrapper (gradient averaging across
        # ranks). Evaluation and checkpoints use the bare model.
        self.net = self.model if distributed is None else distributed.wrap(
            self.model, static=config.batch_size is None)
        if distributed is not None and config.batch_size is not None:
            dist.batch_chunks(len(self.rows["train"]), config.batch_size,
                              distributed.world_size)  # too few patients fails here

    # ------------------------------------------------------------------ steps
    def loss(self, logits: Tensor, y: Tensor) -> Tensor:
        if self.config.objective == "link":
            return link_loss(logits, y, self.config.neg_ratio)
        return F.binary_cross_entropy_with_logits(logits, y, pos_weight=self.pos_weight)

    def loss_terms(self, logits: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        """Unreduced loss terms (their mean is :meth:`loss`) and each term's row."""
        if self.config.objective == "link":
            return link_terms(logits, y, self.config.neg_ratio)
        terms = F.binary_cross_entropy_with_logits(logits, y, pos_weight=self.pos_weight,
                                                   reduction="none")
        rows = torch.arange(len(y)).unsqueeze(1).expand_as(terms)
        return terms.flatten(), rows.flatten()

    def node_loader(self, seeds: Tensor, sampler_seed: int, **kwargs: Any):
        """A ``NodeLoader`` sampling neighbourhoods of the patient rows ``seeds``; the
        neighbour draws restart from ``sampler_seed``."""
        from torch_geometric.loader import NodeLoader

        from gnn.sampler import CSRNeighborSampler

        view = self.model.graph_view(self.data)
        if self.sampler is None:
            self.sampler = CSRNeighborSampler(view, self.config.num_neighbors,
                                              seed=self.config.seed)
        self.sampler.generator.manual_seed(sampler_seed)
        return NodeLoader(view, node_sampler=self.sampler, input_nodes=("patient", seeds),
                          **kwargs)

    def _batches(self, epoch: int):
        """Mini-batches of training patients: row indices (mlp) or sampled subgraphs."""
        cfg, rows = self.config, self.rows["train"]
        if not self.model.is_graph:
            perm = rows[torch.randperm(len(rows))]
            for start in range(0, len(perm), cfg.batch_size):
                idx = perm[start:start + cfg.batch_size]
                yield idx, None
            return
        # Reseeded per epoch, so a resumed run draws the same neighbours.
        loader = self.node_loader(rows, cfg.seed * 1_000_003 + epoch,
                                  batch_size=cfg.batch_size, shuffle=True)
        for batch in loader:
            yield batch["patient"].n_id[: batch["patient"].batch_size], batch

    def train_epoch(self, epoch: int) -> float:
        if self.dist is not None:
            return dist.train_epoch(self, self.dist, epoch)
        self.model.train()
        if self.config.batch_size is None:
            rows = self.rows["train"]
            self.optimizer.zero_grad()
            loss = self.loss(self.model(self.data, index=rows), self.y[rows])
            loss.backward()
            self.optimizer.step()
            return float(loss.detach())
        total, count = 0.0, 0
        for rows, batch in self._batches(epoch):
            self.optimizer.zero_grad()
            logits = self.model(self.data, index=rows if batch is None else None, batch=batch)
            loss = self.loss(logits, self.y[rows])
            loss.backward()
            self.optimizer.step()
            total += float(loss.detach()) * len(rows)
            count += len(rows)
        return total / max(count, 1)

    @torch.no_grad()
    def logits(self, split: str) -> Tensor:
        """Full-graph logits of one split's patients (evaluation never samples)."""
        self.model.eval()
        return self.model(self.data, index=self.rows[split])

    def validate(self) -> dict[str, float]:
        if not len(self.rows["val"]):
            return {"val_loss": float("nan"), "val_auroc_macro": float("nan"),
                    "val_auprc_macro": float("nan")}
        logits, y = self.logits("val"), self.y[self.rows["val"]]
        scores = torch.sigmoid(logits).numpy()
        return {"val_loss": float(F.binary_cross_entropy_with_logits(logits, y)),
                "val_auroc_macro": auroc(y.numpy(), scores),
                "val_auprc_macro": auprc(y.numpy(), scores)}


def _score(row: dict[str, float], monitor: str) -> float:
    value = row[monitor]
    value = -value if monitor == "val_loss" else value
    return -math.inf if math.isnan(value) else value


def _check_resume(ckpt: dict[str, Any], config: TrainConfig, fp: dict[str, Any],
                  path: Path) -> None:
    old = {k: v for k, v in ckpt.get("config", {}).items() if k not in _RESUMABLE}
    new = {k: v for k, v in config.to_dict().items() if k not in _RESUMABLE}
    changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    if changed:
        raise ConfigError(f"{path}: cannot resume, settings changed: "
                          + ", ".join(f"{k} {old.get(k)!r} -> {new.get(k)!r}" for k in changed))
    old_fp = dict(ckpt.get("fingerprint") or {})
    old_world, world = old_fp.pop("world_size", 1), fp.get("world_size", 1)
    if old_world != world and config.batch_size is not None:
        # Full batch: the gradient is the global one for any number of processes.
        raise ConfigError(f"{path}: cannot resume a mini-batch run of {old_world} process(es) "
                          f"with {world}: each rank's share of a batch and its random draws "
                          f"depend on the process count; relaunch with "
                          f"--nproc_per_node={old_world}")
    if old_fp != {k: v for k, v in fp.items() if k != "world_size"}:
        raise ConfigError(f"{path}: cannot resume on different data (node/edge counts, "
                          "labels or splits differ from the checkpointed run)")


def train(config: TrainConfig, task: Any = None, cohort: Any = None,
          resume: bool = False, distributed: dist.DistContext | None = None) -> TrainResult:
    """Trains, early-stops and tests one model.

    Args:
        config: The settings.
        task: A :class:`~gnn.tasks.TaskData` (``None``: the task attached to ``cohort``).
        cohort: The :class:`~graphs.cohort.CohortGraph` built from ``task.inputs`` (the
            no-graph ``mlp`` reads its patient-level features from it too).
        resume: Continue from ``<out_dir>/last.pt`` when it exists.
        distributed: This process's place in a data-parallel run
            (:func:`gnn.distributed.init_from_env`); ``None`` trains in this process alone.

    Returns:
        A :class:`TrainResult` with the best model and its test metrics.

    Raises:
        ConfigError: No cohort, an empty train split, or a resume against other settings.
    """
    if cohort is None:
        raise ConfigError("train needs the cohort graph (CohortGraph): graph models run on it "
                          "and the mlp baseline reads its patient-level features from it")
    if task is None:
        task = detach_task(cohort)
    if config.task is not None and config.task != task.task:
        raise ConfigError(f"task={config.task!r} but the data carries task {task.task!r}")
    previous = (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled(),
                torch.is_deterministic_algorithms_warn_only_enabled())
    try:
        if config.threads is not None:
            torch.set_num_threads(config.threads)
        torch.use_deterministic_algorithms(True, warn_only=True)
        return _train(config, task, cohort, resume, distributed)
    finally:
        torch.set_num_threads(previous[0])
        torch.use_deterministic_algorithms(previous[1], warn_only=previous[2])


def _train(config: TrainConfig, task: Any, cohort: Any, resume: bool,
           ctx: dist.DistContext | None) -> TrainResult:
    _seed(config.seed)  # every rank alike: same initial weights and dropout draws
    run = _Run(config, task, cohort, ctx)
    model, fp = run.model, fingerprint(cohort, task)
    main = ctx is None or ctx.is_main  # only rank 0 writes files
    if ctx is not None and ctx.world_size > 1:
        fp["world_size"] = ctx.world_size
    out = Path(config.out_dir) if config.out_dir is not None else None
    history: list[dict[str, Any]] = []
    best_metric, best_epoch, best_state, start = -math.inf, 0, None, 1
    if out is not None:
        if main:
            out.mkdir(parents=True, exist_ok=True)
        # Every rank reads rank 0's last.pt (the training steps cannot run ahead of it).
        if resume and (out / "last.pt").is_file():
            ckpt = load_checkpoint(out / "last.pt")
            _check_resume(ckpt, config, fp, out / "last.pt")
            restore(ckpt, model, run.optimizer)
            history, start = list(ckpt["history"]), ckpt["epoch"] + 1
            best_metric, best_epoch = ckpt["best_metric"], ckpt["best_epoch"]
            if (out / "best.pt").is_file():
                best_state = load_state(out / "best.pt")["model"]
            log.info("resuming %s at epoch %d", out, start)
        elif resume:
            log.info("no %s: starting a fresh run", out / "last.pt")
        if main:
            config.save(out / "config.json")
    stop = config.patience is not None and best_epoch and start - 1 - best_epoch >= \
        config.patience
    bar = tqdm(range(start, config.epochs + 1), desc=f"train {config.model}",
               disable=not config.progress or stop or not main, leave=False)
    for epoch in bar:
        if stop:
            break
        began = time.perf_counter()
        train_loss = run.train_epoch(epoch)
        row = {"epoch": epoch, "train_loss": train_loss, **run.validate()}
        row["seconds"] = time.perf_counter() - began
        if ctx is not None:  # rank 0's numbers everywhere, so every rank stops alike
            row = ctx.broadcast(row)
        history.append(row)
        score = _score(row, run.monitor)
        if best_epoch == 0 or score > best_metric:
            best_metric, best_epoch = score, epoch
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            if out is not None and main:
                save_state(out / "best.pt", best_state, epoch=epoch, metric=row[run.monitor],
                           monitor=run.monitor)
        if out is not None and main:
            save_checkpoint(out / "last.pt", model, run.optimizer, epoch, best_metric,
                            best_epoch, history, config.to_dict(), fp)
            _write_metrics(out, history)
        bar.set_postfix(loss=f"{train_loss:.4f}", val=f"{row[run.monitor]:.4f}")
        stop = config.patience is not None and epoch - best_epoch >= config.patience
    if best_state is not None:
        model.load_state_dict(best_state)
    return _test(run, task, history, best_metric, best_epoch, out)


def _test(run: _Run, task: Any, history: list[dict[str, Any]], best_metric: float,
          best_epoch: int, out: Path | None) -> TrainResult:
    config = run.config
    rows = run.rows["test"]
    y = run.y[rows].numpy()
    scores = torch.sigmoid(run.logits("test")).numpy() if len(rows) else np.zeros(y.shape)
    ddi = task.metadata.get("ddi_pairs") if task.metadata else None
    ctx = run.dist
    main = ctx is None or ctx.is_main
    metrics = {}
    # Thresholded metrics (F1, DDI rate, ...) use per-label cut-offs tuned on validation.
    thresholds = np.full(y.shape[1], 0.5)
    if len(run.rows["val"]):
        thresholds = f1_thresholds(run.y[run.rows["val"]].numpy(),
                                   torch.sigmoid(run.logits("val")).numpy())
    if len(rows) and main:  # the bootstrap runs once, on rank 0
        metrics = evaluate_multilabel(y, scores, threshold=thresholds, n_boot=config.n_boot,
                                      seed=config.seed,
                                      ddi_pairs=np.asarray(ddi, dtype=np.int64).reshape(-1, 2)
                                      if ddi else None, progress=config.progress)
    if ctx is not None:
        metrics = ctx.broadcast(metrics)
    patient_ids = run.prepared.ids("patient", rows.tolist())
    monitor_value = -best_metric if run.monitor == "val_loss" else best_metric
    result = TrainResult(config, run.model.eval(), history, run.monitor, best_epoch,
                         monitor_value, metrics, scores, y, patient_ids, list(task.label_ids),
                         out, thresholds=thresholds)
    if out is not None and main:
        with atomic_write(out / "test_metrics.json", "w") as f:
            json.dump({"model": config.model, "best_epoch": best_epoch, "monitor": run.monitor,
                       "best_metric": monitor_value, "epoch_seconds": result.epoch_seconds,
                       "thresholds": dict(zip(task.label_ids, thresholds.tolist(),
                                              strict=True)),
                       "metrics": metrics}, f, indent=2, allow_nan=True)
        buf = io.BytesIO()
        np.savez(buf, scores=scores, y=y, patient_ids=np.array(patient_ids, dtype=str),
                 label_ids=np.array(task.label_ids, dtype=str))
        with atomic_write(out / "predictions.npz", "wb") as f:
            f.write(buf.getvalue())
        result.files = {name: out / name for name in (
            "config.json", "metrics.csv", "metrics.jsonl", "last.pt", "best.pt",
            "test_metrics.json", "predictions.npz") if (out / name).exists()}
    return result
