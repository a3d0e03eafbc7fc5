"""Why did the model predict this label for this patient? GNNExplainer on the cohort graph.

:func:`explain_prediction` wraps any patient model (``HeteroData -> logits [patients,
labels]``, e.g. a ``PatientPredictor``) as PyG wants it, ``(x_dict, edge_index_dict) ->
logits of one label``, and runs ``torch_geometric.explain.Explainer`` with
``GNNExplainer`` (``explanation_type="model"``, binary classification of that label,
node-level, raw logits) on the heterogeneous graph. A short gradient probe first finds
the node types whose features and the edge types whose messages reach the patient's
logit; only those are masked, since GNNExplainer refuses masks that get no gradient.
Edge masks attach to message-passing layers kept per edge type in a ``ModuleDict``
(``to_hetero`` models such as :class:`gnn.models.HeteroGAT`/``HeteroSAGE``).

When GNNExplainer cannot run (a plain function, layers that are not per-edge-type
``MessagePassing`` modules such as R-GCN on the homogeneous view or HGT, or an error
inside the explainer), the explanation falls back to gradient saliency
(``|input x gradient|`` of node features, no Captum) and says so in ``method``/``note``.
Top edges are reported with ids and clinical names; reverse (``rev_``) edges are shown in
their forward direction and merged with it.

Examples:
    >>> from graphs.cohort import CohortBuilder
    >>> from graphs.cohort.demo import tiny_kg, tiny_records
    >>> cohort = CohortBuilder(tiny_kg()).build(tiny_records())
    >>> def model(data):  # a plain function: GNNExplainer cannot attach edge masks
    ...     return data["patient"].x[:, :1] * 3.0
    >>> e = explain_prediction(model, cohort, "p1", 0, labels=tiny_kg())
    >>> e.method, e.nodes.iloc[0]["node_id"]
    ('saliency', 'p1')
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import torch
from torch import Tensor, nn
from torch_geometric.data import HeteroData
from torch_geometric.explain import Explainer, GNNExplainer
from torch_geometric.explain.algorithm.utils import clear_masks, set_hetero_masks

from graphs.cohort.graph import CohortGraph
from gnn.explain.lookup import (
    as_cohort,
    canonical_edge,
    display_name,
    evaluation,
    label_map,
    patient_row,
    predict_logits,
    record_table,
)
from ontologies.errors import InputError, UnknownCodeError

__all__ = ["PredictionExplanation", "LabelModel", "explain_prediction"]

_METHODS = ("auto", "gnnexplainer", "saliency")


class LabelModel(nn.Module):
    """``(x_dict, edge_index_dict) -> logits [num_patients]`` of one label.

    Inputs override the matching node features / edge indices of a shallow copy of
    ``data``; everything else (ids, summaries, other edges) comes from ``data``.

    Args:
        model: Callable ``HeteroData -> [num_patients, num_labels]``.
        data: The full graph.
        label: Column of the label.
    """

    def __init__(self, model: Any, data: HeteroData, label: int):
        super().__init__()
        self.model = model  # registered as a submodule when it is an nn.Module
        self.data = data
        self.label = label

    def forward(self, x_dict: dict[str, Tensor], edge_index_dict: dict[Any, Tensor]) -> Tensor:
        """Logits ``[num_patients]`` of the label."""
        graph = copy.copy(self.data)
        for t, x in x_dict.items():
            graph[t].x = x
        for et, ei in edge_index_dict.items():
            graph[et].edge_index = ei
        out = self.model(graph)
        return out[:, self.label] if out.dim() == 2 else out


@dataclass
class PredictionExplanation:
    """The explanation of one patient's logit for one label.

    Attributes:
        patient_id: The patient.
        label: Label id (or column number as text).
        logit: The model's logit; ``probability`` its sigmoid.
        method: ``"gnnexplainer"`` or ``"saliency"``.
        note: How the weights were obtained and, after a fallback, why.
        edges: Top edges: ``edge_type``, ``source_type``, ``source``, ``source_label``,
            ``relation``, ``target_type``, ``target``, ``target_label``, ``weight``,
            ``text`` (forward direction; ``rev_`` edges merged into it).
        nodes: Top nodes: ``node_type``, ``node_id``, ``label``, ``weight``.
    """

    patient_id: str
    label: str
    logit: float
    probability: float
    method: str
    note: str
    edges: pd.DataFrame = field(repr=False)
    nodes: pd.DataFrame = field(repr=False)

    def to_text(self, k: int = 10) -> str:
        """A short human-readable summary of the top ``k`` edges."""
        lines = [f"{self.label}: p={self.probability:.3f} ({self.method}; {self.note})"]
        lines += [f"  {w:.3f}  {t}" for t, w in
                  zip(self.edges["text"].head(k), self.edges["weight"].head(k))]
        return "\n".join(lines)


def _float_features(data: HeteroData) -> dict[str, Tensor]:
    return {t: data[t].x for t in data.node_types
            if "x" in data[t] and torch.is_tensor(data[t].x) and data[t].x.dim() == 2
            and data[t].x.is_floating_point() and data[t].x.size(0) > 0}


def _probe(wrapper: LabelModel, data: HeteroData, row: int
           ) -> tuple[list[str], list[tuple[str, str, str]], float, str]:
    """Node types and edge types whose inputs get a gradient from the patient's logit.

    Returns ``(node types, edge types, logit, note)``; the note is set when edge masks
    could not even be applied (a layer saw other edges than the graph's).
    """
    edges = {et: data[et].edge_index for et in data.edge_types if data[et].num_edges > 0}
    x = {t: v.detach().clone().requires_grad_() for t, v in _float_features(data).items()}
    masks = {et: nn.Parameter(torch.ones(ei.size(1))) for et, ei in edges.items()}
    note = ""
    set_hetero_masks(wrapper, masks, edges, apply_sigmoid=False)
    try:
        out = wrapper(x, edges)[row]
    except (ValueError, RuntimeError, AssertionError) as err:
        # PyG's propagate asserts that a mask matches the edges a layer actually sees
        note = f"edge masks do not fit the model's layers ({type(err).__name__}: {err})"
        masks = {}
    finally:
        clear_masks(wrapper)
    if not masks:
        out = wrapper(x, {})[row]
    inputs = [*x.values(), *masks.values()]
    grads = torch.autograd.grad(out, inputs, allow_unused=True) if out.requires_grad \
        else [None] * len(inputs)
    got = dict(zip([*x, *masks], grads))
    used_x = [t for t in x if got[t] is not None]
    used_e = [et for et in masks if got[et] is not None]
    return used_x, used_e, float(out.detach()), note


def _edge_frame(cohort: CohortGraph, scored: list[tuple[tuple[str, str, str], Tensor, Tensor]],
                names: dict[str, str], top_k: int) -> pd.DataFrame:
    """Scored edges -> named table in forward direction, rev_ merged (max), top ``k``."""
    parts = []
    for et, index, weight in scored:
        keep = weight > 0
        if not keep.any():
            continue
        s, r, d, flipped = canonical_edge(*et)
        ei = index[:, keep]
        src, dst = (ei[1], ei[0]) if flipped else (ei[0], ei[1])
        parts.append(pd.DataFrame({"edge_type": "|".join((s, r, d)), "source_type": s,
                                   "src": src.numpy(), "relation": r, "target_type": d,
                                   "dst": dst.numpy(), "weight": weight[keep].float().numpy()}))
    columns = ["edge_type", "source_type", "source", "source_label", "relation", "target_type",
               "target", "target_label", "weight", "text"]
    if not parts:
        return pd.DataFrame(columns=columns)
    table = pd.concat(parts, ignore_index=True)
    table = table.sort_values("weight", ascending=False, kind="stable")
    table = table.drop_duplicates(["edge_type", "src", "dst"]).head(top_k).reset_index(drop=True)
    for end, col in (("source", "src"), ("target", "dst")):
        ids = [cohort.ids(t, [int(i)])[0] for t, i in zip(table[f"{end}_type"], table[col])]
        table[end] = ids
        table[f"{end}_label"] = [names.get(i, "") for i in ids]
    table["text"] = [f"{st} {display_name(s, names)} -{r}-> {tt} {display_name(t, names)}"
                     for st, s, r, tt, t in zip(table["source_type"], table["source"],
                                                table["relation"], table["target_type"],
                                                table["target"])]
    return table[columns]


def _node_frame(cohort: CohortGraph, scores: dict[str, Tensor], names: dict[str, str],
                top_k: int) -> pd.DataFrame:
    parts = [pd.DataFrame({"node_type": t, "row": torch.nonzero(s > 0).flatten().numpy(),
                           "weight": s[s > 0].float().numpy()}) for t, s in scores.items()]
    parts = [p for p in parts if len(p)]
    columns = ["node_type", "node_id", "label", "weight"]
    if not parts:
        return pd.DataFrame(columns=columns)
    table = pd.concat(parts, ignore_index=True).sort_values("weight", ascending=False,
                                                            kind="stable").head(top_k)
    table["node_id"] = [cohort.ids(t, [int(r)])[0] for t, r in zip(table["node_type"],
                                                                   table["row"])]
    table["label"] = [names.get(i, "") for i in table["node_id"]]
    return table[columns].reset_index(drop=True)


def _saliency(wrapper: LabelModel, cohort: CohortGraph, row: int
              ) -> tuple[dict[str, Tensor], list[tuple[tuple[str, str, str], Tensor, Tensor]]]:
    """``|x * grad|`` per node; an edge of the patient's record scores its endpoints' max."""
    data = cohort.data
    x = {t: v.detach().clone().requires_grad_() for t, v in _float_features(data).items()}
    out = wrapper(x, {})[row]
    grads = torch.autograd.grad(out, list(x.values()), allow_unused=True) \
        if out.requires_grad else [None] * len(x)
    scores = {t: (v.detach() * g).abs().sum(1) if g is not None else torch.zeros(v.size(0))
              for (t, v), g in zip(x.items(), grads)}
    rec = record_table(cohort, row)
    scored = []
    visits = torch.as_tensor(sorted(set(rec["visit"].tolist()) - {-1}), dtype=torch.long)
    pv = ("patient", "has_visit", "visit")
    if pv in data.edge_types and len(visits):
        ei = data[pv].edge_index
        keep = (ei[0] == row) & torch.isin(ei[1], visits)
        idx = ei[:, keep]
        w = torch.maximum(_at(scores, "patient", idx[0]), _at(scores, "visit", idx[1]))
        scored.append((pv, idx, w))
    for et, group in rec.groupby("edge_type", sort=False):
        ei = data[et].edge_index[:, torch.tensor(group["edge"].to_numpy(dtype="int64"))]
        w = torch.maximum(_at(scores, et[0], ei[0]), _at(scores, et[2], ei[1]))
        scored.append((et, ei, w))
    return scores, scored


def _at(scores: dict[str, Tensor], node_type: str, index: Tensor) -> Tensor:
    s = scores.get(node_type)
    return torch.zeros(len(index)) if s is None else s[index].float()


def explain_prediction(model: Any, cohort: CohortGraph, patient_id: str, label: int | str,
                       label_ids: list[str] | None = None, labels: Any = None,
                       method: str = "auto", epochs: int = 100, lr: float = 0.01,
                       top_k: int = 10, node_mask_type: str = "attributes",
                       seed: int = 0) -> PredictionExplanation:
    """Top edges and nodes behind one patient's prediction of one label.

    Args:
        model: Callable ``HeteroData -> logits [num_patients, num_labels]``.
        cohort: The cohort graph the model runs on.
        patient_id: The patient.
        label: Label column, or label id (then ``label_ids`` is required).
        label_ids: Label vocabulary (column order).
        labels: Concept names (KnowledgeGraph, table or mapping).
        method: ``"auto"`` (GNNExplainer, saliency if it cannot run), ``"gnnexplainer"``
            (raise :class:`InputError` instead of falling back) or ``"saliency"``.
        epochs: GNNExplainer optimisation steps.
        lr: GNNExplainer learning rate.
        top_k: Edges and nodes to keep.
        node_mask_type: ``"attributes"`` (per feature) or ``"object"`` (per node).
        seed: Seed of GNNExplainer's random mask initialisation (global RNG untouched).

    Returns:
        A :class:`PredictionExplanation`.
    """
    if method not in _METHODS:
        raise InputError(f"method={method!r}: expected one of {', '.join(_METHODS)}")
    if node_mask_type not in ("attributes", "object"):
        raise InputError(f"node_mask_type={node_mask_type!r}: expected 'attributes' or "
                         "'object'")
    cohort = as_cohort(cohort)
    data = cohort.data
    row = patient_row(cohort, patient_id)
    n_labels = predict_logits(model, data).size(1)
    if isinstance(label, str):
        if label_ids is None or label not in label_ids:
            raise UnknownCodeError(label, "an id of label_ids (pass label_ids to name labels)")
        column = list(label_ids).index(label)
    else:
        column = int(label)
    if not 0 <= column < n_labels:
        raise UnknownCodeError(label, f"a label column in [0, {n_labels})")
    label_name = label_ids[column] if label_ids is not None else str(column)
    names = label_map(labels)
    wrapper = LabelModel(model, data, column)
    with evaluation(wrapper), _frozen(model):
        used_x, used_e, logit, note = _probe(wrapper, data, row)
        result = None
        if method != "saliency":
            if not used_e:
                note = "GNNExplainer unavailable: " + (note or (
                    "no edge type's messages reach the logit through per-edge-type "
                    "MessagePassing layers (to_hetero-style ModuleDict), so edge masks "
                    "cannot attach"))
            else:
                try:
                    result = _gnnexplainer(wrapper, data, row, used_x, used_e, epochs, lr,
                                           node_mask_type, seed)
                except (ValueError, RuntimeError, IndexError, AssertionError) as err:
                    note = f"GNNExplainer failed ({type(err).__name__}: {err})"
        if result is None and method == "gnnexplainer":
            raise InputError(note)
        if result is not None:
            node_scores, scored = result
            method_used = "gnnexplainer"
            note = (f"GNNExplainer, {epochs} epochs; weights are sigmoid edge masks "
                    f"(node weights: summed {node_mask_type} masks)")
        else:
            node_scores, scored = _saliency(wrapper, cohort, row)
            method_used = "saliency"
            why = "gradient saliency requested" if method == "saliency" else note
            note = why + ("; fallback" if method != "saliency" else "") + (
                ": node weight = sum |input x gradient| of its features; an edge of the "
                "patient's record weighs the larger score of its two ends (no edge "
                "gradients)")
    return PredictionExplanation(
        patient_id=str(patient_id), label=label_name, logit=logit,
        probability=float(torch.sigmoid(torch.tensor(logit))), method=method_used, note=note,
        edges=_edge_frame(cohort, scored, names, top_k),
        nodes=_node_frame(cohort, node_scores, names, top_k))


@contextlib.contextmanager
def _frozen(model: Any) -> Iterator[None]:
    """Stops gradients reaching the model's parameters (their .grad stays untouched)."""
    params = [p for p in model.parameters() if p.requires_grad] \
        if isinstance(model, nn.Module) else []
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


def _gnnexplainer(wrapper: LabelModel, data: HeteroData, row: int, used_x: list[str],
                  used_e: list[tuple[str, str, str]], epochs: int, lr: float,
                  node_mask_type: str, seed: int):
    feats = _float_features(data)
    x = {t: feats[t] for t in used_x} or dict(list(feats.items())[:1])
    if not x:
        raise ValueError("the graph has no float node features to pass to GNNExplainer")
    edges = {et: data[et].edge_index for et in used_e}
    explainer = Explainer(
        model=wrapper, algorithm=GNNExplainer(epochs=epochs, lr=lr),
        explanation_type="model", node_mask_type=node_mask_type if used_x else None,
        edge_mask_type="object",
        model_config=dict(mode="binary_classification", task_level="node", return_type="raw"))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        explanation = explainer(x, edges, index=row)
    node_scores = {t: explanation[t].node_mask.sum(1) for t in used_x
                   if "node_mask" in explanation[t]}
    scored = [(et, edges[et], explanation[et].edge_mask) for et in used_e
              if "edge_mask" in explanation[et]]
    return node_scores, scored
