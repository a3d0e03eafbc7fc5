"""A ready-to-train toy setup: synthetic cohort + its planted KG + simulated modality embeddings.

Real encoders (text, image, signal) are slow and live in :mod:`graphs.encoders`; for
tests, doctests, examples and timings this module simulates their output instead: each
observation's vector is a fixed random projection of the conditions that modality
*shows* at that visit (``graphs.synthetic.VISIBILITY``: strong 1, moderate 0.5, weak
0.25) plus Gaussian noise. So the modalities carry exactly the planted signal, and an
ablation shows what each one adds. Only history observations (``task.inputs``) get
vectors: targets never leak into features.

Command line: ``python -m gnn.toy_setup --patients 500 --out prepared.pt`` writes a prepared
file for ``python -m gnn.train --data prepared.pt``.

Examples:
    >>> task, cohort = synthetic_setup(60, seed=0, min_count=2)
    >>> task.y.shape[0] == len(task.patient_ids), "x_image" in cohort.data["patient"]
    (True, True)
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from ontologies.errors import ConfigError, MedKGError

__all__ = ["synthetic_features", "synthetic_setup", "main"]

_STRENGTH = {"strong": 1.0, "moderate": 0.5, "weak": 0.25}
_MODALITIES = ("note", "image", "signal", "genomic")


def synthetic_features(cohort: Any, records: Any = None, dim: int = 16, noise: float = 1.0,
                       signal: float = 2.0, seed: int = 0) -> dict[str, Any]:
    """Simulated encoder outputs for the observations in ``records``.

    Args:
        cohort: A :class:`graphs.synthetic.SyntheticCohort` (planted truth per visit).
        records: The records whose observations get vectors (default: all of the
            cohort's; pass ``task.inputs`` so only history observations are embedded).
        dim: Embedding size.
        noise: Standard deviation of the Gaussian noise.
        signal: Scale of the condition signal.
        seed: Seed of the projections and the noise.

    Returns:
        ``{modality: ModalityFeatures}`` for note, image, signal and genomic.
    """
    from graphs.cohort import ModalityFeatures
    from graphs.synthetic import CONDITION_KEYS, VISIBILITY

    records = cohort.records if records is None else records
    labels = cohort.visit_labels().set_index("visit_id")
    rng = np.random.default_rng(seed)
    out = {}
    for m in _MODALITIES:
        if m == "note":
            table = records.notes
            keys = table["note_id"]
        else:
            table = records.modalities[(records.modalities["modality"] == m).to_numpy()]
            keys = table["path"]
        weight = np.array([_STRENGTH.get(VISIBILITY[m].get(c, ""), 0.0)
                           for c in CONDITION_KEYS])
        projection = rng.normal(size=(len(CONDITION_KEYS), dim)) / np.sqrt(2.0)
        if table.empty:
            continue
        active = labels.reindex(table["visit_id"].astype(str).to_numpy())[list(CONDITION_KEYS)]
        active = active.fillna(False).to_numpy(dtype=float)
        x = signal * (active * weight) @ projection + noise * rng.normal(size=(len(table), dim))
        frame = pd.DataFrame({"patient_id": table["patient_id"].to_numpy(),
                              "visit_id": table["visit_id"].to_numpy(),
                              "key": keys.astype(str).to_numpy(),
                              "time": table["time"].to_numpy()})
        out[m] = ModalityFeatures(m, frame, torch.tensor(x, dtype=torch.float32))
    return out


def synthetic_setup(n_patients: int = 500, seed: int = 0, task: str = "comorbidity",
                    dim: int = 16, noise: float = 1.0, min_count: int = 10,
                    **task_options: Any) -> tuple[Any, Any]:
    """Builds ``(TaskData, CohortGraph)`` from a synthetic cohort, ready for training.

    Args:
        n_patients: Patients to simulate.
        seed: Seed of the cohort, the features and the split.
        task: ``comorbidity`` or ``treatment``.
        dim: Modality embedding size.
        noise: Noise of the simulated embeddings.
        min_count: Minimum positive patients per label.
        **task_options: Passed to the task builder.
    """
    from gnn.tasks import comorbidity_task, treatment_task
    from graphs.cohort import CohortBuilder
    from graphs.synthetic import generate_cohort, knowledge_tables
    from kg.graph import KnowledgeGraph

    if task not in ("comorbidity", "treatment"):
        raise ConfigError(f"task={task!r}: expected comorbidity or treatment")
    cohort = generate_cohort(n_patients, seed=seed, note_text=False)
    kg = KnowledgeGraph.from_ontologies(knowledge_tables())
    if task == "comorbidity":
        data = comorbidity_task(cohort.records, kg=kg, min_count=min_count, seed=seed,
                                **task_options)
    else:
        data = treatment_task(cohort.records, ddi=cohort.ddi, min_count=min_count, seed=seed,
                              **task_options)
    inputs = data.inputs
    features = synthetic_features(cohort, inputs, dim=dim, noise=noise, seed=seed)
    graph = CohortBuilder(kg).build(inputs, features)
    return data, graph


def main(argv: Sequence[str] | None = None) -> int:
    """Writes a prepared toy file (cohort graph with the task attached)."""
    parser = argparse.ArgumentParser(prog="python -m gnn.toy_setup",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--patients", type=int, default=500, help="patients (default 500)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--task", choices=["comorbidity", "treatment"], default="comorbidity")
    parser.add_argument("--min-count", type=int, default=10)
    parser.add_argument("--out", default="prepared.pt", help="output file (default prepared.pt)")
    args = parser.parse_args(argv)
    from gnn.prepared import attach_task

    try:
        task, cohort = synthetic_setup(args.patients, args.seed, args.task,
                                       min_count=args.min_count)
        attach_task(cohort, task).save(args.out)
    except MedKGError as err:
        print(f"medkg: error: {err}", file=sys.stderr)
        return 2
    print(f"{task!r} on {cohort!r}\nsaved to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
