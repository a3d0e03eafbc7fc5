"""Shared lookups for explanations: labels, a patient's rows, visits and recorded edges.

Everything here reads a :class:`graphs.cohort.CohortGraph` (HeteroData + id maps) and maps
row indices back to ids and clinical names, so explanation code never handles raw indices
in what it shows to people.

Examples:
    >>> from graphs.cohort import CohortBuilder
    >>> from graphs.cohort.demo import tiny_kg, tiny_records
    >>> cohort = CohortBuilder(tiny_kg()).build(tiny_records())
    >>> row = patient_row(cohort, "p1")
    >>> [cohort.ids("visit", [v])[0] for v in patient_visits(cohort, row)]
    ['v1', 'v2']
    >>> rec = record_table(cohort, row)
    >>> sorted(cohort.ids(t, [n])[0] for t, n in zip(rec["node_type"], rec["node"]))
    ['ICD10CM:E11.65', 'ICD10CM:E11.9', 'ICD10CM:I10', 'RXNORM:6809']
    >>> display_name("ICD10CM:I10", label_map(tiny_kg()))
    'ICD10CM:I10 Essential (primary) hypertension'
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn
from torch_geometric.data import HeteroData

from graphs.cohort.features import MODALITY_TYPES
from graphs.cohort.graph import CohortGraph
from ontologies.errors import InputError, SchemaError, UnknownCodeError

__all__ = [
    "is_concept_type",
    "as_cohort",
    "label_map",
    "patient_row",
    "patient_rows",
    "cohort_data",
    "visit_owner",
    "patient_visits",
    "record_table",
    "days_to_date",
    "display_name",
    "canonical_edge",
    "evaluation",
    "predict_logits",
    "RELATION_KINDS",
]

#: Human word for each visit -> concept relation of the cohort graph.
RELATION_KINDS = {"has_diagnosis": "diagnosis", "takes_drug": "medication",
                  "has_procedure": "procedure", "has_phenotype": "phenotype"}
_DAY_NS = 86_400 * 10**9


def is_concept_type(node_type: str) -> bool:
    """True for knowledge-graph concept types (not patient, visit or a modality).

    Examples:
        >>> is_concept_type("disease"), is_concept_type("visit"), is_concept_type("note")
        (True, False, False)
    """
    return node_type not in ("patient", "visit") and node_type not in MODALITY_TYPES


def as_cohort(cohort: Any) -> CohortGraph:
    """Returns ``cohort`` if it is a :class:`CohortGraph`, else raises :class:`InputError`."""
    if not isinstance(cohort, CohortGraph):
        raise InputError(f"expected a graphs.cohort.CohortGraph (HeteroData with id maps), "
                         f"got {type(cohort).__name__}")
    return cohort


def label_map(labels: Any = None) -> dict[str, str]:
    """Concept id -> clinical name from a KnowledgeGraph, a table or a mapping.

    Args:
        labels: A ``kg.KnowledgeGraph`` (its concepts table), a DataFrame with ``id`` and
            ``label`` columns, a mapping ``id -> label``, or ``None`` (no names).

    Examples:
        >>> label_map({"A:1": "a"}), label_map(None)
        ({'A:1': 'a'}, {})
    """
    if labels is None:
        return {}
    if isinstance(labels, Mapping):
        return {str(k): str(v) for k, v in labels.items()}
    table = getattr(labels, "concepts", labels)
    if isinstance(table, pd.DataFrame):
        missing = [c for c in ("id", "label") if c not in table.columns]
        if missing:
            raise SchemaError(f"label table lacks columns {missing}; expected id and label")
        ok = table["label"].notna().to_numpy()
        return dict(zip(table["id"].astype(str).to_numpy()[ok],
                        table["label"].astype(str).to_numpy()[ok]))
    raise InputError(f"labels must be a KnowledgeGraph, a DataFrame (id, label) or a mapping, "
                     f"got {type(labels).__name__}")


def patient_row(cohort: CohortGraph, patient_id: str) -> int:
    """Row of one patient; an unknown id raises :class:`UnknownCodeError`."""
    return int(as_cohort(cohort).index("patient", [str(patient_id)])[0])


def patient_rows(graph: HeteroData | CohortGraph, patients: Any = None) -> torch.Tensor:
    """Patient rows from ``None`` (all), ids (needs a CohortGraph) or integer rows.

    Examples:
        >>> from graphs.cohort import CohortBuilder
        >>> from graphs.cohort.demo import tiny_kg, tiny_records
        >>> cohort = CohortBuilder(tiny_kg()).build(tiny_records())
        >>> patient_rows(cohort, ["p2"]).tolist(), patient_rows(cohort.data).tolist()
        ([1], [0, 1])
    """
    data = cohort_data(graph)
    n = data["patient"].num_nodes
    if patients is None:
        return torch.arange(n)
    if isinstance(patients, (str, int, np.integer)):
        patients = [patients]
    items = patients.tolist() if isinstance(patients, (Tensor, np.ndarray)) else list(patients)
    if items and all(isinstance(p, str) for p in items):
        if not isinstance(graph, CohortGraph):
            raise InputError("patient ids need a CohortGraph (with id maps); pass row indices "
                             "for a bare HeteroData")
        return torch.from_numpy(graph.index("patient", items).astype(np.int64))
    if any(isinstance(p, (bool, np.bool_)) or not isinstance(p, (int, np.integer))
           for p in items):
        raise InputError("patients must be all ids (str) or all integer rows")
    rows = torch.as_tensor(items, dtype=torch.long) if items else torch.empty(0, dtype=torch.long)
    bad = (rows < 0) | (rows >= n)
    if bad.any():
        raise UnknownCodeError(int(rows[bad][0]), f"a patient row in [0, {n})")
    return rows


def cohort_data(graph: HeteroData | CohortGraph) -> HeteroData:
    """The HeteroData of a CohortGraph (remembering the graph for id lookups) or itself."""
    if isinstance(graph, CohortGraph):
        return graph.data
    if isinstance(graph, HeteroData):
        return graph
    raise InputError(f"expected a CohortGraph or HeteroData, got {type(graph).__name__}")


def visit_owner(data: HeteroData) -> Tensor:
    """Patient row of every visit (``-1`` for a visit without a patient)."""
    if "visit" not in data.node_types:
        return torch.empty(0, dtype=torch.long)
    if "patient" in data["visit"]:
        return data["visit"].patient.long()
    owner = torch.full((data["visit"].num_nodes,), -1, dtype=torch.long)
    et = ("patient", "has_visit", "visit")
    if et in data.edge_types:
        ei = data[et].edge_index
        owner[ei[1]] = ei[0]
    return owner


def patient_visits(cohort: CohortGraph, row: int) -> np.ndarray:
    """Visit rows of patient ``row``, oldest first (visits without a time last)."""
    data = as_cohort(cohort).data
    owner = visit_owner(data)
    rows = torch.nonzero(owner == row).flatten().numpy()
    if "time" not in data["visit"] or not len(rows):
        return rows
    time = data["visit"].time[rows].double().numpy()
    return rows[np.argsort(np.nan_to_num(time, nan=np.inf), kind="stable")]


def record_table(cohort: CohortGraph, rows: int | Iterable[int]) -> pd.DataFrame:
    """Everything recorded for the given patients, one row per edge out of their visits.

    Covers ``(visit, r, t)`` and patient-level ``(patient, r, t)`` edges to concepts and
    modality nodes (reverse, similarity and visit-to-visit edges are left out).

    Returns:
        Columns ``patient`` (row), ``visit`` (row; -1 for patient-level rows),
        ``relation``, ``node_type``, ``node`` (row), ``time`` (days since 1970, NaN if
        unknown), ``edge_type`` (tuple) and ``edge`` (column in that edge index).
    """
    data = as_cohort(cohort).data
    rows = [rows] if np.isscalar(rows) else list(rows)
    wanted = torch.as_tensor(np.asarray(rows, dtype=np.int64))
    owner = visit_owner(data)
    vtime = data["visit"].time.double() if "visit" in data.node_types and \
        "time" in data["visit"] else None
    parts = []
    for et in data.edge_types:
        src, rel, dst = et
        if rel.startswith("rev_") or src not in ("visit", "patient") \
                or dst in ("visit", "patient"):
            continue
        ei = data[et].edge_index
        who = owner[ei[0]] if src == "visit" else ei[0]
        keep = torch.isin(who, wanted)
        if not keep.any():
            continue
        idx = torch.nonzero(keep).flatten()
        # edge time, else the observation's own time, else its visit's start
        t = torch.full((len(idx),), float("nan"), dtype=torch.float64)
        if "time" in data[et]:
            t = data[et].time[idx].double()
        elif "time" in data[dst]:
            t = data[dst].time[ei[1, idx]].double()
        if src == "visit" and vtime is not None:
            t = torch.where(torch.isnan(t), vtime[ei[0, idx]], t)
        parts.append(pd.DataFrame({
            "patient": who[idx].numpy(), "visit": ei[0, idx].numpy() if src == "visit"
            else np.full(len(idx), -1), "relation": rel, "node_type": dst,
            "node": ei[1, idx].numpy(), "time": t.numpy(),
            "edge_type": [et] * len(idx), "edge": idx.numpy()}))
    if not parts:
        dtypes = {"patient": "int64", "visit": "int64", "relation": object, "node_type": object,
                  "node": "int64", "time": "float64", "edge_type": object, "edge": "int64"}
        return pd.DataFrame({k: pd.Series(dtype=v) for k, v in dtypes.items()})
    return pd.concat(parts, ignore_index=True)


def days_to_date(days: float | None) -> str | None:
    """Float days since 1970 (the cohort graph's time unit) -> ``YYYY-MM-DD`` or ``None``.

    Examples:
        >>> days_to_date(0.0), days_to_date(float("nan"))
        ('1970-01-01', None)
    """
    if days is None or not math.isfinite(float(days)):
        return None
    return str(pd.Timestamp(int(round(float(days) * _DAY_NS)), unit="ns").date())


def display_name(node_id: str, labels: Mapping[str, str]) -> str:
    """``"<id> <label>"`` when a label is known, else the id."""
    label = labels.get(node_id)
    return f"{node_id} {label}" if label and label != node_id else node_id


def canonical_edge(src_type: str, relation: str, dst_type: str
                   ) -> tuple[str, str, str, bool]:
    """Undoes the builder's ``rev_`` prefix: ``(src, rel, dst, flipped)``.

    Examples:
        >>> canonical_edge("disease", "rev_has_diagnosis", "visit")
        ('visit', 'has_diagnosis', 'disease', True)
    """
    if relation.startswith("rev_"):
        return dst_type, relation[4:], src_type, True
    return src_type, relation, dst_type, False


@contextlib.contextmanager
def evaluation(model: Any) -> Iterator[None]:
    """Puts an ``nn.Module`` in eval mode for the block and restores its mode after."""
    if not isinstance(model, nn.Module):
        yield
        return
    training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(training)


def predict_logits(model: Any, data: HeteroData, num_patients: int | None = None) -> Tensor:
    """Runs ``model(data)`` without gradients and checks it returns ``[patients, labels]``."""
    with evaluation(model), torch.no_grad():
        out = model(data)
    n = data["patient"].num_nodes if num_patients is None else num_patients
    if not torch.is_tensor(out) or out.dim() not in (1, 2) or out.size(0) != n:
        shape = tuple(out.shape) if torch.is_tensor(out) else type(out).__name__
        raise SchemaError(f"model(data) must return patient logits [{n}, labels], got {shape}")
    return out.unsqueeze(1) if out.dim() == 1 else out
