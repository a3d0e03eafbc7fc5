"""GAT attention, captured from any model and summed per clinical concept.

:func:`capture_attention` runs a model once with hooks on its ``GATConv``/``GATv2Conv``
layers and records every layer's per-edge attention: per edge type for heterogeneous
models built with ``to_hetero`` (e.g. :class:`gnn.models.HeteroGAT`, whose layers are
named ``...convs.<i>.<src>__<rel>__<dst>``) and on the homogeneous view for
:class:`gnn.models.GAT` run on ``data.to_homogeneous()``. :func:`attention_table` turns
either form (or a hand-made ``{edge_type: weights}`` dict, or GAT's own
``return_attention=True`` output) into one table of typed edges, and
:func:`concept_attention` sums (or averages) the attention on edges between a patient's
own nodes and concept nodes into ``(concept id, label, weight)`` rows.

In GAT, the weight of edge ``u -> v`` is how much ``v`` attends to ``u``'s message, so
``direction="in"`` (the default) credits a concept with the attention the patient's
visits pay to it.

Examples:
    >>> import torch
    >>> from graphs.cohort import CohortBuilder
    >>> from graphs.cohort.demo import tiny_kg, tiny_records
    >>> cohort = CohortBuilder(tiny_kg()).build(tiny_records())
    >>> et = ("disease", "rev_has_diagnosis", "visit")
    >>> weights = {et: torch.full((cohort.data[et].num_edges,), 0.5)}
    >>> table = concept_attention(cohort, weights, "p1", labels=tiny_kg())
    >>> table[["concept_id", "weight", "n_edges"]].values.tolist()
    [['ICD10CM:E11.65', 0.5, 1], ['ICD10CM:E11.9', 0.5, 1], ['ICD10CM:I10', 0.5, 1]]
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor
from torch_geometric.data import HeteroData
from torch_geometric.nn import GATConv, GATv2Conv

from graphs.cohort.graph import CohortGraph
from gnn.explain.lookup import (
    as_cohort,
    is_concept_type,
    label_map,
    patient_row,
    record_table,
    visit_owner,
)
from ontologies.errors import InputError, SchemaError

__all__ = ["AttentionRecord", "capture_attention", "attention_table", "concept_attention",
           "homogeneous_index"]

_ATTENTION_LAYERS = (GATConv, GATv2Conv)
_LAYER_KEY = re.compile(r"^(?P<layer>.*?)\.?(?P<key>[^.]+__[^.]+__[^.]+)$")


@dataclass
class AttentionRecord:
    """One attention layer's weights.

    Attributes:
        layer: Position of the layer (0 = first), shared by the per-edge-type copies that
            ``to_hetero`` makes of one layer.
        module: Qualified module name inside the model.
        edge_type: ``(src, rel, dst)`` for a heterogeneous layer, ``None`` on the
            homogeneous view.
        edge_index: ``[2, E]`` edges the layer attended over (self-loops included).
        alpha: ``[E, heads]`` attention weights.
    """

    layer: int
    module: str
    edge_type: tuple[str, str, str] | None
    edge_index: Tensor
    alpha: Tensor


def capture_attention(model: Any, *args: Any, **kwargs: Any) -> tuple[Any, list[AttentionRecord]]:
    """Runs ``model(*args, **kwargs)`` without gradients and records GAT attention.

    Args:
        model: An ``nn.Module`` containing ``GATConv``/``GATv2Conv`` layers.
        *args: Model inputs (e.g. the HeteroData for a ``PatientPredictor``).
        **kwargs: Keyword inputs.

    Returns:
        ``(model output, records)``; no records means the model has no GAT layers.

    Examples:
        >>> import torch
        >>> from gnn.models import GAT
        >>> gat = GAT(4, 8, 2, heads=2)
        >>> _, records = capture_attention(gat, torch.randn(3, 4), torch.tensor([[0, 1], [1, 2]]))
        >>> [(r.layer, tuple(r.alpha.shape)) for r in records]  # 2 edges + 3 self-loops
        [(0, (5, 2)), (1, (5, 1))]
    """
    if not hasattr(model, "named_modules"):
        raise InputError(f"capture_attention needs an nn.Module, got {type(model).__name__}")
    found: list[tuple[str, Tensor, Tensor]] = []
    handles = []
    for name, module in model.named_modules():
        if isinstance(module, _ATTENTION_LAYERS):
            def hook(mod, inputs, output, name=name):
                found.append((name, inputs[0].detach(), output.detach()))
            handles.append(module.register_edge_update_forward_hook(hook))
    training = getattr(model, "training", False)
    model.eval()
    try:
        with torch.no_grad():
            out = model(*args, **kwargs)
    finally:
        model.train(training)
        for h in handles:
            h.remove()
    layers: dict[str, int] = {}
    records = []
    for name, edge_index, alpha in found:
        match = _LAYER_KEY.match(name)
        edge_type = tuple(match["key"].split("__")) if match else None
        layer_name = match["layer"] if match else name
        layer = layers.setdefault(layer_name, len(layers))
        records.append(AttentionRecord(layer, name, edge_type, edge_index,
                                       alpha if alpha.dim() == 2 else alpha.unsqueeze(1)))
    return out, records


def homogeneous_index(data: HeteroData) -> tuple[list[str], Tensor, Tensor]:
    """Node type names, type id and row within its type of every node of
    ``data.to_homogeneous()`` (nodes are stacked in ``data.node_types`` order)."""
    names = list(data.node_types)
    sizes = torch.tensor([data[t].num_nodes for t in names], dtype=torch.long)
    node_type = torch.repeat_interleave(torch.arange(len(names)), sizes)
    starts = torch.cumsum(sizes, 0) - sizes
    return names, node_type, torch.arange(int(sizes.sum())) - starts[node_type]


def _as_records(attention: Any) -> list[AttentionRecord]:
    """Normalises the accepted attention formats to records."""
    if isinstance(attention, Mapping):
        attention = [attention]
    if not isinstance(attention, Sequence) or isinstance(attention, (str, bytes)):
        raise InputError("attention must be AttentionRecords, [(edge_index, alpha)] per "
                         "layer, or {edge_type: weights} (or a list of such dicts)")
    out = []
    for layer, item in enumerate(attention):
        if isinstance(item, AttentionRecord):
            out.append(item)
        elif isinstance(item, Mapping):
            for et, alpha in item.items():
                alpha = torch.as_tensor(alpha, dtype=torch.float32)
                out.append(AttentionRecord(layer, f"layer{layer}", tuple(et), None,
                                           alpha if alpha.dim() == 2 else alpha.unsqueeze(1)))
        elif isinstance(item, (tuple, list)) and len(item) == 2:
            index, alpha = item
            alpha = torch.as_tensor(alpha, dtype=torch.float32)
            out.append(AttentionRecord(layer, f"layer{layer}", None, torch.as_tensor(index),
                                       alpha if alpha.dim() == 2 else alpha.unsqueeze(1)))
        else:
            raise InputError(f"attention item {layer}: expected an AttentionRecord, a dict or "
                             f"an (edge_index, alpha) pair, got {type(item).__name__}")
    return out


def attention_table(attention: Any, data: HeteroData | CohortGraph,
                    drop_self_loops: bool = True) -> pd.DataFrame:
    """All attention weights as typed edges, heads averaged.

    Args:
        attention: Records from :func:`capture_attention`; ``[(edge_index, alpha), ...]``
            per layer on ``data.to_homogeneous()`` (as :class:`gnn.models.GAT` returns
            with ``return_attention=True``); or ``{edge_type: weights [E] or [E, heads]}``
            aligned with ``data[edge_type].edge_index`` (one dict per layer, or one dict).
        data: The graph the model ran on.
        drop_self_loops: Leave out self-loops added by GAT layers.

    Returns:
        Columns ``layer``, ``src_type``, ``src``, ``relation`` (``None`` on the homogeneous
        view), ``dst_type``, ``dst``, ``weight``.
    """
    data = data.data if isinstance(data, CohortGraph) else data
    names, ntype, local = None, None, None
    parts = []
    for rec in _as_records(attention):
        weight = rec.alpha.detach().float().mean(1)
        if rec.edge_type is not None:
            src_t, rel, dst_t = rec.edge_type
            if (src_t, rel, dst_t) not in data.edge_types:
                raise SchemaError(f"attention for edge type {rec.edge_type} which the graph "
                                  "lacks")
            index = data[rec.edge_type].edge_index if rec.edge_index is None else rec.edge_index
            if index.size(1) != weight.numel():
                raise SchemaError(f"{rec.edge_type}: {weight.numel()} weights for "
                                  f"{index.size(1)} edges")
            frame = pd.DataFrame({"src_type": src_t, "src": index[0].numpy(), "relation": rel,
                                  "dst_type": dst_t, "dst": index[1].numpy()})
        else:
            if names is None:
                names, ntype, local = homogeneous_index(data)
            index = rec.edge_index.long()
            if index.numel() and int(index.max()) >= len(ntype):
                raise SchemaError(f"attention edge index reaches node {int(index.max())} but "
                                  f"the homogeneous view has {len(ntype)} nodes")
            if index.size(1) != weight.numel():
                raise SchemaError(f"{weight.numel()} weights for {index.size(1)} edges")
            types = np.asarray(names, dtype=object)
            frame = pd.DataFrame({"src_type": types[ntype[index[0]].numpy()],
                                  "src": local[index[0]].numpy(), "relation": None,
                                  "dst_type": types[ntype[index[1]].numpy()],
                                  "dst": local[index[1]].numpy()})
            if drop_self_loops:
                keep = (index[0] != index[1]).numpy()
                frame, weight = frame[keep], weight[torch.tensor(keep)]
        if drop_self_loops and rec.edge_type is not None and rec.edge_type[0] == rec.edge_type[2]:
            keep = (frame["src"] != frame["dst"]).to_numpy()
            frame, weight = frame[keep], weight[torch.tensor(keep)]
        frame = frame.assign(layer=rec.layer, weight=weight.numpy())
        parts.append(frame)
    columns = ["layer", "src_type", "src", "relation", "dst_type", "dst", "weight"]
    if not parts:
        return pd.DataFrame(columns=columns)
    return pd.concat(parts, ignore_index=True)[columns]


def concept_attention(cohort: CohortGraph, attention: Any, patient_id: str,
                      labels: Any = None, reduce: str = "sum", direction: str = "in",
                      layer: int | None = None, hops: int = 1) -> pd.DataFrame:
    """Attention on edges between one patient's nodes and concepts, per concept.

    Args:
        cohort: The cohort graph the model ran on.
        attention: Any format :func:`attention_table` accepts (or its output table).
        patient_id: The patient.
        labels: Concept names (KnowledgeGraph, table or mapping).
        reduce: ``"sum"`` or ``"mean"`` over the counted edges (all layers unless
            ``layer`` is given).
        direction: ``"in"``: edges concept -> patient node (the patient attends to the
            concept); ``"out"``: patient node -> concept; ``"both"``.
        layer: Only this layer.
        hops: 1: edges touching the patient, its visits and its modality nodes;
            2: also edges from concepts to the concepts recorded for the patient (the
            knowledge-graph neighbourhood), credited to the farther concept.

    Returns:
        Columns ``concept_id``, ``label``, ``node_type``, ``weight``, ``n_edges``, sorted
        by weight (largest first, ties by id).
    """
    if reduce not in ("sum", "mean"):
        raise InputError(f"reduce={reduce!r}: expected 'sum' or 'mean'")
    if direction not in ("in", "out", "both"):
        raise InputError(f"direction={direction!r}: expected 'in', 'out' or 'both'")
    if hops not in (1, 2):
        raise InputError(f"hops={hops!r}: expected 1 or 2")
    cohort = as_cohort(cohort)
    data = cohort.data
    row = patient_row(cohort, patient_id)
    table = attention if isinstance(attention, pd.DataFrame) else \
        attention_table(attention, data)
    if layer is not None:
        table = table[table["layer"] == layer]
    rec = record_table(cohort, row)
    own = pd.DataFrame({"type": ["patient"], "node": [row]})
    visits = torch.nonzero(visit_owner(data) == row).flatten().numpy()
    own = pd.concat([own, pd.DataFrame({"type": "visit", "node": visits}),
                     rec.loc[~rec["node_type"].map(is_concept_type), ["node_type", "node"]]
                     .rename(columns={"node_type": "type"})], ignore_index=True)
    frontier = [own]
    if hops == 2:
        concepts = rec.loc[rec["node_type"].map(is_concept_type), ["node_type", "node"]]
        frontier.append(concepts.rename(columns={"node_type": "type"}))
    near = pd.concat(frontier, ignore_index=True).drop_duplicates()
    key = set(zip(near["type"], near["node"].astype(int)))
    picked = []
    if direction in ("in", "both"):
        hit = _in_set(table["dst_type"], table["dst"], key) & table["src_type"].map(is_concept_type)
        picked.append(table.loc[hit, ["src_type", "src", "weight"]]
                      .set_axis(["node_type", "node", "weight"], axis=1))
    if direction in ("out", "both"):
        hit = _in_set(table["src_type"], table["src"], key) & table["dst_type"].map(is_concept_type)
        picked.append(table.loc[hit, ["dst_type", "dst", "weight"]]
                      .set_axis(["node_type", "node", "weight"], axis=1))
    edges = pd.concat(picked, ignore_index=True)
    columns = ["concept_id", "label", "node_type", "weight", "n_edges"]
    if edges.empty:
        return pd.DataFrame(columns=columns)
    grouped = edges.groupby(["node_type", "node"], sort=True)["weight"].agg([reduce, "size"])
    grouped = grouped.reset_index().rename(columns={reduce: "weight", "size": "n_edges"})
    ids = np.empty(len(grouped), dtype=object)
    for t, idx in grouped.groupby("node_type").indices.items():
        ids[idx] = cohort.ids(t, grouped["node"].to_numpy()[idx])
    names = label_map(labels)
    grouped["concept_id"] = ids
    grouped["label"] = [names.get(i, i) for i in ids]
    out = grouped.sort_values(["weight", "concept_id"], ascending=[False, True], kind="stable")
    return out[columns].reset_index(drop=True)


def _in_set(types: pd.Series, nodes: pd.Series, key: set[tuple[str, int]]) -> pd.Series:
    """Vectorised membership of ``(type, node)`` pairs in ``key``."""
    if not len(types):
        return pd.Series(np.zeros(0, dtype=bool), index=types.index)
    wanted = pd.MultiIndex.from_tuples(sorted(key)) if key else None
    if wanted is None:
        return pd.Series(False, index=types.index)
    pairs = pd.MultiIndex.from_arrays([types.astype(object).to_numpy(),
                                       nodes.astype("int64").to_numpy()])
    return pd.Series(pairs.isin(wanted), index=types.index)
