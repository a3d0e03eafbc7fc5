"""GCN fed a cached, normalised sparse CSR adjacency instead of an ``edge_index``.

On this machine PyG's ``GCNConv`` spends most of an epoch on gather/scatter over
``edge_index``; the same layer fed ``D^-1/2 (A + I) D^-1/2`` as a ``torch.sparse_csr``
matrix is ~3x faster (see DESIGN.md). The normalisation is computed once per
``edge_index`` object and cached. The backward pass multiplies by the cached transpose
(the same matrix for undirected graphs) instead of letting torch transpose the CSR
matrix on every step, which is where torch's own CSR autograd loses most of its time.

Examples:
    >>> import torch
    >>> edge_index = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])
    >>> adj = normalized_adjacency(edge_index, num_nodes=3)
    >>> adj.layout
    torch.sparse_csr
    >>> normalized_adjacency(edge_index, num_nodes=3) is adj  # cached
    True
    >>> model = GCN(4, 8, 2)
    >>> model(torch.randn(3, 4), edge_index).shape
    torch.Size([3, 2])
"""

from __future__ import annotations

import warnings
import weakref

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import GCNConv
from torch_geometric.nn.conv.gcn_conv import gcn_norm
from torch_geometric.utils import spmm

from gnn.models.base import (
    MODELS,
    as_long_index,
    init_layer_stack,
    reset_all,
)
from ontologies.errors import InputError

__all__ = ["GCN", "CachedGCNConv", "normalized_adjacency", "build_csr"]

# Attribute under which an adjacency carries its transpose for the backward pass.
_TRANSPOSE_ATTR = "_medkg_transpose"

# (id(edge_index), num_nodes, add_self_loops) -> (weakref, tensor version, adjacency)
_CACHE: dict[tuple[int, int, bool], tuple[weakref.ref, int, Tensor]] = {}


def build_csr(row: Tensor, col: Tensor, value: Tensor, size: tuple[int, int]) -> Tensor:
    """Builds a ``torch.sparse_csr`` matrix from COO triplets by sorting (duplicates kept).

    Args:
        row: Row indices ``[nnz]``.
        col: Column indices ``[nnz]``.
        value: Entries ``[nnz]``.
        size: ``(num_rows, num_cols)``.

    Returns:
        A CSR tensor of shape ``size`` with sorted column indices per row.

    Examples:
        >>> m = build_csr(torch.tensor([1, 0]), torch.tensor([0, 1]), torch.tensor([2.0, 3.0]),
        ...               (2, 2))
        >>> m.to_dense()
        tensor([[0., 3.],
                [2., 0.]])
    """
    perm = torch.argsort(row * size[1] + col)
    crow = torch.zeros(size[0] + 1, dtype=torch.long)
    torch.cumsum(torch.bincount(row, minlength=size[0]), dim=0, out=crow[1:])
    with warnings.catch_warnings():  # "CSR support is in beta" is noise here
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(crow, col[perm], value[perm], size)


def normalized_adjacency(
    edge_index: Tensor, num_nodes: int, add_self_loops: bool = True
) -> Tensor:
    """The GCN-normalised adjacency ``D^-1/2 (A + I) D^-1/2`` as a cached CSR matrix.

    The matrix is laid out for message passing (``adj_t[i, j]`` weighs the edge
    ``j -> i``), as ``GCNConv`` expects of a sparse input. It is computed once per
    ``edge_index`` object (and recomputed if that tensor is modified in place); the cache
    entry dies with the tensor.

    Args:
        edge_index: ``[2, E]`` source/target node indices.
        num_nodes: Number of nodes ``N``.
        add_self_loops: Add ``I`` before normalising (Kipf & Welling).

    Returns:
        ``torch.sparse_csr`` tensor ``[N, N]`` (float32).

    Raises:
        InputError: ``edge_index`` is mis-shaped or indexes outside ``[0, num_nodes)``.

    Examples:
        >>> ei = torch.tensor([[0, 1], [1, 0]])
        >>> normalized_adjacency(ei, 2).to_dense()
        tensor([[0.5000, 0.5000],
                [0.5000, 0.5000]])
    """
    key = (id(edge_index), int(num_nodes), bool(add_self_loops))
    hit = _CACHE.get(key)
    if hit is not None and hit[0]() is edge_index and hit[1] == edge_index._version:
        return hit[2]
    index = as_long_index(edge_index)
    if index.numel() and (int(index.min()) < 0 or int(index.max()) >= num_nodes):
        raise InputError(
            f"edge_index holds node {int(index.min())}..{int(index.max())}, "
            f"expected indices in [0, {num_nodes})"
        )
    index, weight = gcn_norm(index, None, num_nodes, add_self_loops=add_self_loops)
    src, dst = index[0], index[1]
    adj = build_csr(dst, src, weight, (num_nodes, num_nodes))
    adj_tr = build_csr(src, dst, weight, (num_nodes, num_nodes))
    symmetric = torch.equal(adj.crow_indices(), adj_tr.crow_indices()) and torch.equal(
        adj.col_indices(), adj_tr.col_indices()
    ) and torch.allclose(adj.values(), adj_tr.values())
    # An undirected graph needs no second copy: the matrix is its own transpose.
    setattr(adj, _TRANSPOSE_ATTR, adj if symmetric else adj_tr)
    _CACHE[key] = (
        weakref.ref(edge_index, lambda _ref, k=key: _CACHE.pop(k, None)),
        edge_index._version,
        adj,
    )
    return adj


class _ConstantSpMM(torch.autograd.Function):
    """``adj @ x`` for a constant sparse ``adj``; backward uses the cached transpose."""

    @staticmethod
    def forward(ctx, adj: Tensor, adj_tr: Tensor, x: Tensor) -> Tensor:  # type: ignore[override]
        ctx.adj_tr = adj_tr
        return torch.sparse.mm(adj, x)

    @staticmethod
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        grad_x = torch.sparse.mm(ctx.adj_tr, grad) if ctx.needs_input_grad[2] else None
        return None, None, grad_x


class CachedGCNConv(GCNConv):
    """``GCNConv`` whose sparse aggregation reuses the transpose cached by
    :func:`normalized_adjacency` in the backward pass.

    Same arguments as :class:`torch_geometric.nn.GCNConv`; any other input (an
    ``edge_index``, a sparse matrix without a cached transpose, a trainable adjacency)
    takes PyG's own path.
    """

    def message_and_aggregate(self, adj_t: Tensor, x: Tensor) -> Tensor:
        adj_tr = getattr(adj_t, _TRANSPOSE_ATTR, None)
        if adj_tr is None or adj_t.requires_grad or self.aggr not in ("add", "sum"):
            return spmm(adj_t, x, reduce=self.aggr)
        return _ConstantSpMM.apply(adj_t, adj_tr, x)


@MODELS.register("gcn")
class GCN(nn.Module):
    """A stack of GCN layers over a cached normalised CSR adjacency.

    Args:
        in_channels: Input feature size.
        hidden_channels: Hidden size of the inner layers.
        out_channels: Output size (classes, or an embedding size for link prediction).
        num_layers: Number of GCN layers (>= 1).
        dropout: Dropout on the input of every layer (as in Kipf & Welling).
        add_self_loops: Add ``I`` to the adjacency before normalising.
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        out_channels: int,
        num_layers: int = 2,
        dropout: float = 0.5,
        add_self_loops: bool = True,
    ):
        super().__init__()
        sizes = init_layer_stack(self, in_channels, hidden_channels, out_channels,
                                 num_layers, dropout)
        self.add_self_loops = add_self_loops
        self.convs = nn.ModuleList(
            CachedGCNConv(a, b, normalize=False) for a, b in zip(sizes[:-1], sizes[1:])
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-initialises every layer."""
        reset_all(self.convs)

    def adjacency(self, edge_index: Tensor, num_nodes: int) -> Tensor:
        """The (cached) CSR adjacency the layers use for ``edge_index``."""
        if edge_index.layout == torch.sparse_csr:
            return edge_index
        return normalized_adjacency(edge_index, num_nodes, self.add_self_loops)

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        """Node representations.

        Args:
            x: Node features ``[N, in_channels]``.
            edge_index: ``[2, E]`` edges (normalised and cached on first use), or an
                already normalised ``torch.sparse_csr`` adjacency ``[N, N]``.

        Returns:
            ``[N, out_channels]``.
        """
        if x.dim() != 2 or x.size(1) != self.in_channels:
            raise InputError(
                f"x must be [N, {self.in_channels}], got shape {tuple(x.shape)}"
            )
        adj = self.adjacency(edge_index, x.size(0))
        for i, conv in enumerate(self.convs):
            x = F.dropout(x, p=self.dropout, training=self.training)
            x = conv(x, adj)
            if i < self.num_layers - 1:
                x = x.relu()
        return x

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.in_channels}, {self.out_channels}, "
            f"num_layers={self.num_layers})"
        )
