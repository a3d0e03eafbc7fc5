"""``PatientPredictor``: one contract for every model of the ablation.

``forward(data) -> [num_patients, num_labels]`` logits and ``embed(data) ->
[num_patients, hidden]``, where ``data`` is a cohort ``HeteroData``
(:mod:`graphs.cohort`). Variants, chosen by ``model``:

- ``gcn``/``gat``/``gatv2``: every node type is projected to ``hidden`` (Linear for
  featured types, ``nn.Embedding`` for id-only concept types), the types are stacked into
  one homogeneous graph (edge index cached per data object, so GCN's normalised
  adjacency is cached too) and the patient rows of the output are kept.
- ``hetero_sage``/``hetero_gat``/``rgcn``/``hgt``: the typed models of :mod:`gnn.models`.
- ``mlp``: no graph; patient-level feature groups only.

Patient-level feature groups (``inputs``): ``demographics`` (``data["patient"].x``),
``history_codes`` (multi-hot of recorded codes, :func:`patient_code_matrix`) and each
modality summary ``x_<m>`` with its mask ``mask_<m>``. They pass through a fusion module
(:mod:`gnn.fusion`); for graph models the fused vector is concatenated with the GNN
patient embedding and mixed by a small MLP before the head. (Feeding the GNN embedding
into the gated fusion as one more "modality" was tried: modality dropout and the convex
gate mix dilute it. On the 1,000-patient demo, hetero_sage reached test AUROC macro 0.68
that way vs 0.83-0.84 with this design, two seeds.) Defaults: ``mlp`` uses every group
the data has (multimodal without KG, ``early`` fusion); graph models use demographics plus
the modalities (``gated`` fusion), since codes are already graph nodes.
``graph_modalities=False`` drops modality nodes from the graph and modality summaries from
the default inputs ("KG + codes only").

``label_readout=True`` (multi-label, graph models) adds to each label's logit the dot
product of the patient embedding with a projection of the label's own node in the graph
(:func:`label_node_index`: an ICD-10-CM category for comorbidity, a drug for treatment).
The label node's GNN output summarises the codes under it and the patients who have them,
so a category that is three hops from a patient (patient <- visit <- code <- category)
still informs its prediction with two message-passing layers.

``objective="link"`` scores patients against labels as links: a label's embedding is a
learned vector plus, when the label is a node of the graph (a drug for the treatment
task), that node's GNN output; :class:`~gnn.models.LinkPredictor` (dot product) scores
every (patient, label) pair. Training then uses negative sampling (see
:func:`gnn.train.link_loss`).

Examples:
    >>> import torch
    >>> from torch_geometric.data import HeteroData
    >>> d = HeteroData()
    >>> d["patient"].x = torch.randn(3, 2)
    >>> d["patient"].x_note = torch.randn(3, 4)
    >>> d["patient"].mask_note = torch.tensor([True, False, True])
    >>> d["disease"].num_nodes = 2
    >>> d["patient", "has", "disease"].edge_index = torch.tensor([[0, 1], [0, 1]])
    >>> d["disease", "rev_has", "patient"].edge_index = torch.tensor([[0, 1], [0, 1]])
    >>> model = PatientPredictor(d, num_labels=5, model="gcn", hidden=8)
    >>> model(d).shape, model.embed(d).shape
    (torch.Size([3, 5]), torch.Size([3, 8]))
    >>> model.inputs
    ['demographics', 'note']
"""

from __future__ import annotations

import weakref
from typing import Any

import pandas as pd
import torch
from torch import Tensor, nn
from torch_geometric.data import HeteroData

import gnn.fusion
import gnn.models
from gnn.config import GRAPH_MODELS, TrainConfig
from gnn.models import HeteroInputProjection, LinkPredictor, MultiLabelHead, hetero_inputs
from gnn.models.mlp import MLPModel
from ontologies.errors import ConfigError, InputError, SchemaError

__all__ = ["PatientPredictor", "patient_code_matrix", "graph_view", "available_inputs",
           "CODE_RELATIONS", "HOMOGENEOUS_MODELS", "label_node_index"]

#: Relations from a visit (or patient) to a recorded code.
CODE_RELATIONS = ("has_diagnosis", "takes_drug", "has_procedure", "has_phenotype")
#: Models run on the stacked (homogeneous) view of the cohort graph.
HOMOGENEOUS_MODELS = ("gcn", "gat", "gatv2")


def _modality_types() -> tuple[str, ...]:
    from graphs.cohort.features import MODALITY_TYPES

    return MODALITY_TYPES


def _as_data(cohort: Any) -> HeteroData:
    data = getattr(cohort, "data", cohort)
    if not isinstance(data, HeteroData):
        raise InputError(f"expected a CohortGraph or HeteroData, got {type(cohort).__name__}")
    return data


def _visit_owner(data: HeteroData) -> Tensor | None:
    if "visit" not in data.node_types:
        return None
    if "patient" in data["visit"]:
        return data["visit"].patient.long()
    owner = torch.full((data["visit"].num_nodes,), -1, dtype=torch.long)
    if ("patient", "has_visit", "visit") in data.edge_types:
        ei = data["patient", "has_visit", "visit"].edge_index
        owner[ei[1]] = ei[0]
    return owner


def patient_code_matrix(cohort: Any) -> tuple[Tensor, list[str]]:
    """Multi-hot of every patient's recorded codes (diagnoses, drugs, procedures).

    Codes are the targets of ``(visit|patient, has_diagnosis|takes_drug|has_procedure|
    has_phenotype, <type>)`` edges, at the level they were recorded (no is_a ancestors).
    Only codes recorded for at least one patient get a column.

    Args:
        cohort: A :class:`~graphs.cohort.CohortGraph` (columns named by code ids) or its
            ``HeteroData`` (columns named ``<type>:<row>``).

    Returns:
        ``(matrix float [num_patients, num_codes], column names)``.

    Examples:
        >>> from graphs.cohort import CohortBuilder
        >>> from graphs.cohort.demo import tiny_kg, tiny_records
        >>> m, cols = patient_code_matrix(CohortBuilder(tiny_kg()).build(tiny_records()))
        >>> cols
        ['ICD10CM:E11.65', 'ICD10CM:E11.9', 'ICD10CM:I10', 'RXNORM:6809']
        >>> m.tolist()
        [[1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 1.0, 0.0]]
    """
    data = _as_data(cohort)
    node_ids = getattr(cohort, "node_ids", None)
    n = data["patient"].num_nodes if "patient" in data.node_types else 0
    owner = _visit_owner(data)
    rows, cols, names = [], [], []
    width = 0
    for src, rel, dst in sorted(data.edge_types):
        if rel not in CODE_RELATIONS or src not in ("visit", "patient"):
            continue
        ei = data[src, rel, dst].edge_index
        pat = ei[0] if src == "patient" else owner[ei[0]]
        used, col = torch.unique(ei[1], return_inverse=True)
        rows.append(pat)
        cols.append(col + width)
        width += len(used)
        if node_ids is not None:
            names += [str(s) for s in node_ids[dst][used.numpy()]]
        else:
            names += [f"{dst}:{int(i)}" for i in used]
    matrix = torch.zeros(n, width)
    if rows:
        r, c = torch.cat(rows), torch.cat(cols)
        ok = r >= 0
        matrix[r[ok], c[ok]] = 1.0
    # A code can appear under two node types only in malformed graphs; order by name.
    order = sorted(range(width), key=names.__getitem__)
    return matrix[:, order], [names[i] for i in order]


def label_node_index(cohort: Any, label_ids: list[str]) -> tuple[str | None, Tensor]:
    """Where the task's labels are nodes of the cohort graph.

    Args:
        cohort: A :class:`~graphs.cohort.CohortGraph` (its ``node_ids`` are searched).
        label_ids: The task's label ids (e.g. ``ICD10CM:E11`` or ``RXNORM:6809``).

    Returns:
        ``(node type, rows [num_labels])``: the node type holding the most labels and
        each label's row in it (-1 where the label is not a node of that type), or
        ``(None, all -1)`` when no label is a node.

    Examples:
        >>> from graphs.cohort import CohortBuilder
        >>> from graphs.cohort.demo import tiny_kg, tiny_records
        >>> cohort = CohortBuilder(tiny_kg()).build(tiny_records())
        >>> node_type, rows = label_node_index(cohort, ["RXNORM:6809", "NOT:A-NODE"])
        >>> node_type, rows.tolist()
        ('drug', [0, -1])
    """
    node_ids = getattr(cohort, "node_ids", None) or {}
    best: tuple[str | None, Tensor] = (None, torch.full((len(label_ids),), -1, dtype=torch.long))
    found = 0
    for node_type, ids in node_ids.items():
        rows = torch.from_numpy(pd.Index(ids).get_indexer(list(label_ids))).long()
        hits = int((rows >= 0).sum())
        if hits > found:
            best, found = (node_type, rows), hits
    return best


def graph_view(data: HeteroData, modalities: bool = True) -> HeteroData:
    """The part of the cohort graph a GNN runs on: node ``x`` and ``edge_index`` only.

    Drops empty node types, edge types without edges, modality node types when
    ``modalities`` is False, and node types that would receive no messages. Tensors are
    shared with ``data``, not copied.

    Raises:
        SchemaError: ``patient`` nodes would receive no edges (build the cohort with
            reverse edges).
    """
    modality = set(_modality_types())
    types = [t for t in data.node_types
             if data[t].num_nodes and (modalities or t not in modality)]
    while True:
        edges = [e for e in data.edge_types if e[0] in types and e[2] in types
                 and data[e].edge_index.size(1) > 0]
        receivers = {e[2] for e in edges}
        kept = [t for t in types if t in receivers]
        if kept == types:
            break
        types = kept
    if "patient" not in types:
        raise SchemaError("patient nodes receive no edges in the cohort graph; build it with "
                          "CohortConfig(reverse_edges=True) so messages reach patients")
    view = HeteroData()
    for t in types:
        if "x" in data[t]:
            view[t].x = data[t].x.float()
        view[t].num_nodes = data[t].num_nodes
    for e in edges:
        view[e].edge_index = data[e].edge_index.long()
    return view


def available_inputs(data: HeteroData) -> dict[str, int]:
    """Patient-level feature groups present in ``data`` and their widths."""
    store = data["patient"]
    out = {}
    if "x" in store:
        out["demographics"] = int(store.x.size(1))
    codes, _ = patient_code_matrix(data)
    if codes.size(1):
        out["history_codes"] = int(codes.size(1))
    for m in _modality_types():
        if f"x_{m}" in store:
            out[m] = int(store[f"x_{m}"].size(1))
    return out


def _stack(h: dict[str, Tensor], node_types: list[str]) -> tuple[Tensor, dict[str, int]]:
    """Per-type features -> one matrix (types in order); also each type's row offset."""
    offsets, total = {}, 0
    for t in node_types:
        offsets[t] = total
        total += h[t].size(0)
    return torch.cat([h[t] for t in node_types]), offsets


def _stack_edges(edges: dict[tuple, Tensor], edge_types: list[tuple],
                 offsets: dict[str, int]) -> Tensor:
    parts = [edges[e] + torch.tensor([[offsets[e[0]]], [offsets[e[2]]]])
             for e in edge_types if e in edges and edges[e].numel()]
    return torch.cat(parts, 1) if parts else torch.empty(2, 0, dtype=torch.long)


class PatientPredictor(nn.Module):
    """Predicts patient labels from the cohort graph (or patient features alone).

    Args:
        data: A cohort ``HeteroData`` of the shape training will use (sizes, types and
            feature widths are read from it; it is not stored).
        num_labels: Size of the label vocabulary.
        model: ``gcn``, ``gat``, ``gatv2``, ``hetero_sage``, ``hetero_gat``, ``rgcn``,
            ``hgt`` or ``mlp``.
        hidden: Width of embeddings.
        layers: Message-passing layers (graph models) or MLP layers (``mlp``).
        heads: Attention heads (GAT-type models, attention fusion).
        dropout: Feature dropout.
        fusion: Fusion name (``None``: ``gated`` for graph models, ``early`` for mlp).
        inputs: Patient-level groups to fuse (``None``: see module docstring).
        graph_modalities: Keep modality nodes in the graph.
        objective: ``multilabel`` or ``link``.
        label_nodes: Each label's row in ``label_node_type`` (-1: none); used by
            ``link`` and by ``label_readout``.
        label_node_type: Node type the labels are (``drug`` for treatment).
        label_readout: Multi-label graph models: add the patient-label-node dot product
            to each logit (see the module docstring).
    """

    def __init__(self, data: HeteroData, num_labels: int, model: str = "hetero_sage",
                 hidden: int = 64, layers: int = 2, heads: int = 4, dropout: float = 0.2,
                 fusion: str | None = None, inputs: list[str] | None = None,
                 graph_modalities: bool = True, objective: str = "multilabel",
                 label_nodes: Tensor | None = None, label_node_type: str = "drug",
                 label_readout: bool = False):
        super().__init__()
        cfg = TrainConfig(model=model, fusion=fusion, inputs=inputs, hidden=hidden,
                          layers=layers, heads=heads, dropout=dropout, objective=objective,
                          graph_modalities=graph_modalities, out_dir=None)
        if isinstance(num_labels, bool) or not isinstance(num_labels, int) or num_labels < 1:
            raise ConfigError(f"num_labels={num_labels!r}: expected an integer >= 1")
        data = _as_data(data)
        if "patient" not in data.node_types:
            raise SchemaError("the cohort graph has no 'patient' node type")
        self.model_name, self.fusion_name = cfg.model, cfg.resolved_fusion
        self.hidden, self.layers, self.heads, self.dropout = hidden, layers, heads, dropout
        self.num_labels, self.objective = num_labels, cfg.objective
        self.graph_modalities = cfg.graph_modalities
        self.is_graph = cfg.model in GRAPH_MODELS
        self.num_patients = int(data["patient"].num_nodes)
        available = available_inputs(data)
        self.inputs = self._resolve_inputs(cfg.inputs, available)
        self._cache_ref: weakref.ref | None = None
        self._cache: dict[str, Any] = {}
        widths = {g: available[g] for g in self.inputs}
        if self.is_graph:
            view = graph_view(data, self.graph_modalities)
            self.node_types, self.edge_types = list(view.node_types), list(view.edge_types)
            self.homogeneous = cfg.model in HOMOGENEOUS_MODELS
            if self.homogeneous:
                self.projection = HeteroInputProjection(
                    self.node_types,
                    {t: view[t].x.size(1) if "x" in view[t] else 0 for t in self.node_types},
                    {t: view[t].num_nodes for t in self.node_types}, hidden)
                extra = {"heads": heads} if cfg.model in ("gat", "gatv2") else {}
                self.gnn = gnn.models.get(cfg.model, in_channels=hidden, hidden_channels=hidden,
                                          out_channels=hidden, num_layers=layers,
                                          dropout=dropout, **extra)
            else:
                extra = {"heads": heads} if cfg.model in ("hetero_gat", "hgt") else {}
                self.gnn = gnn.models.MODELS.get(cfg.model).from_data(
                    view, hidden_channels=hidden, out_channels=hidden, num_layers=layers,
                    dropout=dropout, **extra)
        fusion_kwargs: dict[str, Any] = {"hidden_channels": hidden, "dropout": dropout}
        if cfg.resolved_fusion == "attention":
            fusion_kwargs["heads"] = heads
        self.fusion = None if not widths else gnn.fusion.get(
            cfg.resolved_fusion, in_channels=widths, out_channels=hidden, **fusion_kwargs)
        if self.is_graph:  # [GNN embedding, fused own features] -> hidden
            width = hidden * (2 if self.fusion is not None else 1)
            self.combine = MLPModel(width, hidden, hidden, num_layers=2, dropout=dropout)
        else:
            self.combine = MLPModel(hidden, hidden, hidden, num_layers=layers, dropout=dropout)
        self.label_node_type = label_node_type
        self.label_readout = bool(label_readout) and self.objective == "multilabel"
        if self.label_readout and not self.is_graph:
            raise ConfigError(f"label_readout needs a graph model, not model={model!r}")
        if self.objective == "link" or self.label_readout:
            nodes = (torch.full((num_labels,), -1, dtype=torch.long) if label_nodes is None
                     else torch.as_tensor(label_nodes, dtype=torch.long))
            if nodes.shape != (num_labels,):
                raise InputError(f"label_nodes must be [num_labels={num_labels}], got shape "
                                 f"{tuple(nodes.shape)}")
            if self.label_readout and (label_node_type not in self.node_types
                                       or not bool((nodes >= 0).any())):
                raise InputError(f"label_readout: no label is a node of the graph (node type "
                                 f"{label_node_type!r}); build the cohort graph with the "
                                 "labels' concepts in its KG scope")
            self.register_buffer("label_nodes", nodes)
        if self.label_readout:
            self.label_projection = nn.Linear(hidden, hidden)
        if self.objective == "link":
            self.label_embedding = nn.Embedding(num_labels, hidden)
            self.label_bias = nn.Parameter(torch.zeros(num_labels))
            self.link = LinkPredictor(hidden, mode="dot")
            self.head = None
        else:
            self.head = MultiLabelHead(hidden, num_labels, dropout=dropout)
        self.reset_parameters()

    @classmethod
    def from_config(cls, config: TrainConfig, data: HeteroData, num_labels: int,
                    label_nodes: Tensor | None = None, label_node_type: str = "drug"
                    ) -> PatientPredictor:
        """Builds the predictor a :class:`~gnn.config.TrainConfig` describes."""
        return cls(data, num_labels, model=config.model, hidden=config.hidden,
                   layers=config.layers, heads=config.heads, dropout=config.dropout,
                   fusion=config.fusion, inputs=config.inputs,
                   graph_modalities=config.graph_modalities, objective=config.objective,
                   label_nodes=label_nodes, label_node_type=label_node_type,
                   label_readout=config.label_readout)

    def _resolve_inputs(self, inputs: list[str] | None, available: dict[str, int]) -> list[str]:
        if inputs is None:
            if not self.is_graph:
                return list(available)
            return [g for g in available if g == "demographics"
                    or (g in _modality_types() and self.graph_modalities)]
        missing = [g for g in inputs if g not in available]
        if missing:
            raise InputError(f"inputs {missing} are not in the cohort graph; it has "
                             f"{', '.join(available) or 'no patient-level features'}")
        return list(inputs)

    def reset_parameters(self) -> None:
        """Re-initialises every sub-module and the label embeddings."""
        for module in self.children():
            if hasattr(module, "reset_parameters"):
                module.reset_parameters()
        if self.objective == "link":
            nn.init.normal_(self.label_embedding.weight, std=0.1)
            nn.init.zeros_(self.label_bias)

    # ------------------------------------------------------------------ per-data cache
    def _cached(self, data: HeteroData) -> dict[str, Any]:
        """Constants derived from ``data`` (features, graph view, stacked edges)."""
        if self._cache_ref is None or self._cache_ref() is not data:
            self._cache_ref, self._cache = weakref.ref(data), {}
        return self._cache

    def graph_view(self, data: HeteroData) -> HeteroData:
        """The (cached) graph the GNN runs on; see :func:`graph_view`."""
        cache = self._cached(data)
        if "view" not in cache:
            view = graph_view(data, self.graph_modalities)
            if list(view.node_types) != self.node_types or list(view.edge_types) != \
                    self.edge_types:
                raise InputError("the cohort graph's node/edge types differ from the ones "
                                 f"this model was built for: {view.metadata()} vs "
                                 f"{(self.node_types, self.edge_types)}")
            cache["view"] = view
        return cache["view"]

    def patient_features(self, data: HeteroData) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """(features, masks) of the fused patient-level groups, for all patients."""
        cache = self._cached(data)
        if "features" not in cache:
            store = data["patient"]
            n = int(store.num_nodes)
            if n != self.num_patients:
                raise InputError(f"the cohort graph has {n} patients; this model was built "
                                 f"for {self.num_patients}")
            feats, masks = {}, {}
            for g in self.inputs:
                if g == "demographics":
                    feats[g] = store.x.float()
                elif g == "history_codes":
                    feats[g] = patient_code_matrix(data)[0]
                    masks[g] = feats[g].sum(1) > 0
                else:
                    feats[g] = store[f"x_{g}"].float()
                    if f"mask_{g}" in store:
                        masks[g] = store[f"mask_{g}"].bool()
            cache["features"] = (feats, masks)
        return cache["features"]

    # ------------------------------------------------------------------ forward
    def _graph_outputs(self, data: HeteroData, batch: HeteroData | None
                       ) -> tuple[dict[str, Tensor], Tensor | None]:
        """GNN output per node type, and for a mini-batch its seed patients' rows."""
        if batch is not None:
            graph, seeds = batch, batch["patient"].n_id[: batch["patient"].batch_size]
        else:
            graph, seeds = self.graph_view(data), None
        x_in = hetero_inputs(graph)
        edges = graph.edge_index_dict
        if not self.homogeneous:
            return self.gnn(x_in, edges), seeds
        h = self.projection(x_in)
        x, offsets = _stack(h, self.node_types)
        if batch is None:
            cache = self._cached(data)
            if "edge_index" not in cache:  # kept alive here so GCN's adjacency cache hits
                cache["edge_index"] = _stack_edges(edges, self.edge_types, offsets)
            edge_index = cache["edge_index"]
        else:
            edge_index = _stack_edges(edges, self.edge_types, offsets)
        out = self.gnn(x, edge_index)
        sizes = [h[t].size(0) for t in self.node_types]
        return dict(zip(self.node_types, out.split(sizes), strict=True)), seeds

    def _embed(self, data: HeteroData, index: Tensor | None, batch: HeteroData | None
               ) -> tuple[Tensor, dict[str, Tensor] | None, Tensor | None]:
        outputs = None
        if self.is_graph:
            outputs, seeds = self._graph_outputs(data, batch)
            if seeds is not None:
                index = seeds
        feats, masks = self.patient_features(data)
        if index is not None:
            index = torch.as_tensor(index, dtype=torch.long)
            feats = {g: v[index] for g, v in feats.items()}
            masks = {g: v[index] for g, v in masks.items()}
        parts = []
        if outputs is not None:
            h = outputs["patient"]
            if batch is None and index is not None:
                h = h[index]
            elif batch is not None:
                h = h[: len(index)]
            parts.append(h)
        if self.fusion is not None:
            parts.append(self.fusion(feats, masks))
        z = self.combine(torch.cat(parts, dim=-1))
        return z, outputs, index

    def embed(self, data: HeteroData, index: Tensor | None = None,
              batch: HeteroData | None = None) -> Tensor:
        """Patient embeddings ``[num_patients, hidden]`` (rows ``index`` if given; the
        seed patients of ``batch``, a sampled subgraph, if given)."""
        return self._embed(data, index, batch)[0]

    def forward(self, data: HeteroData, index: Tensor | None = None,
                batch: HeteroData | None = None) -> Tensor:
        """Label logits ``[num_patients, num_labels]`` (or for ``index`` / ``batch``
        seeds, like :meth:`embed`)."""
        z, outputs, _ = self._embed(data, index, batch)
        if self.head is None:
            return self.link_scores(z, outputs)
        logits = self.head(z)
        if self.label_readout:
            logits = logits + self.node_readout(z, outputs)
        return logits

    def node_readout(self, z: Tensor, outputs: dict[str, Tensor] | None) -> Tensor:
        """``[n, num_labels]``: patient embedding . projected label-node embedding (0 for
        labels that are not nodes)."""
        if outputs is None or self.label_node_type not in outputs:
            raise InputError("label_readout needs the full-graph GNN outputs of the label "
                             f"nodes ({self.label_node_type!r})")
        has = self.label_nodes >= 0
        nodes = self.label_projection(outputs[self.label_node_type][self.label_nodes.clamp(min=0)])
        return (z @ nodes.t()) * has.to(z.dtype)

    def label_embeddings(self, outputs: dict[str, Tensor] | None) -> Tensor:
        """``[num_labels, hidden]``: learned vector + the label node's GNN output."""
        emb = self.label_embedding.weight
        t = self.label_node_type
        if outputs is not None and t in outputs and bool((self.label_nodes >= 0).any()):
            has = self.label_nodes >= 0
            node = outputs[t][self.label_nodes.clamp(min=0)]
            emb = emb + torch.where(has.unsqueeze(1), node, torch.zeros((), dtype=node.dtype))
        return emb

    def link_scores(self, z: Tensor, outputs: dict[str, Tensor] | None) -> Tensor:
        """Scores of every (patient, label) pair ``[n, num_labels]`` via the link head."""
        labels = self.label_embeddings(outputs)
        if self.link.mode == "dot":  # LinkPredictor's dot product, as one matmul
            scores = z @ labels.t()
        else:
            n, num = z.size(0), labels.size(0)
            scores = self.link(z.repeat_interleave(num, 0), labels.repeat(n, 1)).view(n, num)
        return scores + self.label_bias

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}(model={self.model_name!r}, "
                f"fusion={self.fusion_name!r}, inputs={self.inputs}, hidden={self.hidden}, "
                f"labels={self.num_labels}, objective={self.objective!r})")
