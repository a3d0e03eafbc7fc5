"""Neighbour sampling in pure torch for PyG's loaders (no pyg-lib / torch-sparse).

PyG's ``NeighborSampler`` needs pyg-lib or torch-sparse, which have no wheels for this
torch. :class:`CSRNeighborSampler` does the same job with sorting and vectorised
random draws: incoming edges are grouped per destination once (a CSR of the transposed
adjacency), and each hop draws up to ``k`` incoming edges for every frontier node at
once (Floyd's algorithm without replacement: ``k`` vectorised steps, whatever the
degree). It implements ``BaseSampler``, so PyG's ``NodeLoader`` and ``LinkLoader`` turn
its output into mini-batch ``Data``/``HeteroData`` exactly as for PyG's own sampler:
seed nodes first (``batch.batch_size`` of them), ``n_id``/``e_id`` map back to the full
graph, and edges point from sampled neighbours to the nodes that sampled them.

Examples:
    >>> import torch
    >>> from torch_geometric.data import Data
    >>> from torch_geometric.loader import NodeLoader
    >>> ring = torch.arange(6)
    >>> data = Data(x=torch.randn(6, 3),
    ...             edge_index=torch.stack([ring, (ring + 1) % 6]), num_nodes=6)
    >>> sampler = CSRNeighborSampler(data, num_neighbors=[1, 1], seed=0)
    >>> loader = NodeLoader(data, node_sampler=sampler, input_nodes=torch.tensor([3]),
    ...                     batch_size=1)
    >>> batch = next(iter(loader))
    >>> batch.n_id.tolist(), batch.edge_index.tolist()  # 2 -> 3, then 1 -> 2
    ([3, 2, 1], [[1, 2], [0, 1]])
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import Tensor
from torch_geometric.data import Data, HeteroData
from torch_geometric.sampler import (
    BaseSampler,
    EdgeSamplerInput,
    HeteroSamplerOutput,
    NegativeSampling,
    NodeSamplerInput,
    SamplerOutput,
)
from torch_geometric.sampler.neighbor_sampler import edge_sample, node_sample
from torch_geometric.typing import EdgeType, NodeType

from ontologies.errors import ConfigError, InputError

__all__ = ["CSRNeighborSampler", "incoming_csr", "sample_incoming"]


def incoming_csr(
    src: Tensor, dst: Tensor, num_dst: int
) -> tuple[Tensor, Tensor, Tensor]:
    """Groups edges by destination: ``(ptr [num_dst + 1], src_sorted [E], edge_id [E])``.

    Edges into node ``v`` are ``src_sorted[ptr[v]:ptr[v + 1]]``, their original edge ids
    ``edge_id[...]`` (a stable sort keeps the input order within a node).

    Examples:
        >>> ptr, col, eid = incoming_csr(torch.tensor([0, 2, 1]), torch.tensor([1, 0, 1]), 3)
        >>> ptr.tolist(), col.tolist(), eid.tolist()
        ([0, 1, 3, 3], [2, 0, 1], [1, 0, 2])
    """
    perm = torch.argsort(dst, stable=True)
    ptr = torch.zeros(num_dst + 1, dtype=torch.long)
    torch.cumsum(torch.bincount(dst, minlength=num_dst), dim=0, out=ptr[1:])
    return ptr, src[perm], perm


def sample_incoming(
    ptr: Tensor,
    nodes: Tensor,
    k: int,
    replace: bool = False,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """Draws up to ``k`` incoming edges of every node in ``nodes``, vectorised.

    Args:
        ptr: Pointer array from :func:`incoming_csr`.
        nodes: Destination nodes ``[n]``.
        k: Edges per node; ``-1`` takes all of them.
        replace: Draw with replacement (exactly ``k`` per node with any edge).
        generator: Random source (``None``: torch's global one).

    Returns:
        ``(position [m], owner [m])``: positions into the CSR arrays and, for each, the
        index into ``nodes`` of the node that drew it (nodes of degree <= ``k`` first).
        Without replacement a node gets ``min(k, degree)`` distinct edges, each
        ``k``-subset equally likely.

    Examples:
        >>> ptr = torch.tensor([0, 3, 3, 8])  # degrees 3, 0, 5
        >>> pos, owner = sample_incoming(ptr, torch.tensor([0, 1, 2]), k=4)
        >>> owner.tolist()
        [0, 0, 0, 2, 2, 2, 2]
        >>> bool(((pos >= 3) & (pos < 8))[owner == 2].all()), len(set(pos.tolist()))
        (True, 7)
    """
    start = ptr[nodes]
    deg = ptr[nodes + 1] - start
    if k < 0:
        return _expand_all(start, deg)
    if replace:
        count = torch.where(deg > 0, k, 0)
        owner = torch.repeat_interleave(torch.arange(len(nodes)), count)
        draw = torch.rand(len(owner), dtype=torch.float64, generator=generator)
        offset = (draw * deg[owner]).long()
        return start[owner] + offset, owner
    small = deg <= k
    pos_all, owner_all = _expand_all(start[small], deg[small])
    owner_all = torch.nonzero(small).flatten()[owner_all]
    big = torch.nonzero(~small).flatten()
    if big.numel() == 0:
        return pos_all, owner_all
    # Floyd's algorithm, one step for all big nodes at a time: step i draws t in
    # [0, d - k + i]; a repeat of an earlier pick is replaced by d - k + i itself.
    d = deg[big]
    chosen = torch.empty(len(big), k, dtype=torch.long)
    for i in range(k):
        top = d - k + i
        t = (torch.rand(len(big), dtype=torch.float64, generator=generator) * (top + 1)).long()
        seen = (chosen[:, :i] == t.unsqueeze(1)).any(1)
        chosen[:, i] = torch.where(seen, top, t)
    pos_big = (start[big].unsqueeze(1) + chosen).flatten()
    owner_big = big.repeat_interleave(k)
    return torch.cat([pos_all, pos_big]), torch.cat([owner_all, owner_big])


def _expand_all(start: Tensor, count: Tensor) -> tuple[Tensor, Tensor]:
    """All positions ``start[i] .. start[i] + count[i] - 1`` with their owner ``i``."""
    owner = torch.repeat_interleave(torch.arange(len(start)), count)
    first = torch.cumsum(count, 0) - count
    offset = torch.arange(len(owner)) - first[owner]
    return start[owner] + offset, owner


@contextmanager
def _one_thread() -> Iterator[None]:
    """Runs the block with one intra-op thread.

    Sampling works on tensors of a few thousand entries, where torch's thread fan-out
    costs more than it saves; on a busy 2-core host a 2-thread argsort/unique was
    measured ~15x slower than a 1-thread one.
    """
    threads = torch.get_num_threads()
    if threads == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


class _LocalIds:
    """Global -> batch-local node ids for one node type; the table lives across batches
    and is reset after each (a fresh ``num_nodes`` table per batch would cost more than
    the sampling on big graphs)."""

    def __init__(self, num_nodes: int):
        self.table = torch.full((num_nodes,), -1, dtype=torch.long)
        self.nodes: list[Tensor] = []
        self.count = 0

    def add_seeds(self, seeds: Tensor) -> None:
        self.table[seeds] = torch.arange(self.count, self.count + len(seeds))
        self.nodes.append(seeds)
        self.count += len(seeds)

    def add_new(self, candidates: Tensor) -> Tensor:
        """Registers unseen ``candidates`` (deduplicated); returns the new global ids."""
        new = torch.unique(candidates[self.table[candidates] < 0])
        self.table[new] = torch.arange(self.count, self.count + len(new))
        self.nodes.append(new)
        self.count += len(new)
        return new

    def collected(self) -> Tensor:
        """All registered nodes in local-id order."""
        return torch.cat(self.nodes) if self.nodes else torch.empty(0, dtype=torch.long)

    def reset(self) -> None:
        """Clears only the touched entries, so a batch costs nothing per graph node."""
        if self.nodes:
            self.table[self.collected()] = -1
        self.nodes, self.count = [], 0


class CSRNeighborSampler(BaseSampler):
    """Uniform k-hop neighbour sampler for ``Data`` and ``HeteroData`` in pure torch.

    Args:
        data: The full graph (``edge_index`` per edge type).
        num_neighbors: Neighbours drawn per node at each hop (``-1``: all), e.g.
            ``[10, 5]``; for ``HeteroData`` also ``{edge_type: [...]}`` (missing edge
            types draw 0).
        replace: Draw with replacement.
        seed: Seed of the sampler's own generator (``None``: torch's global RNG).
            DataLoader workers derive distinct streams from it.

    Raises:
        ConfigError: ``num_neighbors`` is empty or holds values below -1.
        InputError: ``data`` is not Data/HeteroData or an ``edge_index`` is invalid.
    """

    def __init__(
        self,
        data: Data | HeteroData,
        num_neighbors: Sequence[int] | dict[EdgeType, Sequence[int]],
        replace: bool = False,
        seed: int | None = None,
    ):
        self.is_hetero = isinstance(data, HeteroData)
        if not self.is_hetero and not isinstance(data, Data):
            raise InputError(f"data must be Data or HeteroData, got {type(data).__name__}")
        self.replace = replace
        self.seed = seed
        self._worker: int | None = None
        self.generator = None if seed is None else torch.Generator().manual_seed(seed)
        if self.is_hetero:
            self.node_types = list(data.node_types)
            self.edge_types = [tuple(e) for e in data.edge_types]
            self.num_nodes = {t: int(data[t].num_nodes) for t in self.node_types}
            self.fanouts = self._hetero_fanouts(num_neighbors)
            self.csr = {}
            for et in self.edge_types:
                index = self._edge_index(data[et], self.num_nodes[et[0]], self.num_nodes[et[2]],
                                         str(et))
                self.csr[et] = incoming_csr(index[0], index[1], self.num_nodes[et[2]])
            self.num_hops = len(next(iter(self.fanouts.values())))
            self._ids = {t: _LocalIds(self.num_nodes[t]) for t in self.node_types}
        else:
            self.num_nodes = int(data.num_nodes)
            self.fanouts = self._check_fanout(num_neighbors, "num_neighbors")
            index = self._edge_index(data, self.num_nodes, self.num_nodes, "edge_index")
            self.csr = incoming_csr(index[0], index[1], self.num_nodes)
            self.num_hops = len(self.fanouts)
            self._ids = _LocalIds(self.num_nodes)

    # --- configuration -----------------------------------------------------------

    @staticmethod
    def _check_fanout(values: Sequence[int], name: str) -> list[int]:
        values = list(values) if isinstance(values, (list, tuple)) else None
        if not values or any(isinstance(v, bool) or not isinstance(v, int) or v < -1
                             for v in values):
            raise ConfigError(f"{name} must be a non-empty list of ints >= -1 (one per hop)")
        return values

    def _hetero_fanouts(self, num_neighbors) -> dict[EdgeType, list[int]]:
        if not isinstance(num_neighbors, dict):
            values = self._check_fanout(num_neighbors, "num_neighbors")
            return {et: values for et in self.edge_types}
        unknown = [k for k in num_neighbors if tuple(k) not in self.edge_types]
        if unknown:
            raise ConfigError(f"num_neighbors names unknown edge types {unknown}; "
                              f"expected some of {self.edge_types}")
        hops = {len(v) for v in num_neighbors.values()}
        if len(hops) != 1:
            raise ConfigError(f"num_neighbors lists must have one length, got {sorted(hops)}")
        hop = hops.pop()
        return {et: self._check_fanout(num_neighbors.get(et, [0] * hop), f"num_neighbors[{et}]")
                for et in self.edge_types}

    @staticmethod
    def _edge_index(store, num_src: int, num_dst: int, what: str) -> Tensor:
        index = getattr(store, "edge_index", None)
        if index is None or index.dim() != 2 or index.size(0) != 2:
            shape = None if index is None else tuple(index.shape)
            raise InputError(f"{what} must be a [2, E] tensor, got {shape}")
        index = index.long()
        if index.numel() and (int(index.min()) < 0 or int(index[0].max()) >= num_src
                              or int(index[1].max()) >= num_dst):
            raise InputError(f"{what} holds node ids outside [0, {num_src}) x [0, {num_dst})")
        return index

    def _rng(self) -> torch.Generator | None:
        info = torch.utils.data.get_worker_info()
        if self.generator is not None and info is not None and info.id != self._worker:
            self._worker = info.id  # each worker process: its own reproducible stream
            self.generator.manual_seed(self.seed + 1_000_003 * (info.id + 1))
        return self.generator

    # --- BaseSampler ---------------------------------------------------------------

    def sample_from_nodes(
        self, index: NodeSamplerInput, **kwargs
    ) -> SamplerOutput | HeteroSamplerOutput:
        """Samples the k-hop neighbourhood of ``index.node`` (what ``NodeLoader`` calls)."""
        return node_sample(index, self._sample)

    def sample_from_edges(
        self, index: EdgeSamplerInput, neg_sampling: NegativeSampling | None = None
    ) -> SamplerOutput | HeteroSamplerOutput:
        """Samples around both ends of seed links (what ``LinkLoader`` calls)."""
        return edge_sample(index, self._sample, self.num_nodes, disjoint=False,
                           neg_sampling=neg_sampling)

    def _sample(self, seed, seed_time=None):
        if seed_time is not None:
            raise ConfigError("CSRNeighborSampler does not do temporal sampling (seed_time)")
        if isinstance(seed, dict):
            if not self.is_hetero:
                raise InputError("got typed seeds for a homogeneous graph")
            return self._sample_hetero(seed)
        if self.is_hetero:
            raise InputError("HeteroData needs input nodes as (node_type, index)")
        return self._sample_homo(seed)

    def _sample_homo(self, seed: Tensor) -> SamplerOutput:
        try:
            with _one_thread():
                return self._sample_homo_unsafe(seed)
        finally:
            self._ids.reset()

    def _sample_hetero(self, seed: dict[NodeType, Tensor]) -> HeteroSamplerOutput:
        try:
            with _one_thread():
                return self._sample_hetero_unsafe(seed)
        finally:
            for ids in self._ids.values():
                ids.reset()

    def _sample_homo_unsafe(self, seed: Tensor) -> SamplerOutput:
        ptr, src_sorted, edge_id = self.csr
        gen = self._rng()
        ids = self._ids
        ids.add_seeds(seed.long())
        frontier, frontier_local = seed.long(), torch.arange(len(seed))
        rows, cols, edges, n_nodes, n_edges = [], [], [], [len(seed)], []
        for k in self.fanouts:
            pos, owner = sample_incoming(ptr, frontier, k, self.replace, gen)
            src = src_sorted[pos]
            new = ids.add_new(src)
            rows.append(ids.table[src])
            cols.append(frontier_local[owner])
            edges.append(edge_id[pos])
            n_nodes.append(len(new))
            n_edges.append(len(pos))
            frontier, frontier_local = new, ids.table[new]
        return SamplerOutput(
            node=ids.collected(),
            row=torch.cat(rows),
            col=torch.cat(cols),
            edge=torch.cat(edges),
            num_sampled_nodes=n_nodes,
            num_sampled_edges=n_edges,
        )

    def _sample_hetero_unsafe(self, seed: dict[NodeType, Tensor]) -> HeteroSamplerOutput:
        gen = self._rng()
        ids = self._ids
        frontier: dict[NodeType, tuple[Tensor, Tensor]] = {}
        n_nodes = {t: [0] for t in self.node_types}
        for t, nodes in seed.items():
            ids[t].add_seeds(nodes.long())
            frontier[t] = (nodes.long(), torch.arange(len(nodes)))
            n_nodes[t][0] = len(nodes)
        rows = {et: [] for et in self.edge_types}
        cols = {et: [] for et in self.edge_types}
        edges = {et: [] for et in self.edge_types}
        n_edges = {et: [] for et in self.edge_types}
        for hop in range(self.num_hops):
            drawn = []
            for et in self.edge_types:
                src_t, _, dst_t = et
                k = self.fanouts[et][hop]
                if dst_t not in frontier or k == 0:
                    n_edges[et].append(0)
                    continue
                ptr, src_sorted, edge_id = self.csr[et]
                nodes, local = frontier[dst_t]
                pos, owner = sample_incoming(ptr, nodes, k, self.replace, gen)
                drawn.append((et, src_sorted[pos], local[owner], edge_id[pos]))
                n_edges[et].append(len(pos))
            # Register each type's new nodes once, however many edge types found them.
            next_frontier = {}
            for t in self.node_types:
                found = [src for et, src, _, _ in drawn if et[0] == t]
                new = ids[t].add_new(torch.cat(found)) if found else torch.empty(0).long()
                n_nodes[t].append(len(new))
                if len(new):
                    next_frontier[t] = (new, ids[t].table[new])
            for et, src, col, eid in drawn:
                rows[et].append(ids[et[0]].table[src])
                cols[et].append(col)
                edges[et].append(eid)
            frontier = next_frontier
        empty = torch.empty(0, dtype=torch.long)
        cat = {et: (torch.cat(rows[et]) if rows[et] else empty,
                    torch.cat(cols[et]) if cols[et] else empty,
                    torch.cat(edges[et]) if edges[et] else empty) for et in self.edge_types}
        return HeteroSamplerOutput(
            node={t: ids[t].collected() for t in self.node_types},
            row={et: v[0] for et, v in cat.items()},
            col={et: v[1] for et, v in cat.items()},
            edge={et: v[2] for et, v in cat.items()},
            num_sampled_nodes=n_nodes,
            num_sampled_edges=n_edges,
        )

    def __repr__(self) -> str:
        kind = "hetero" if self.is_hetero else "homo"
        fan = self.fanouts if not self.is_hetero else f"{len(self.edge_types)} edge types"
        return f"{self.__class__.__name__}({kind}, num_neighbors={fan}, replace={self.replace})"
