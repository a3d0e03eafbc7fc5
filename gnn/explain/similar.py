"""Contrastive case presentation: the most similar patients and how their conditions differ.

Similar patients come from the cohort graph's ``(patient, similar_to, patient)`` edges
(ranked by ``edge_weight``) or, when the graph has none for the patient, from cosine
similarity of patient embeddings (e.g. ``PatientPredictor.embed(data)``). Conditions are
the codes recorded through ``has_diagnosis``/``has_phenotype`` edges.

Examples:
    >>> import torch
    >>> from graphs.cohort import CohortBuilder
    >>> from graphs.cohort.demo import tiny_kg, tiny_records
    >>> cohort = CohortBuilder(tiny_kg()).build(tiny_records())
    >>> table = similar_patients(cohort, "p1", k=1, embeddings=torch.eye(2))
    >>> row = table.iloc[0]
    >>> row["patient_id"], row["source"], row["shared"], row["only_query"]
    ('p2', 'cosine', ['ICD10CM:I10'], ['ICD10CM:E11.65', 'ICD10CM:E11.9'])
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from graphs.cohort.graph import CohortGraph
from gnn.explain.lookup import as_cohort, evaluation, label_map, patient_row, record_table
from ontologies.errors import InputError, SchemaError

__all__ = ["patient_conditions", "similar_patients", "CONDITION_RELATIONS"]

#: Relations whose targets count as a patient's conditions.
CONDITION_RELATIONS = ("has_diagnosis", "has_phenotype")


def patient_conditions(cohort: CohortGraph, rows: Iterable[int],
                       relations: Iterable[str] = CONDITION_RELATIONS) -> dict[int, set[str]]:
    """Recorded condition ids per patient row (every visit)."""
    cohort = as_cohort(cohort)
    rows = [int(r) for r in rows]
    rec = record_table(cohort, rows)
    rec = rec[rec["relation"].isin(list(relations))]
    out: dict[int, set[str]] = {r: set() for r in rows}
    for t, idx in rec.groupby("node_type").indices.items():
        part = rec.iloc[idx]
        ids = cohort.ids(t, part["node"].to_numpy())
        for p, code in zip(part["patient"].to_numpy(), ids):
            out[int(p)].add(code)
    return out


def _embeddings(cohort: CohortGraph, embeddings: Tensor | Callable | Any) -> Tensor:
    if callable(getattr(embeddings, "embed", None)):
        with evaluation(embeddings), torch.no_grad():
            embeddings = embeddings.embed(cohort.data)
    elif callable(embeddings) and not torch.is_tensor(embeddings):
        with torch.no_grad():
            embeddings = embeddings(cohort.data)
    z = torch.as_tensor(embeddings, dtype=torch.float32)
    n = cohort.data["patient"].num_nodes
    if z.dim() != 2 or z.size(0) != n:
        raise SchemaError(f"patient embeddings must be [{n}, hidden], got {tuple(z.shape)}")
    return z


def similar_patients(cohort: CohortGraph, patient_id: str, k: int = 5,
                     embeddings: Tensor | Callable | Any = None,
                     labels: Any = None) -> pd.DataFrame:
    """The ``k`` patients most similar to ``patient_id``, with shared/differing conditions.

    Args:
        cohort: The cohort graph.
        patient_id: The query patient.
        k: Number of similar patients.
        embeddings: Used when the graph has no ``similar_to`` edges out of the patient:
            a ``[num_patients, hidden]`` tensor, a model with ``.embed(data)`` or a
            callable ``data -> embeddings``.
        labels: Concept names (KnowledgeGraph, table or mapping).

    Returns:
        Columns ``patient_id``, ``similarity``, ``source`` (``similar_to`` or ``cosine``),
        ``shared``, ``only_query``, ``only_other`` (sorted id lists) and the matching
        ``*_labels`` lists; most similar first.
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise InputError(f"k={k!r}: expected a positive integer")
    cohort = as_cohort(cohort)
    data = cohort.data
    row = patient_row(cohort, patient_id)
    et = ("patient", "similar_to", "patient")
    others = np.zeros(0, dtype=np.int64)
    if et in data.edge_types:
        ei = data[et].edge_index
        out = torch.nonzero((ei[0] == row) & (ei[1] != row)).flatten()
        if len(out):
            w = data[et].edge_weight[out] if "edge_weight" in data[et] else torch.ones(len(out))
            order = torch.argsort(-w.float(), stable=True)[:k]
            others, sims, source = ei[1, out[order]].numpy(), w[order].float().numpy(), \
                "similar_to"
    if not len(others):
        if embeddings is None:
            raise InputError("the graph has no similar_to edges out of this patient; pass "
                             "patient embeddings (a tensor or a model with .embed)")
        z = torch.nn.functional.normalize(_embeddings(cohort, embeddings), dim=1)
        sim = z @ z[row]
        sim[row] = -float("inf")
        val, idx = sim.topk(min(k, len(sim) - 1))
        others, sims, source = idx.numpy(), val.numpy(), "cosine"
    conditions = patient_conditions(cohort, [row, *others.tolist()])
    names = label_map(labels)
    mine = conditions[row]
    records = []
    for other, s in zip(others.tolist(), sims.tolist()):
        theirs = conditions[other]
        shared, only_q, only_o = sorted(mine & theirs), sorted(mine - theirs), \
            sorted(theirs - mine)
        records.append({"patient_id": cohort.ids("patient", [other])[0], "similarity": s,
                        "source": source, "shared": shared, "only_query": only_q,
                        "only_other": only_o,
                        "shared_labels": [names.get(c, c) for c in shared],
                        "only_query_labels": [names.get(c, c) for c in only_q],
                        "only_other_labels": [names.get(c, c) for c in only_o]})
    columns = ["patient_id", "similarity", "source", "shared", "only_query", "only_other",
               "shared_labels", "only_query_labels", "only_other_labels"]
    return pd.DataFrame(records, columns=columns)
