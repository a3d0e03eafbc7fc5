"""Modality importance by occlusion: re-run the model with one modality taken away.

For each modality ``m`` (a modality node type such as ``note`` or ``image``, or a
patient-level summary ``x_<m>``/``mask_<m>``), :func:`occlude_modality` returns a copy of
the graph in which the chosen patients' ``m`` observations are gone from message passing
(their edges are dropped), their node features are zeroed and flagged ``missing``, and the
patients' summaries ``x_<m>`` are zeroed with ``mask_<m> = False``. Node rows are kept, so
every model built on the graph's metadata still runs on the copy. The drop in predicted
probability per label (and the rise in loss, when targets are given) is the modality's
importance for those patients.

Examples:
    >>> import torch
    >>> from graphs.cohort import CohortBuilder
    >>> from graphs.cohort.demo import tiny_kg, tiny_records, tiny_features
    >>> cohort = CohortBuilder(tiny_kg()).build(tiny_records(), tiny_features())
    >>> occluded = occlude_modality(cohort.data, "note", patients=[0])
    >>> occluded["visit", "has_note", "note"].edge_index.shape[1], occluded["patient"].mask_note
    (0, tensor([False, False]))
    >>> def model(data):  # toy: the logit is the patient's mean note feature
    ...     return data["patient"].x_note.mean(1, keepdim=True)
    >>> imp = modality_importance(model, cohort, patients=["p1"], label_names=["diabetes"])
    >>> imp.ranking(), round(float(imp.drop.loc["note", "diabetes"]), 3)
    (['note'], 0.318)
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import pandas as pd
import torch
import torch.nn.functional as F
from torch_geometric.data import HeteroData

from graphs.cohort.features import MODALITY_TYPES
from graphs.cohort.graph import CohortGraph
from gnn.explain.lookup import cohort_data, patient_rows, predict_logits, visit_owner
from ontologies.errors import InputError, SchemaError

__all__ = ["modality_names", "occlude_modality", "modality_importance", "ModalityImportance"]


def modality_names(data: HeteroData | CohortGraph) -> list[str]:
    """Modalities present: modality node types and patient ``x_<m>`` summaries."""
    data = cohort_data(data)
    found = {t for t in data.node_types if t in MODALITY_TYPES}
    if "patient" in data.node_types:
        found |= {k[2:] for k in data["patient"].keys() if k.startswith("x_")}
    return [m for m in MODALITY_TYPES if m in found] + sorted(found - set(MODALITY_TYPES))


def _node_owner(data: HeteroData, modality: str) -> torch.Tensor:
    """Patient row of every node of ``modality`` (-1 when it hangs off no patient)."""
    owner = torch.full((data[modality].num_nodes,), -1, dtype=torch.long)
    visits = visit_owner(data)
    for et in data.edge_types:
        src, rel, dst = et
        if dst != modality or rel.startswith("rev_") or src not in ("visit", "patient"):
            continue
        ei = data[et].edge_index
        owner[ei[1]] = visits[ei[0]] if src == "visit" else ei[0]
    return owner


def _owned_nodes(data: HeteroData, modality: str, patients: torch.Tensor | None
                 ) -> torch.Tensor:
    """Bool mask over the modality's nodes: observations of ``patients`` (all if None)."""
    if patients is None:
        return torch.ones(data[modality].num_nodes, dtype=torch.bool)
    return torch.isin(_node_owner(data, modality), patients)


def occlude_modality(data: HeteroData | CohortGraph, modality: str,
                     patients: Any = None) -> HeteroData:
    """A copy of the graph with ``modality`` removed for ``patients`` (all by default).

    The input graph is not modified (stores are copied shallowly, changed tensors cloned).

    Args:
        data: The cohort graph or its HeteroData.
        modality: A modality name from :func:`modality_names`.
        patients: Patient ids (CohortGraph only) or rows; ``None`` occludes everyone.

    Returns:
        The occluded HeteroData (same node counts, fewer edges).
    """
    present = modality_names(data)
    if modality not in present:
        raise InputError(f"modality {modality!r} is not in the graph; present: "
                         f"{', '.join(present) or 'none'}")
    rows = None if patients is None else patient_rows(data, patients)
    data = cohort_data(data)
    out = copy.copy(data)
    if modality in data.node_types:
        gone = _owned_nodes(data, modality, rows)
        store = out[modality]
        if "x" in store:
            x = store.x.clone()
            x[gone] = 0
            store.x = x
        missing = store.missing.clone() if "missing" in store else \
            torch.zeros(store.num_nodes, dtype=torch.bool)
        store.missing = missing | gone
        for et in data.edge_types:
            src, _, dst = et
            if modality not in (src, dst):
                continue
            ei = data[et].edge_index
            keep = torch.ones(ei.size(1), dtype=torch.bool)
            if src == modality:
                keep &= ~gone[ei[0]]
            if dst == modality:
                keep &= ~gone[ei[1]]
            for key, value in data[et].items():
                if key == "edge_index":
                    out[et].edge_index = ei[:, keep]
                elif torch.is_tensor(value) and value.dim() >= 1 and value.size(0) == keep.numel():
                    out[et][key] = value[keep]
    p = out["patient"] if "patient" in data.node_types else None
    which = torch.ones(data["patient"].num_nodes, dtype=torch.bool) if rows is None else \
        torch.zeros(data["patient"].num_nodes, dtype=torch.bool).index_fill_(0, rows, True)
    if p is not None and f"x_{modality}" in p:
        x = p[f"x_{modality}"].clone()
        x[which] = 0
        p[f"x_{modality}"] = x
    if p is not None and f"mask_{modality}" in p:
        p[f"mask_{modality}"] = p[f"mask_{modality}"] & ~which
    return out


@dataclass
class ModalityImportance:
    """Result of :func:`modality_importance`.

    Attributes:
        drop: Mean drop in predicted probability (full - occluded), modality x label.
        loss_increase: Rise of the mean binary cross-entropy per modality (``None``
            without targets).
        coverage: Patients of the set that have at least one observation of the modality.
        base_probability: Mean predicted probability per label on the full graph.
        n_patients: Size of the patient set.
    """

    drop: pd.DataFrame
    loss_increase: pd.Series | None
    coverage: pd.Series
    base_probability: pd.Series
    n_patients: int

    def summary(self) -> pd.DataFrame:
        """One row per modality, most important first."""
        out = pd.DataFrame({"mean_abs_drop": self.drop.abs().mean(axis=1),
                            "max_drop": self.drop.max(axis=1),
                            "loss_increase": self.loss_increase if self.loss_increase is
                            not None else float("nan"),
                            "patients_with_modality": self.coverage})
        key = "loss_increase" if self.loss_increase is not None else "mean_abs_drop"
        return out.sort_values(key, ascending=False, kind="stable")

    def ranking(self) -> list[str]:
        """Modalities from most to least important (loss rise, else mean |drop|)."""
        return self.summary().index.tolist()

    def to_frame(self) -> pd.DataFrame:
        """Long format: modality, label, base_probability, drop."""
        long = self.drop.rename_axis("modality").reset_index().melt(
            id_vars="modality", var_name="label", value_name="drop")
        long["base_probability"] = long["label"].map(self.base_probability)
        return long[["modality", "label", "base_probability", "drop"]]


def modality_importance(model: Any, data: HeteroData | CohortGraph, patients: Any = None,
                        targets: torch.Tensor | None = None,
                        label_names: list[str] | None = None,
                        modalities: list[str] | None = None,
                        scope: str = "patients") -> ModalityImportance:
    """Importance of every modality for ``patients`` by occlusion.

    Args:
        model: Callable ``HeteroData -> logits [num_patients, num_labels]`` (e.g. a
            ``PatientPredictor``); run in eval mode without gradients.
        data: The cohort graph or its HeteroData.
        patients: Ids (CohortGraph only) or rows; ``None`` = every patient.
        targets: Optional 0/1 labels ``[len(patients), num_labels]`` for the loss rise.
        label_names: Column names of the labels (default ``label_0``, ...).
        modalities: Subset to test (default: all in :func:`modality_names`).
        scope: ``"patients"`` occludes only the chosen patients' observations (others
            still reach them through shared nodes); ``"all"`` occludes everyone's.

    Returns:
        A :class:`ModalityImportance`.
    """
    if scope not in ("patients", "all"):
        raise InputError(f"scope={scope!r}: expected 'patients' or 'all'")
    rows = patient_rows(data, patients)
    if not len(rows):
        raise InputError("modality_importance needs at least one patient")
    graph = cohort_data(data)
    available = modality_names(graph)
    chosen = list(available if modalities is None else modalities)
    unknown = [m for m in chosen if m not in available]
    if unknown:
        raise InputError(f"modalities {unknown} are not in the graph; present: "
                         f"{', '.join(available) or 'none'}")
    base = predict_logits(model, graph)[rows]
    names = list(label_names) if label_names is not None else \
        [f"label_{i}" for i in range(base.size(1))]
    if len(names) != base.size(1):
        raise SchemaError(f"{len(names)} label names for {base.size(1)} model outputs")
    if targets is not None:
        targets = torch.as_tensor(targets, dtype=torch.float32)
        if targets.shape != base.shape:
            raise SchemaError(f"targets must be [{base.size(0)}, {base.size(1)}] (patients x "
                              f"labels), got {tuple(targets.shape)}")
    base_prob = torch.sigmoid(base)
    drops, losses, coverage = {}, {}, {}
    base_loss = F.binary_cross_entropy_with_logits(base, targets).item() \
        if targets is not None else None
    for m in chosen:
        occluded = occlude_modality(graph, m, None if scope == "all" else rows)
        logits = predict_logits(model, occluded)[rows]
        drops[m] = (base_prob - torch.sigmoid(logits)).mean(0).tolist()
        if targets is not None:
            losses[m] = F.binary_cross_entropy_with_logits(logits, targets).item() - base_loss
        coverage[m] = _coverage(graph, m, rows)
    drop = pd.DataFrame.from_dict(drops, orient="index", columns=names)
    return ModalityImportance(
        drop=drop, loss_increase=pd.Series(losses, dtype="float64") if targets is not None
        else None, coverage=pd.Series(coverage, dtype="int64"),
        base_probability=pd.Series(base_prob.mean(0).tolist(), index=names),
        n_patients=len(rows))


def _coverage(data: HeteroData, modality: str, rows: torch.Tensor) -> int:
    """Patients among ``rows`` with at least one real observation of ``modality``."""
    p = data["patient"]
    if f"mask_{modality}" in p:
        return int(p[f"mask_{modality}"][rows].sum())
    if modality in data.node_types:
        owner = _node_owner(data, modality)
        if "missing" in data[modality]:
            owner = owner[~data[modality].missing]
        return int(torch.isin(rows, owner).sum())
    return 0
