"""The main job, ``medkg demo``: the whole toolkit end to end on the planted-truth cohort.

Steps (each timed and printed):

1. knowledge graph: the full ICD-10-CM FY2026 tabular list plus the synthetic world's
   planted medical knowledge (drug ``treats``/``interacts_with``, ``increases_risk_of``,
   ``has_causal_gene``; :func:`graphs.synthetic.knowledge_tables`);
2. cohort: :func:`graphs.synthetic.generate_cohort` (notes, chest images, ECGs, genomes);
3. embeddings with the real encoders (:func:`graphs.embed.embed_records`: MiniLM for
   notes, randomly initialised CNNs for the other modalities), cached on disk;
4. per task (comorbidity: ICD-10-CM categories at the last visit from the history;
   treatment: drugs of the last visit), the leak-free inputs, the merged cohort graph
   (KG + patients + modality nodes) and the ablation: each input group alone (MLP),
   all modalities + codes without the KG (MLP), the KG graph with codes only, and the
   multimodal graph with GCN and GAT (ICD category labels also read out through their
   KG nodes, :func:`ablation_for`);
   plus the prevalence and history-copy baselines; all on one split with one metric code
   (bootstrap 95% CIs), and paired bootstrap comparisons of multimodal + KG against the
   best single modality, the best single input, multimodal without KG and KG alone;
5. reports (JSON, Markdown, PNG plots) per task and one CDSS patient report.

Everything is seeded; a re-run with the same settings reproduces the table.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from ontologies.atomic import atomic_write
from ontologies.errors import ConfigError

__all__ = ["DemoConfig", "run_demo", "add_demo_parser", "ablation_for", "features_for_inputs",
           "key_comparisons"]

log = logging.getLogger(__name__)

#: Metrics shown in the printed ablation table.
TABLE_METRICS = ("auroc_macro", "auprc_macro", "f1_micro")


@dataclass
class DemoConfig:
    """Settings of ``medkg demo``.

    Attributes:
        patients: Cohort size.
        seed: Seed of the cohort, encoders, splits and models.
        epochs: Maximum training epochs per model (early stopping usually ends sooner).
        hidden: Hidden size of every model.
        n_boot: Bootstrap resamples for the confidence intervals.
        tasks: Which tasks to run.
        out: Output folder.
        progress: Show progress bars.
    """

    patients: int = 600  # MiniLM embeds ~20 notes/s here: 600 patients keep the demo ~10 min
    seed: int = 0  # everything is seeded from this
    epochs: int = 200  # early stopping usually ends runs sooner
    hidden: int = 64  # enough for a few dozen labels
    layers: int = 2  # patient <- visit <- code; label readout reaches the ICD category
    patience: int = 30  # validation on ~90 patients is noisy: 10 stopped GATs too early
    n_boot: int = 500  # 95% percentile intervals stable to ~0.005
    tasks: tuple[str, ...] = ("comorbidity", "treatment")  # the two tasks of the lecture
    out: str = "medkg-demo"  # relative: works from any clone
    progress: bool = True  # silence with --quiet

    def __post_init__(self) -> None:
        if not isinstance(self.patients, int) or self.patients < 100:
            raise ConfigError(f"patients={self.patients!r}: expected an integer >= 100")
        if self.epochs < 1 or self.hidden < 1 or self.n_boot < 10:
            raise ConfigError("epochs and hidden must be >= 1 and n_boot >= 10")
        bad = [t for t in self.tasks if t not in ("comorbidity", "treatment")]
        if bad or not self.tasks:
            raise ConfigError(f"tasks={self.tasks!r}: expected comorbidity and/or treatment")


def ablation_for(cohort: Any, base: Any, label_ids: list[str] | None = None
                 ) -> dict[str, Any]:
    """The lecture's ablation plus MLP vs GCN vs GAT on one graph.

    Graph models read labels out through their own nodes (``label_readout``) when the
    labels are concepts patients are not linked to directly: ICD-10-CM categories are
    three hops from a patient (patient <- visit <- code <- category), one more than the
    two message-passing layers reach. Drug labels are recorded codes (two hops), and
    there the readout hurt: on the 600-patient demo cohort, treatment AUROC 0.692 with it
    vs 0.886 without (GAT, ``python benchmarks/bench_label_readout.py``).
    """
    from gnn.experiment import ablation_configs

    configs = ablation_configs(cohort, base, graph_model="gat")
    configs["gcn-kg-multimodal"] = dataclasses.replace(configs["gat-kg-multimodal"],
                                                       model="gcn")
    readout = label_ids is not None and labels_beyond_codes(cohort, label_ids)
    return {name: dataclasses.replace(cfg, label_readout=readout and cfg.model != "mlp")
            for name, cfg in configs.items()}


def labels_beyond_codes(cohort: Any, label_ids: list[str]) -> bool:
    """True when most labels are graph nodes that no visit or patient links to directly.

    Comorbidity labels are ICD-10-CM categories (``E11``) while visits record their
    subcodes (``E11.9``); treatment labels are the drugs visits record.

    Examples:
        >>> from graphs.cohort import CohortBuilder
        >>> from graphs.cohort.demo import tiny_kg, tiny_records
        >>> cohort = CohortBuilder(tiny_kg()).build(tiny_records())
        >>> labels_beyond_codes(cohort, ["RXNORM:6809"])  # a drug: recorded directly
        False
        >>> labels_beyond_codes(cohort, ["ICD10CM:E11"])  # a category above E11.9
        True
    """
    from gnn.predictor import CODE_RELATIONS, label_node_index

    node_type, rows = label_node_index(cohort, label_ids)
    if node_type is None:
        return False
    recorded = torch.zeros(cohort.data[node_type].num_nodes, dtype=torch.bool)
    for src, rel, dst in cohort.data.edge_types:
        if rel in CODE_RELATIONS and dst == node_type and src in ("visit", "patient"):
            recorded[cohort.data[src, rel, dst].edge_index[1]] = True
    nodes = rows[rows >= 0]
    return bool((~recorded[nodes]).sum() * 2 > len(nodes))


def features_for_inputs(features: dict[str, Any], inputs: Any) -> dict[str, Any]:
    """Keeps the embeddings of observations the task's inputs still contain."""
    keep_keys = {"note": set(inputs.notes["note_id"].astype(str))}
    for m in inputs.modalities["modality"].astype(str).unique():
        rows = inputs.modalities[inputs.modalities["modality"].astype(str) == m]
        keep_keys[m] = set(rows["path"].astype(str))
    out = {}
    for m, feat in features.items():
        mask = feat.table["key"].astype(str).isin(keep_keys.get(m, set())).to_numpy()
        if mask.any():
            out[m] = type(feat)(m, feat.table[mask], feat.x[torch.from_numpy(mask.copy())])
    return out


def key_comparisons(outcomes: dict[str, Any], n_boot: int, seed: int,
                    model: str = "gat-kg-multimodal", metric: str = "auroc_macro"
                    ) -> list[Any]:
    """The acceptance questions of the ablation, each as a paired comparison.

    ``model`` (multimodal + KG) against: the best single modality (``mlp-<modality>``),
    the best single input group of any kind (codes and demographics too), multimodal
    without the KG (``mlp-all``) and the KG without modalities (``<gnn>-kg``).
    """
    from gnn.compare import compare

    if model not in outcomes:
        return []
    modalities = set(_modality_names())
    singles = {n: o for n, o in outcomes.items() if o.kind == "model" and n.startswith("mlp-")
               and n != "mlp-all"}
    rivals = []
    by_value = sorted(singles, key=lambda n: -singles[n].metrics[metric]["value"])
    best_modality = next((n for n in by_value if n[len("mlp-"):] in modalities), None)
    for name in (best_modality, by_value[0] if by_value else None, "mlp-all",
                 model.replace("-multimodal", "")):
        if name and name in outcomes and name != model and name not in rivals:
            rivals.append(name)
    return [compare(outcomes, model, rival, metric, n_boot=n_boot, seed=seed)
            for rival in rivals]


def _modality_names() -> tuple[str, ...]:
    from graphs.cohort.features import MODALITY_TYPES

    return MODALITY_TYPES


def _table(outcomes: dict[str, Any]) -> pd.DataFrame:
    rows = []
    for name, o in outcomes.items():
        row = {"model": name, "inputs": o.inputs}
        for metric in TABLE_METRICS:
            m = o.metrics.get(metric)
            row[metric] = (f"{m['value']:.3f} [{m['low']:.3f}, {m['high']:.3f}]"
                           if m else "n/a")
        rows.append(row)
    return pd.DataFrame(rows)


def demo_world(config: DemoConfig, step: Any = None) -> tuple[Any, Any, dict[str, Any]]:
    """Steps 1-3: the knowledge graph, the synthetic cohort and its embeddings.

    Args:
        config: Demo settings (size, seed, output folder for the embedding cache).
        step: Called as ``step(message, t0)`` after each step (for timing output).

    Returns:
        ``(kg, cohort, features)``: the :class:`~kg.KnowledgeGraph`, the
        :class:`~graphs.synthetic.SyntheticCohort` and ``{modality: ModalityFeatures}``.
    """
    import ontologies
    from graphs.embed import FAST_OPTIONS, embed_records
    from graphs.synthetic import generate_cohort, knowledge_tables, resolve
    from kg import KnowledgeGraph

    step = step or (lambda message, t0: None)
    t0 = time.perf_counter()
    kg = KnowledgeGraph.from_ontologies(ontologies.load("icd10cm"), knowledge_tables(),
                                        on_dangling="drop")
    step(f"knowledge graph: {len(kg)} concepts, {kg.n_relations} relations", t0)

    t0 = time.perf_counter()
    cohort = generate_cohort(config.patients, seed=config.seed)
    summary = cohort.records.summary()
    step(f"synthetic cohort: {summary['patients']} patients, {summary['visits']} visits", t0)

    t0 = time.perf_counter()
    features = embed_records(cohort.records, resolver=functools.partial(resolve, cohort),
                             encoder_options=FAST_OPTIONS, progress=config.progress,
                             cache_dir=Path(config.out) / "embedding-cache", seed=config.seed,
                             num_threads=1)  # 1 thread beat 2 for these small encoders
    step("embeddings: " + ", ".join(f"{m} {f.x.shape[0]}x{f.dim}"
                                     for m, f in features.items()), t0)
    return kg, cohort, features


def demo_task(name: str, kg: Any, cohort: Any, features: dict[str, Any], seed: int = 0
              ) -> tuple[Any, Any]:
    """Step 4's inputs: the leak-free task and its merged cohort graph.

    Args:
        name: ``comorbidity`` (ICD-10-CM categories at the last visit) or ``treatment``
            (drugs of the last visit).
        kg: The knowledge graph of :func:`demo_world`.
        cohort: The synthetic cohort of :func:`demo_world`.
        features: The embeddings of :func:`demo_world`.
        seed: Seed of the patient split.

    Returns:
        ``(task, cohort_graph)``.
    """
    from gnn.tasks import comorbidity_task, treatment_task
    from graphs.cohort import CohortBuilder, CohortConfig

    if name == "comorbidity":
        task = comorbidity_task(cohort.records, kg=kg, granularity="category", min_count=10,
                                seed=seed)
    elif name == "treatment":
        task = treatment_task(cohort.records, ddi=cohort.ddi, min_count=10, seed=seed)
    else:
        raise ConfigError(f"task {name!r}: expected comorbidity or treatment")
    feats = features_for_inputs(features, task.inputs)
    graph = CohortBuilder(kg, CohortConfig(missing="mask")).build(task.inputs, feats)
    return task, graph


def run_demo(config: DemoConfig) -> dict[str, Any]:
    """Runs the main job and returns its tables and output paths."""
    from gnn.cdss import Predictions, build_report
    from gnn.config import TrainConfig
    from gnn.experiment import run_experiments
    from gnn.report import write_report

    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    started = time.perf_counter()

    def step(name: str, t0: float) -> None:
        timings[name] = round(time.perf_counter() - t0, 2)
        print(f"[{timings[name]:7.1f} s] {name}", flush=True)

    kg, cohort, features = demo_world(config, step)

    results: dict[str, Any] = {"timings": timings, "tasks": {}}
    graphs_by_task: dict[str, Any] = {}
    models_by_task: dict[str, Any] = {}
    for task_name in config.tasks:
        t0 = time.perf_counter()
        task, graph = demo_task(task_name, kg, cohort, features, config.seed)
        step(f"{task_name}: {len(task.label_ids)} labels, {len(task.patient_ids)} patients; "
             f"{graph}", t0)
        t0 = time.perf_counter()
        base = TrainConfig(epochs=config.epochs, hidden=config.hidden, layers=config.layers,
                           seed=config.seed, n_boot=config.n_boot, patience=config.patience,
                           progress=False, out_dir=None)
        outcomes = run_experiments(task, graph, ablation_for(graph, base, task.label_ids),
                                   baselines=True, out_dir=None)
        step(f"{task_name}: trained {len(outcomes) - 2} models + 2 baselines", t0)
        paths = write_report(outcomes, out / task_name, title=f"medkg demo: {task_name} "
                             f"prediction ({config.patients} synthetic patients)")
        table = _table(outcomes)
        print(f"\n{task_name} (test split, {len(task.splits['test'])} patients; "
              "value [95% bootstrap CI])")
        print(table.to_string(index=False))
        comparisons = key_comparisons(outcomes, config.n_boot, config.seed)
        for c in comparisons:
            print("  " + c.describe())
        print()
        results["tasks"][task_name] = {"table": table, "report": paths,
                                       "labels": len(task.label_ids),
                                       "comparisons": [c.to_dict() for c in comparisons]}
        graphs_by_task[task_name] = (graph, task)
        best = max((o for o in outcomes.values() if o.kind == "model"),
                   key=lambda o: o.metrics["auprc_macro"]["value"])
        models_by_task[task_name] = best
    t0 = time.perf_counter()
    results["cdss"] = _cdss_report(graphs_by_task, models_by_task, cohort, kg, out,
                                   Predictions, build_report)
    step("CDSS patient report", t0)
    timings["total"] = round(time.perf_counter() - started, 2)
    summary = {"config": dataclasses.asdict(config), "timings": timings,
               "tables": {k: v["table"].to_dict(orient="records")
                          for k, v in results["tasks"].items()},
               "comparisons": {k: v["comparisons"] for k, v in results["tasks"].items()}}
    with atomic_write(out / "demo.json", "w") as f:
        json.dump(summary, f, indent=2, default=str)
    print(f"total {timings['total']:.1f} s; reports, plots and the CDSS report are in "
          f"{out.resolve()}")
    return results


def _cdss_report(graphs_by_task, models_by_task, cohort, kg, out, Predictions,
                 build_report) -> Path | None:
    if "comorbidity" not in graphs_by_task:
        return None
    graph, task = graphs_by_task["comorbidity"]
    model = _retrain(models_by_task["comorbidity"], task, graph)
    pids = graph.node_ids["patient"].astype(str).tolist()
    test_ids = [task.patient_ids[i] for i in task.splits["test"]]
    pid = test_ids[0]
    with torch.no_grad():
        probs = torch.sigmoid(model(graph.data))
    comorbidity = Predictions(task.label_ids, probs, pids, task.label_names)
    treatment = None
    if "treatment" in graphs_by_task:
        tgraph, ttask = graphs_by_task["treatment"]
        tmodel = _retrain(models_by_task["treatment"], ttask, tgraph)
        with torch.no_grad():
            tprobs = torch.sigmoid(tmodel(tgraph.data))
        treatment = Predictions(ttask.label_ids, tprobs,
                                tgraph.node_ids["patient"].astype(str).tolist(),
                                ttask.label_names)
    report = build_report(graph, pid, comorbidity=comorbidity, treatment=treatment,
                          ddi=cohort.ddi, labels=kg, similar_k=0)
    return report.save(out / "cdss", name=f"patient-{pid}")


def _retrain(outcome: Any, task: Any, graph: Any) -> Any:
    """The best model of an ablation, retrained with its config (same seed, same weights)."""
    from gnn.config import TrainConfig
    from gnn.train import train

    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    cfg = TrainConfig(**{k: v for k, v in (outcome.config or {}).items() if k in fields})
    return train(dataclasses.replace(cfg, out_dir=None, n_boot=10), task, graph).model


def add_demo_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Registers ``medkg demo``."""
    p = subparsers.add_parser("demo", help="run the whole toolkit on the embedded synthetic "
                                           "cohort and print the ablation table")
    p.add_argument("--patients", type=int, default=DemoConfig.patients)
    p.add_argument("--seed", type=int, default=DemoConfig.seed)
    p.add_argument("--epochs", type=int, default=DemoConfig.epochs)
    p.add_argument("--hidden", type=int, default=DemoConfig.hidden)
    p.add_argument("--layers", type=int, default=DemoConfig.layers)
    p.add_argument("--patience", type=int, default=DemoConfig.patience)
    p.add_argument("--n-boot", type=int, default=DemoConfig.n_boot)
    p.add_argument("--tasks", nargs="+", default=list(DemoConfig.tasks),
                   choices=["comorbidity", "treatment"])
    p.add_argument("--out", default=DemoConfig.out)
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=lambda a: (run_demo(DemoConfig(
        patients=a.patients, seed=a.seed, epochs=a.epochs, hidden=a.hidden, layers=a.layers,
        patience=a.patience, n_boot=a.n_boot,
        tasks=tuple(a.tasks), out=a.out, progress=not a.quiet)), 0)[1])
    return p
