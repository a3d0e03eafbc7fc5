"""Model building blocks, found by name: ``gnn.models.get("gat", in_channels=...)``.

Registered: ``gcn``, ``gat``, ``gatv2``, ``hetero_sage``, ``hetero_gat``, ``rgcn``,
``hgt``, ``mlp``. Heads (:class:`LinkPredictor`, :class:`MultiLabelHead`) are plain
classes.
"""

from gnn.models.base import MODELS, get
from gnn.models.gat import GAT, GATv2
from gnn.models.gcn import GCN, CachedGCNConv, build_csr, normalized_adjacency
from gnn.models.heads import LinkPredictor, MultiLabelHead
from gnn.models.hetero import (
    HGT,
    RGCN,
    HeteroGAT,
    HeteroInputProjection,
    HeteroSAGE,
    hetero_inputs,
)
from gnn.models.mlp import MLPModel

__all__ = [
    "MODELS",
    "get",
    "GCN",
    "CachedGCNConv",
    "normalized_adjacency",
    "build_csr",
    "GAT",
    "GATv2",
    "HeteroSAGE",
    "HeteroGAT",
    "RGCN",
    "HGT",
    "HeteroInputProjection",
    "hetero_inputs",
    "MLPModel",
    "LinkPredictor",
    "MultiLabelHead",
]
