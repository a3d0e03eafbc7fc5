"""Heterogeneous GNNs over the merged graph: to_hetero(SAGE/GAT), R-GCN and HGT.

Every model projects each node type to ``hidden_channels`` first: a ``Linear`` for types
with features, an ``nn.Embedding`` for types that only have ids. The input for an
id-only type is a LongTensor of its node ids (``hetero_inputs`` builds the dict).
All models map ``(x_dict, edge_index_dict) -> {node_type: [n_t, out_channels]}``.
Every node type must receive messages (add reverse edges, e.g. with
``torch_geometric.transforms.ToUndirected``).

Examples:
    >>> import torch
    >>> from torch_geometric.data import HeteroData
    >>> data = HeteroData()
    >>> data["patient"].x = torch.randn(3, 5)
    >>> data["disease"].num_nodes = 4          # id-only: learnable embeddings
    >>> data["patient", "has", "disease"].edge_index = torch.tensor([[0, 1, 2], [0, 3, 3]])
    >>> data["disease", "rev_has", "patient"].edge_index = torch.tensor([[0, 3, 3], [0, 1, 2]])
    >>> model = HeteroSAGE.from_data(data, hidden_channels=8, out_channels=2)
    >>> out = model(hetero_inputs(data), data.edge_index_dict)
    >>> {k: tuple(v.shape) for k, v in sorted(out.items())}
    {'disease': (4, 2), 'patient': (3, 2)}
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch_geometric.data import HeteroData
from torch_geometric.nn import GATConv, HGTConv, RGCNConv, SAGEConv, to_hetero
from torch_geometric.typing import EdgeType, Metadata, NodeType

from gnn.models.base import MODELS, check_dropout, check_positive
from ontologies.errors import ConfigError, InputError

__all__ = [
    "HeteroInputProjection",
    "HeteroSAGE",
    "HeteroGAT",
    "RGCN",
    "HGT",
    "hetero_inputs",
]


def hetero_inputs(data: HeteroData) -> dict[NodeType, Tensor]:
    """Model inputs per node type: ``x`` where present, else node ids for the embedding.

    Ids are ``n_id`` (set by PyG loaders on mini-batches) or ``arange(num_nodes)``.

    Examples:
        >>> d = HeteroData()
        >>> d["drug"].num_nodes = 3
        >>> hetero_inputs(d)["drug"]
        tensor([0, 1, 2])
    """
    out = {}
    for node_type in data.node_types:
        store = data[node_type]
        if "x" in store:
            out[node_type] = store.x
        elif "n_id" in store:
            out[node_type] = store.n_id
        else:
            out[node_type] = torch.arange(store.num_nodes)
    return out


class HeteroInputProjection(nn.Module):
    """Maps every node type to a common width: Linear for features, Embedding for ids.

    Args:
        node_types: All node types, in a fixed order.
        in_channels: Feature size per node type; 0 or absent means id-only.
        num_nodes: Node count per id-only type (size of its embedding table).
        out_channels: The common width.
    """

    def __init__(
        self,
        node_types: list[NodeType],
        in_channels: dict[NodeType, int],
        num_nodes: dict[NodeType, int] | None,
        out_channels: int,
    ):
        super().__init__()
        self.node_types = list(node_types)
        self.in_channels = {t: int(in_channels.get(t, 0) or 0) for t in self.node_types}
        self.num_nodes = dict(num_nodes or {})
        self.out_channels = out_channels
        self.proj = nn.ModuleDict()
        for t in self.node_types:
            if "." in t:
                raise ConfigError(f"node type {t!r} must not contain '.'")
            if self.in_channels[t] > 0:
                self.proj[t] = nn.Linear(self.in_channels[t], out_channels)
            elif (self.num_nodes.get(t) or 0) > 0:
                self.proj[t] = nn.Embedding(self.num_nodes[t], out_channels)
            else:
                raise ConfigError(
                    f"node type {t!r} has neither in_channels > 0 nor num_nodes > 0 "
                    "(needed for its embedding table)"
                )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-initialises every projection."""
        for module in self.proj.values():
            module.reset_parameters()

    def forward(self, x_dict: dict[NodeType, Tensor]) -> dict[NodeType, Tensor]:
        """Projects ``{t: [n_t, in_t] float | [n_t] long ids}`` to ``{t: [n_t, out]}``."""
        out = {}
        for t in self.node_types:
            if t not in x_dict:
                raise InputError(f"x_dict lacks node type {t!r}; expected {self.node_types}")
            x = x_dict[t]
            if self.in_channels[t] > 0:
                if x.dim() != 2 or x.size(1) != self.in_channels[t]:
                    raise InputError(
                        f"x_dict[{t!r}] must be [n, {self.in_channels[t]}], "
                        f"got shape {tuple(x.shape)}"
                    )
            elif x.dim() != 1 or x.is_floating_point():
                raise InputError(
                    f"x_dict[{t!r}] must be a 1-D LongTensor of node ids (type has no "
                    f"features), got {x.dtype} of shape {tuple(x.shape)}"
                )
            out[t] = self.proj[t](x)
        return out


def _check_metadata(metadata: Metadata) -> tuple[list[NodeType], list[EdgeType]]:
    node_types, edge_types = list(metadata[0]), [tuple(e) for e in metadata[1]]
    if not node_types or not edge_types:
        raise ConfigError(f"metadata needs node and edge types, got {metadata!r}")
    receivers = {e[2] for e in edge_types}
    silent = [t for t in node_types if t not in receivers]
    if silent:
        raise ConfigError(
            f"node types {silent} receive no edges, so no layer would update them; add "
            "reverse edges (torch_geometric.transforms.ToUndirected)"
        )
    return node_types, edge_types


class _HeteroModel(nn.Module):
    """Shared constructor, input projection, ``from_data`` and ``__repr__``."""

    def __init__(
        self,
        metadata: Metadata,
        in_channels: dict[NodeType, int],
        hidden_channels: int,
        out_channels: int,
        num_layers: int = 2,
        dropout: float = 0.2,
        num_nodes: dict[NodeType, int] | None = None,
    ):
        super().__init__()
        self.node_types, self.edge_types = _check_metadata(metadata)
        self.hidden_channels = check_positive("hidden_channels", hidden_channels)
        self.out_channels = check_positive("out_channels", out_channels)
        self.num_layers = check_positive("num_layers", num_layers)
        self.dropout = check_dropout(dropout)
        self.input = HeteroInputProjection(
            self.node_types, in_channels, num_nodes, hidden_channels
        )

    @classmethod
    def from_data(cls, data: HeteroData, **kwargs: Any) -> _HeteroModel:
        """Builds the model with metadata, feature sizes and node counts of ``data``."""
        in_channels = {
            t: data[t].x.size(-1) if "x" in data[t] else 0 for t in data.node_types
        }
        num_nodes = {t: data[t].num_nodes for t in data.node_types}
        return cls(data.metadata(), in_channels, num_nodes=num_nodes, **kwargs)

    def reset_parameters(self) -> None:
        """Re-initialises the projection and every layer (per-type copies included)."""
        for module in self.modules():
            if module is not self and hasattr(module, "reset_parameters"):
                module.reset_parameters()

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(node_types={len(self.node_types)}, "
            f"edge_types={len(self.edge_types)}, {self.hidden_channels}, "
            f"{self.out_channels}, num_layers={self.num_layers})"
        )


class _SAGEStack(nn.Module):
    """Homogeneous template that ``to_hetero`` copies per edge type."""

    def __init__(self, hidden: int, out: int, num_layers: int, dropout: float):
        super().__init__()
        self.convs = nn.ModuleList(
            SAGEConv((hidden, hidden), out if i == num_layers - 1 else hidden)
            for i in range(num_layers)
        )
        # Dropout as a module: to_hetero traces forward once, a module keeps .training live.
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        for i, conv in enumerate(self.convs):
            x = conv(self.drop(x), edge_index)
            if i < len(self.convs) - 1:
                x = x.relu()
        return x


class _GATStack(nn.Module):
    """Homogeneous GAT template for ``to_hetero`` (self-loops make no sense across types)."""

    def __init__(self, hidden: int, out: int, num_layers: int, dropout: float, heads: int):
        super().__init__()
        self.convs = nn.ModuleList()
        for i in range(num_layers):
            last = i == num_layers - 1
            self.convs.append(
                GATConv(
                    (hidden, hidden),
                    out if last else hidden // heads,
                    heads=1 if last else heads,
                    concat=not last,
                    add_self_loops=False,
                )
            )
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        for i, conv in enumerate(self.convs):
            x = conv(self.drop(x), edge_index)
            if i < len(self.convs) - 1:
                x = torch.nn.functional.elu(x)
        return x


@MODELS.register("hetero_sage")
class HeteroSAGE(_HeteroModel):
    """GraphSAGE made heterogeneous by ``to_hetero`` (one SAGEConv per edge type).

    Args:
        metadata: ``(node_types, edge_types)`` as from ``HeteroData.metadata()``.
        in_channels: Feature size per node type (0/absent: id-only, embedded).
        hidden_channels: Common width after projection and in hidden layers.
        out_channels: Output size per node.
        num_layers: Message-passing layers.
        dropout: Dropout before every layer.
        num_nodes: Node count of each id-only type.
        aggr: How ``to_hetero`` merges messages from several edge types into one type.
    """

    def __init__(
        self,
        metadata: Metadata,
        in_channels: dict[NodeType, int],
        hidden_channels: int,
        out_channels: int,
        num_layers: int = 2,
        dropout: float = 0.2,
        num_nodes: dict[NodeType, int] | None = None,
        aggr: str = "sum",
    ):
        super().__init__(
            metadata, in_channels, hidden_channels, out_channels, num_layers, dropout, num_nodes
        )
        self.aggr = aggr
        self.gnn = to_hetero(self._template(), (self.node_types, self.edge_types), aggr=aggr)
        self.reset_parameters()

    def _template(self) -> nn.Module:
        return _SAGEStack(self.hidden_channels, self.out_channels, self.num_layers, self.dropout)

    def forward(
        self, x_dict: dict[NodeType, Tensor], edge_index_dict: dict[EdgeType, Tensor]
    ) -> dict[NodeType, Tensor]:
        """Maps ``{t: [n_t, in_t] | [n_t] ids}`` and ``{edge_type: [2, E]}`` to
        ``{t: [n_t, out_channels]}``."""
        h = self.input(x_dict)
        edges = {e: edge_index_dict[e] for e in self.edge_types if e in edge_index_dict}
        return self.gnn(h, edges)


@MODELS.register("hetero_gat")
class HeteroGAT(HeteroSAGE):
    """GAT (no self-loops) made heterogeneous by ``to_hetero``; ``heads`` per hidden layer.

    Same arguments as :class:`HeteroSAGE` plus ``heads`` (divides ``hidden_channels``).
    """

    def __init__(
        self,
        metadata: Metadata,
        in_channels: dict[NodeType, int],
        hidden_channels: int,
        out_channels: int,
        num_layers: int = 2,
        dropout: float = 0.2,
        num_nodes: dict[NodeType, int] | None = None,
        aggr: str = "sum",
        heads: int = 2,
    ):
        # Checked before the parent builds the template, which reads it.
        self.heads = check_positive("heads", heads)
        if hidden_channels % heads:
            raise ConfigError(
                f"hidden_channels ({hidden_channels}) must be divisible by heads ({heads})"
            )
        super().__init__(
            metadata, in_channels, hidden_channels, out_channels, num_layers, dropout,
            num_nodes, aggr,
        )

    def _template(self) -> nn.Module:
        return _GATStack(
            self.hidden_channels, self.out_channels, self.num_layers, self.dropout, self.heads
        )


@MODELS.register("rgcn")
class RGCN(_HeteroModel):
    """Relational GCN (Schlichtkrull et al.) on the homogeneous view of the graph.

    Runs without pyg-lib (RGCNConv then loops over relations). Same arguments as
    :class:`HeteroSAGE` (without ``aggr``) plus ``num_bases`` (basis decomposition of
    the relation weights; ``None`` keeps one full matrix per relation).
    """

    def __init__(
        self,
        metadata: Metadata,
        in_channels: dict[NodeType, int],
        hidden_channels: int,
        out_channels: int,
        num_layers: int = 2,
        dropout: float = 0.2,
        num_nodes: dict[NodeType, int] | None = None,
        num_bases: int | None = None,
    ):
        super().__init__(
            metadata, in_channels, hidden_channels, out_channels, num_layers, dropout, num_nodes
        )
        self.num_bases = num_bases
        self.convs = nn.ModuleList(
            RGCNConv(
                hidden_channels,
                out_channels if i == num_layers - 1 else hidden_channels,
                num_relations=len(self.edge_types),
                num_bases=num_bases,
            )
            for i in range(num_layers)
        )
        self.drop = nn.Dropout(self.dropout)
        self.reset_parameters()

    def forward(
        self, x_dict: dict[NodeType, Tensor], edge_index_dict: dict[EdgeType, Tensor]
    ) -> dict[NodeType, Tensor]:
        """Same contract as :meth:`HeteroSAGE.forward`."""
        h = self.input(x_dict)
        sizes = [h[t].size(0) for t in self.node_types]
        offsets = dict(zip(self.node_types, torch.tensor([0] + sizes[:-1]).cumsum(0).tolist()))
        parts, kinds = [], []
        for rel, (src, _, dst) in enumerate(self.edge_types):
            index = edge_index_dict.get((src, _, dst))
            if index is None or index.numel() == 0:
                continue
            shift = torch.tensor([[offsets[src]], [offsets[dst]]], dtype=index.dtype)
            parts.append(index + shift)
            kinds.append(torch.full((index.size(1),), rel, dtype=torch.long))
        edge_index = torch.cat(parts, 1) if parts else torch.empty(2, 0, dtype=torch.long)
        edge_type = torch.cat(kinds) if kinds else torch.empty(0, dtype=torch.long)
        x = torch.cat([h[t] for t in self.node_types], 0)
        for i, conv in enumerate(self.convs):
            x = conv(self.drop(x), edge_index, edge_type)
            if i < self.num_layers - 1:
                x = x.relu()
        return dict(zip(self.node_types, x.split(sizes)))


@MODELS.register("hgt")
class HGT(_HeteroModel):
    """Heterogeneous Graph Transformer (Hu et al.), then a Linear per node type.

    Runs without pyg-lib/torch-sparse on torch 2.13 + PyG 2.8. Same arguments as
    :class:`HeteroSAGE` (without ``aggr``) plus ``heads`` (divides ``hidden_channels``).
    """

    def __init__(
        self,
        metadata: Metadata,
        in_channels: dict[NodeType, int],
        hidden_channels: int,
        out_channels: int,
        num_layers: int = 2,
        dropout: float = 0.2,
        num_nodes: dict[NodeType, int] | None = None,
        heads: int = 2,
    ):
        super().__init__(
            metadata, in_channels, hidden_channels, out_channels, num_layers, dropout, num_nodes
        )
        self.heads = check_positive("heads", heads)
        if hidden_channels % heads:
            raise ConfigError(
                f"hidden_channels ({hidden_channels}) must be divisible by heads ({heads})"
            )
        meta = (self.node_types, self.edge_types)
        self.convs = nn.ModuleList(
            HGTConv(hidden_channels, hidden_channels, meta, heads=heads)
            for _ in range(num_layers)
        )
        self.out = nn.ModuleDict(
            {t: nn.Linear(hidden_channels, out_channels) for t in self.node_types}
        )
        self.drop = nn.Dropout(self.dropout)
        self.reset_parameters()

    def forward(
        self, x_dict: dict[NodeType, Tensor], edge_index_dict: dict[EdgeType, Tensor]
    ) -> dict[NodeType, Tensor]:
        """Same contract as :meth:`HeteroSAGE.forward`."""
        h = self.input(x_dict)
        edges = {e: edge_index_dict[e] for e in self.edge_types if e in edge_index_dict}
        for conv in self.convs:
            new = conv({t: self.drop(v) for t, v in h.items()}, edges)
            # A type whose edges are all absent in this batch keeps its representation.
            h = {t: new[t] if new.get(t) is not None else h[t] for t in self.node_types}
        return {t: self.out[t](h[t]) for t in self.node_types}
