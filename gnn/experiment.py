"""Ablations: many models and trivial baselines on one split, labels and metric code.

``run_ablation(task, cohort, configs)`` trains every :class:`~gnn.config.TrainConfig` on the
task's own split and adds two baselines scored by the same
:func:`gnn.metrics.evaluate_multilabel` on the same test rows, in the same order (so
bootstrap resamples with the same seed pair up across models):

- ``prevalence``: every test patient gets the train-set frequency of each label;
- ``history copy``: a label's score is 1 if the patient's history already has it
  (``task.history``), else 0.

:func:`ablation_configs` writes the lecture's ablation: each patient-level feature group
alone, all of them without the knowledge graph, the graph with codes only, and the graph
with every modality.

Examples:
    >>> from gnn.toy_setup import synthetic_setup
    >>> task, cohort = synthetic_setup(60, seed=0, min_count=2)
    >>> cfg = TrainConfig(model="mlp", epochs=2, n_boot=0, out_dir=None, progress=False)
    >>> table = run_ablation(task, cohort, {"mlp": cfg})
    >>> sorted(table["model"].unique())
    ['history copy', 'mlp', 'prevalence']
    >>> list(table.columns)
    ['model', 'kind', 'inputs', 'metric', 'value', 'low', 'high']
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from gnn.config import TrainConfig
from gnn.metrics import evaluate_multilabel
from gnn.predictor import available_inputs
from gnn.prepared import attach_task
from ontologies.errors import ConfigError

__all__ = ["Outcome", "run_experiments", "run_ablation", "ablation_table", "ablation_configs",
           "baseline_outcomes", "outcome_from_result"]


@dataclass
class Outcome:
    """One row group of an ablation: a trained model or a baseline.

    Attributes:
        name: Display name.
        kind: ``model`` or ``baseline``.
        inputs: What it sees, in words.
        metrics: ``{metric: {"value", "low", "high"}}`` on the test split.
        y_true: Test labels ``[n, L]``.
        y_score: Test scores ``[n, L]``.
        history: Per-epoch rows (models only).
        epoch_seconds: Mean seconds per epoch (models only).
        config: Settings (models only).
    """

    name: str
    kind: str
    inputs: str
    metrics: dict[str, dict[str, float]]
    y_true: np.ndarray
    y_score: np.ndarray
    history: list[dict[str, Any]] = field(default_factory=list)
    epoch_seconds: float = float("nan")
    config: dict[str, Any] | None = None


def _describe(model: Any) -> str:
    parts = list(model.inputs)
    if model.is_graph:
        graph = f"graph ({model.model_name}" + ("" if model.graph_modalities
                                                 else ", no modality nodes") + ")"
        parts = [graph] + parts
    return " + ".join(parts)


def outcome_from_result(name: str, result: Any) -> Outcome:
    """Wraps a :class:`gnn.train.TrainResult` as an :class:`Outcome`."""
    return Outcome(name, "model", _describe(result.model), result.test_metrics, result.test_y,
                   result.test_scores, list(result.history), result.epoch_seconds,
                   result.config.to_dict())


def baseline_outcomes(task: Any, cohort: Any, n_boot: int = 1000, seed: int = 0,
                      progress: bool = False) -> dict[str, Outcome]:
    """The ``prevalence`` and ``history copy`` baselines on the task's test split."""
    store = attach_task(cohort, task).data["patient"]
    train_rows = torch.nonzero(store.train_mask).flatten()
    test_rows = torch.nonzero(store.test_mask).flatten()
    if not len(test_rows):
        raise ConfigError("the task's test split is empty")
    y = store.y[test_rows].numpy()
    prevalence = store.y[train_rows].mean(0).numpy()
    scores = {"prevalence": (np.broadcast_to(prevalence, y.shape).copy(), "train-set label "
                             "frequency"),
              "history copy": (store.label_history[test_rows].numpy(), "labels already in "
                               "the history")}
    ddi = (task.metadata or {}).get("ddi_pairs")
    ddi = np.asarray(ddi, dtype=np.int64).reshape(-1, 2) if ddi else None
    return {name: Outcome(name, "baseline", inputs,
                          evaluate_multilabel(y, s, n_boot=n_boot, seed=seed, ddi_pairs=ddi,
                                              progress=progress), y, s)
            for name, (s, inputs) in scores.items()}


def run_experiments(task: Any, cohort: Any, configs: dict[str, TrainConfig],
                    baselines: bool = True, out_dir: str | Path | None = None
                    ) -> dict[str, Outcome]:
    """Trains every config (and scores the baselines); returns outcomes by name.

    Args:
        task: The task (one split for all).
        cohort: Its cohort graph.
        configs: Display name -> settings.
        baselines: Add ``prevalence`` and ``history copy``.
        out_dir: When given, each config writes into ``out_dir/<name>``; otherwise into
            its own ``out_dir`` (``<out_dir>/<name>`` where several configs share one).
    """
    from gnn.train import train

    if not configs and not baselines:
        raise ConfigError("nothing to run: no configs and baselines=False")
    outcomes: dict[str, Outcome] = {}
    dirs = [c.out_dir for c in configs.values() if c.out_dir is not None]
    for name, cfg in configs.items():
        if out_dir is not None:
            cfg = dataclasses.replace(cfg, out_dir=str(Path(out_dir) / _slug(name)))
        elif cfg.out_dir is not None and dirs.count(cfg.out_dir) > 1:
            # runs sharing a folder would overwrite each other's checkpoints
            cfg = dataclasses.replace(cfg, out_dir=str(Path(cfg.out_dir) / _slug(name)))
        outcomes[name] = outcome_from_result(name, train(cfg, task, cohort))
    if baselines:
        first = next(iter(configs.values()), TrainConfig(out_dir=None))
        outcomes.update(baseline_outcomes(task, cohort, first.n_boot, first.seed,
                                          first.progress))
    return outcomes


def ablation_table(outcomes: dict[str, Outcome]) -> pd.DataFrame:
    """Tidy table: one row per (model, metric) with value and interval."""
    rows = [{"model": o.name, "kind": o.kind, "inputs": o.inputs, "metric": metric,
             "value": m["value"], "low": m["low"], "high": m["high"]}
            for o in outcomes.values() for metric, m in o.metrics.items()]
    return pd.DataFrame(rows, columns=["model", "kind", "inputs", "metric", "value", "low",
                                       "high"])


def run_ablation(task: Any, cohort: Any, configs: dict[str, TrainConfig],
                 baselines: bool = True, out_dir: str | Path | None = None) -> pd.DataFrame:
    """:func:`run_experiments` as a tidy table (see :func:`ablation_table`)."""
    return ablation_table(run_experiments(task, cohort, configs, baselines, out_dir))


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "run"


def ablation_configs(cohort: Any, base: TrainConfig | None = None,
                     graph_model: str = "hetero_sage") -> dict[str, TrainConfig]:
    """The lecture's ablation as named configs sharing ``base``'s other settings.

    ``mlp-<group>`` each patient-level group alone; ``mlp-all`` every group without the
    graph (multimodal, no KG); ``<graph_model>-kg`` the graph without modality nodes
    (KG + codes); ``<graph_model>-kg-multimodal`` the full graph plus modality
    summaries (multimodal + KG).

    Examples:
        >>> from graphs.cohort import CohortBuilder
        >>> from graphs.cohort.demo import tiny_features, tiny_kg, tiny_records
        >>> cohort = CohortBuilder(tiny_kg()).build(tiny_records(), tiny_features())
        >>> list(ablation_configs(cohort, TrainConfig(out_dir=None)))
        ['mlp-demographics', 'mlp-history_codes', 'mlp-note', 'mlp-all', 'hetero_sage-kg',
         'hetero_sage-kg-multimodal']
    """
    base = base or TrainConfig()
    groups = list(available_inputs(cohort.data))
    plain = dict(fusion=None, inputs=None, graph_modalities=True)
    configs = {f"mlp-{g}": dataclasses.replace(base, **{**plain, "model": "mlp",
                                                        "inputs": [g]}) for g in groups}
    configs["mlp-all"] = dataclasses.replace(base, **{**plain, "model": "mlp",
                                                      "inputs": groups})
    configs[f"{graph_model}-kg"] = dataclasses.replace(
        base, **{**plain, "model": graph_model, "graph_modalities": False,
                 "inputs": [g for g in groups if g == "demographics"]})
    configs[f"{graph_model}-kg-multimodal"] = dataclasses.replace(
        base, **{**plain, "model": graph_model})
    if base.out_dir is not None:  # one folder per run, or they would overwrite each other
        configs = {name: dataclasses.replace(cfg, out_dir=str(Path(base.out_dir) / _slug(name)))
                   for name, cfg in configs.items()}
    return configs

