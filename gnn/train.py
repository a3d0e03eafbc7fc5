"""Training loop and CLI: ``python -m gnn.train --data prepared.pt --model gat --epochs 50``.

``train(config, task, cohort)`` builds a :class:`~gnn.predictor.PatientPredictor`, trains it
with Adam on BCE-with-logits (optional ``pos_weight``; negative sampling for
``objective="link"``), validates every epoch (early stopping on validation AUPRC macro,
or validation loss when no validation label has both classes), keeps the best weights,
and evaluates them once on the test split with :func:`gnn.metrics.evaluate_multilabel`
(bootstrap intervals). Every model sees the task's own split, so comparisons are fair.

Reproducibility: torch, numpy and ``random`` are seeded from ``config.seed`` and
``torch.use_deterministic_algorithms(True, warn_only=True)`` is on during training; the
CPU kernels used here are deterministic, so a rerun gives identical weights. Mini-batch
neighbour sampling is reseeded per epoch from (seed, epoch) and shuffling draws from
torch's saved RNG, so ``resume`` continues a killed run exactly.

Files in ``config.out_dir``: ``config.json``, ``metrics.csv`` / ``metrics.jsonl`` (one
row per epoch, rewritten atomically), ``last.pt`` (resumable), ``best.pt`` (best
weights), ``test_metrics.json`` and ``predictions.npz`` (test scores for plots).

Examples:
    >>> from gnn.config import TrainConfig
    >>> from gnn.demo import synthetic_setup
    >>> task, cohort = synthetic_setup(60, seed=0, min_count=2)
    >>> cfg = TrainConfig(model="mlp", epochs=3, n_boot=0, out_dir=None, progress=False)
    >>> result = train(cfg, task, cohort)
    >>> len(result.history), result.test_scores.shape == result.test_y.shape
    (3, True)
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import math
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm.auto import tqdm

from gnn.checkpoint import load_checkpoint, load_state, restore, save_checkpoint, save_state
from gnn.config import TrainConfig
from gnn.metrics import auprc, auroc, evaluate_multilabel
from gnn.predictor import PatientPredictor
from gnn.prepared import attach_task, detach_task, fingerprint, has_task
from ontologies.atomic import atomic_write
from ontologies.errors import ConfigError, MedKGError

__all__ = ["train", "TrainResult", "link_loss", "attach_task", "detach_task",
           "add_train_parser", "build_parser", "main"]

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
    pos = torch.nonzero(y > 0.5)
    n, num = y.shape
    draws = max(len(pos), 1) * neg_ratio if len(pos) else n * neg_ratio
    r = torch.randint(0, n, (draws,))
    c = torch.randint(0, num, (draws,))
    keep = y[r, c] < 0.5
    scores = torch.cat([logits[pos[:, 0], pos[:, 1]], logits[r[keep], c[keep]]])
    target = torch.cat([torch.ones(len(pos)), torch.zeros(int(keep.sum()))])
    return F.binary_cross_entropy_with_logits(scores, target)


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

    def __init__(self, config: TrainConfig, task: Any, cohort: Any):
        self.config, self.task = config, task
        self.prepared = attach_task(cohort, task)
        self.data = self.prepared.data
        store = self.data["patient"]
        self.y = store.y
        self.rows = {s: torch.nonzero(store[f"{s}_mask"]).flatten() for s in
                     ("train", "val", "test")}
        if not len(self.rows["train"]):
            raise ConfigError("the task's train split is empty")
        label_nodes = None
        if config.objective == "link":
            ids = cohort.node_ids.get("drug")
            label_nodes = (torch.full((len(task.label_ids),), -1, dtype=torch.long) if ids is None
                           else torch.from_numpy(ids.get_indexer(task.label_ids)).long())
        self.model = PatientPredictor.from_config(config, self.data, len(task.label_ids),
                                                  label_nodes)
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

    # ------------------------------------------------------------------ steps
    def loss(self, logits: Tensor, y: Tensor) -> Tensor:
        if self.config.objective == "link":
            return link_loss(logits, y, self.config.neg_ratio)
        return F.binary_cross_entropy_with_logits(logits, y, pos_weight=self.pos_weight)

    def _batches(self, epoch: int):
        """Mini-batches of training patients: row indices (mlp) or sampled subgraphs."""
        cfg, rows = self.config, self.rows["train"]
        if not self.model.is_graph:
            perm = rows[torch.randperm(len(rows))]
            for start in range(0, len(perm), cfg.batch_size):
                idx = perm[start:start + cfg.batch_size]
                yield idx, None
            return
        from torch_geometric.loader import NodeLoader

        from gnn.sampler import CSRNeighborSampler

        view = self.model.graph_view(self.data)
        if self.sampler is None:
            self.sampler = CSRNeighborSampler(view, cfg.num_neighbors, seed=cfg.seed)
        # Reseeded per epoch, so a resumed run draws the same neighbours.
        self.sampler.generator.manual_seed(cfg.seed * 1_000_003 + epoch)
        loader = NodeLoader(view, node_sampler=self.sampler, input_nodes=("patient", rows),
                            batch_size=cfg.batch_size, shuffle=True)
        for batch in loader:
            yield batch["patient"].n_id[: batch["patient"].batch_size], batch

    def train_epoch(self, epoch: int) -> float:
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
    if ckpt.get("fingerprint") != fp:
        raise ConfigError(f"{path}: cannot resume on different data (node/edge counts, "
                          "labels or splits differ from the checkpointed run)")


def train(config: TrainConfig, task: Any = None, cohort: Any = None,
          resume: bool = False) -> TrainResult:
    """Trains, early-stops and tests one model.

    Args:
        config: The settings.
        task: A :class:`~gnn.tasks.TaskData` (``None``: the task attached to ``cohort``).
        cohort: The :class:`~graphs.cohort.CohortGraph` built from ``task.inputs`` (the
            no-graph ``mlp`` reads its patient-level features from it too).
        resume: Continue from ``<out_dir>/last.pt`` when it exists.

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
        return _train(config, task, cohort, resume)
    finally:
        torch.set_num_threads(previous[0])
        torch.use_deterministic_algorithms(previous[1], warn_only=previous[2])


def _train(config: TrainConfig, task: Any, cohort: Any, resume: bool) -> TrainResult:
    _seed(config.seed)
    run = _Run(config, task, cohort)
    model, fp = run.model, fingerprint(cohort, task)
    out = Path(config.out_dir) if config.out_dir is not None else None
    history: list[dict[str, Any]] = []
    best_metric, best_epoch, best_state, start = -math.inf, 0, None, 1
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
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
        config.save(out / "config.json")
    stop = config.patience is not None and best_epoch and start - 1 - best_epoch >= \
        config.patience
    bar = tqdm(range(start, config.epochs + 1), desc=f"train {config.model}",
               disable=not config.progress or stop, leave=False)
    for epoch in bar:
        if stop:
            break
        began = time.perf_counter()
        train_loss = run.train_epoch(epoch)
        row = {"epoch": epoch, "train_loss": train_loss, **run.validate()}
        row["seconds"] = time.perf_counter() - began
        history.append(row)
        score = _score(row, run.monitor)
        if best_epoch == 0 or score > best_metric:
            best_metric, best_epoch = score, epoch
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            if out is not None:
                save_state(out / "best.pt", best_state, epoch=epoch, metric=row[run.monitor],
                           monitor=run.monitor)
        if out is not None:
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
    metrics = {}
    if len(rows):
        metrics = evaluate_multilabel(y, scores, n_boot=config.n_boot, seed=config.seed,
                                      ddi_pairs=np.asarray(ddi, dtype=np.int64).reshape(-1, 2)
                                      if ddi else None, progress=config.progress)
    patient_ids = run.prepared.ids("patient", rows.tolist())
    monitor_value = -best_metric if run.monitor == "val_loss" else best_metric
    result = TrainResult(config, run.model.eval(), history, run.monitor, best_epoch,
                         monitor_value, metrics, scores, y, patient_ids, list(task.label_ids),
                         out)
    if out is not None:
        with atomic_write(out / "test_metrics.json", "w") as f:
            json.dump({"model": config.model, "best_epoch": best_epoch, "monitor": run.monitor,
                       "best_metric": monitor_value, "epoch_seconds": result.epoch_seconds,
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


# ---------------------------------------------------------------------- command line
def _int_or_none(text: str) -> int | str:
    return text if text.lower() in ("none", "full") else int(text)


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags shared by ``python -m gnn.train`` and ``medkg train`` (None = not given)."""
    parser.add_argument("--data", required=True,
                        help="prepared cohort graph (CohortGraph.save of attach_task(...))")
    parser.add_argument("--config", help="YAML/JSON settings file; flags override it")
    parser.add_argument("--resume", action="store_true",
                        help="continue from <out>/last.pt if it exists")
    parser.add_argument("--out", dest="out_dir", help="output folder (default medkg-run)")
    parser.add_argument("--model", help="gcn, gat, gatv2, hetero_sage, hetero_gat, rgcn, "
                                        "hgt or mlp")
    parser.add_argument("--task", help="expected task name (checked against the data)")
    parser.add_argument("--fusion", help="early, intermediate, late, attention or gated")
    parser.add_argument("--inputs", nargs="+", help="patient-level groups: demographics, "
                                                    "history_codes, note, image, ...")
    parser.add_argument("--graph-modalities", dest="graph_modalities",
                        action=argparse.BooleanOptionalAction, default=None,
                        help="keep modality nodes in the graph")
    for name, kind in (("hidden", int), ("layers", int), ("heads", int), ("dropout", float),
                       ("epochs", int), ("lr", float), ("weight-decay", float),
                       ("patience", _int_or_none), ("seed", int),
                       ("batch-size", _int_or_none), ("n-boot", int), ("neg-ratio", int),
                       ("threads", _int_or_none)):
        parser.add_argument(f"--{name}", dest=name.replace("-", "_"), type=kind)
    parser.add_argument("--num-neighbors", dest="num_neighbors", nargs="+", type=int,
                        help="neighbours per edge type and hop, e.g. 10 5")
    parser.add_argument("--objective", help="multilabel or link")
    parser.add_argument("--pos-weight", dest="pos_weight",
                        action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="show progress bars")


def _cmd_train(args: argparse.Namespace) -> int:
    from graphs.cohort import CohortGraph

    config = TrainConfig.from_args(args)
    cohort = CohortGraph.load(args.data)
    if not has_task(cohort):
        raise ConfigError(f"{args.data}: no task attached; write it with "
                          "gnn.train.attach_task(cohort, task).save(path) or python -m gnn.demo")
    result = train(config, None, cohort, resume=args.resume)
    print(f"{config.model}: best epoch {result.best_epoch} ({result.monitor} "
          f"{result.best_metric:.4f}), {result.epoch_seconds:.3f} s/epoch")
    for name in ("auroc_macro", "auroc_micro", "auprc_macro", "auprc_micro", "f1_macro"):
        if name in result.test_metrics:
            m = result.test_metrics[name]
            print(f"  test {name:12s} {m['value']:.4f} [{m['low']:.4f}, {m['high']:.4f}]")
    if result.out_dir is not None and result.test_metrics:
        from gnn.experiment import outcome_from_result
        from gnn.report import write_report

        write_report({config.model: outcome_from_result(config.model, result)}, result.out_dir,
                     title=f"medkg train: {config.model}")
        print(f"written to {result.out_dir} (report.md, plots, checkpoints, metrics)")
    return 0


def add_train_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Registers the ``train`` subcommand (for ``medkg train``); sets ``func``."""
    parser = subparsers.add_parser("train", help="train and test a model on a prepared file",
                                   description=__doc__.split("\n")[0])
    _add_arguments(parser)
    parser.set_defaults(func=_cmd_train)
    return parser


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``python -m gnn.train``."""
    parser = argparse.ArgumentParser(prog="python -m gnn.train",
                                     description=__doc__.split("\n")[0])
    _add_arguments(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs ``python -m gnn.train``; returns the exit status (2 on a medkg error)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return _cmd_train(args)
    except MedKGError as err:
        print(f"medkg: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
