"""Hierarchy and neighbourhood queries over a knowledge graph, vectorised.

Each query is a breadth-first frontier expansion on a scipy CSR adjacency: one step
gathers the neighbours of the whole frontier with numpy index arithmetic, so the Python
loop runs once per *level*, never once per node or edge. The adjacency of each
(relation set, direction) is built once and cached on the (immutable) graph.

``source is_a target`` points from child to parent, so ancestors follow edges forward
and descendants follow them backwards.

Examples:
    >>> from ontologies.schema import make_concepts, make_relations
    >>> from kg.graph import KnowledgeGraph
    >>> kg = KnowledgeGraph(
    ...     make_concepts(["X:root", "X:a", "X:b", "X:a1"], ["r", "a", "b", "a1"], "disease"),
    ...     make_relations(["X:a", "X:b", "X:a1"], "is_a", ["X:root", "X:root", "X:a"]))
    >>> ancestors(kg, "X:a1")
    ['X:root', 'X:a']
    >>> descendants(kg, "X:a", include_self=True)
    ['X:a', 'X:a1']
    >>> k_hop(kg, "X:a", 1)
    ['X:root', 'X:a', 'X:a1']
    >>> subgraph(kg, ["X:b"]).ids.tolist()
    ['X:root', 'X:b']
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

import numpy as np
import scipy.sparse as sp

from kg.graph import KnowledgeGraph
from ontologies.errors import ConfigError

__all__ = ["adjacency", "ancestors", "descendants", "k_hop", "subgraph", "induced_subgraph",
           "DIRECTIONS"]

logger = logging.getLogger(__name__)

#: ``out``: source -> target; ``in``: target -> source; ``both``: either way.
DIRECTIONS = ("out", "in", "both")


def _relation_key(kg: KnowledgeGraph, relations: str | Sequence[str] | None
                  ) -> tuple[str, ...] | None:
    if relations is None:
        return None
    names = (relations,) if isinstance(relations, str) else tuple(relations)
    return tuple(sorted(set(names)))


def adjacency(kg: KnowledgeGraph, relations: str | Sequence[str] | None = None,
              direction: str = "out") -> sp.csr_array:
    """Cached ``n x n`` CSR adjacency of the chosen relations (1 where an edge exists).

    Args:
        kg: The graph.
        relations: Relation type(s) to include; ``None`` for all.
        direction: ``"out"`` (row = source), ``"in"`` (row = target) or ``"both"``.

    Returns:
        A ``scipy.sparse.csr_array`` of ``int8`` with sorted indices; dangling relations
        are left out. Treat it as read-only: it is shared through the cache.

    Examples:
        >>> from ontologies.schema import make_concepts, make_relations
        >>> kg = KnowledgeGraph(make_concepts(["A:1", "A:2"], ["a", "b"], "disease"),
        ...                     make_relations(["A:1", "A:1"], ["is_a", "part_of"], ["A:2"] * 2))
        >>> adjacency(kg, "is_a").toarray().tolist()
        [[0, 1], [0, 0]]
    """
    if direction not in DIRECTIONS:
        raise ConfigError(f"direction={direction!r}: expected one of {', '.join(DIRECTIONS)}")
    key = ("adjacency", _relation_key(kg, relations), direction)
    cache = kg._cache
    if key in cache:
        return cache[key]
    unknown = sorted(set(key[1] or ()) - set(kg.relation_types))
    if unknown and kg.n_relations and direction == "out":
        # Not an error (a subgraph may lack a relation type), but typos show up here.
        logger.warning("relation(s) %s not in the graph (has: %s)", unknown,
                       ", ".join(kg.relation_types))
    n = len(kg)
    if direction == "in":
        adj = adjacency(kg, relations, "out").T.tocsr()
    elif direction == "both":
        out = adjacency(kg, relations, "out")
        adj = (out + out.T).tocsr()
        adj.data[:] = 1
    else:
        src, tgt = kg.edge_index()
        keep = (src >= 0) & (tgt >= 0)
        if key[1] is not None:
            keep &= kg._relations["relation"].isin(key[1]).to_numpy(dtype=bool)
        adj = sp.csr_array((np.ones(int(keep.sum()), dtype=np.int8), (src[keep], tgt[keep])),
                           shape=(n, n))
        adj.sum_duplicates()
        adj.data[:] = 1
    adj = adj.astype(np.int8)
    adj.sort_indices()
    cache[key] = adj
    return adj


def _neighbours(adj: sp.csr_array, rows: np.ndarray) -> np.ndarray:
    """Column indices of all nonzeros in ``rows`` (with repeats), without a Python loop."""
    starts = adj.indptr[rows]
    counts = adj.indptr[rows + 1] - starts
    total = int(counts.sum())
    if total == 0:
        return np.empty(0, dtype=adj.indices.dtype)
    # Position j of the output reads indices[start_of_its_row + offset_within_row].
    offsets = np.repeat(starts - (np.cumsum(counts) - counts), counts) + np.arange(total)
    return adj.indices[offsets]


def _expand(adj: sp.csr_array, seeds: np.ndarray, steps: int | None,
            seeds_reached: bool) -> np.ndarray:
    """Boolean mask of nodes reachable from ``seeds`` in 1..``steps`` steps (plus the seeds
    themselves when ``seeds_reached``)."""
    visited = np.zeros(adj.shape[0], dtype=bool)
    if seeds_reached:
        visited[seeds] = True
    frontier = np.unique(seeds)
    step = 0
    while frontier.size and (steps is None or step < steps):
        found = _neighbours(adj, frontier)
        found = found[~visited[found]]
        visited[found] = True
        frontier = np.unique(found)
        step += 1
    return visited


def _seeds(kg: KnowledgeGraph, ids: str | Iterable[str]) -> np.ndarray:
    return kg.index_of(ids)


def ancestors(kg: KnowledgeGraph, ids: str | Iterable[str],
              relation: str | Sequence[str] = "is_a", include_self: bool = False) -> list[str]:
    """Concepts reachable from any of ``ids`` by following ``relation`` forwards.

    Args:
        kg: The graph.
        ids: One id or several; the result is the union over them.
        relation: Hierarchy relation(s), ``is_a`` by default.
        include_self: Also return the given ids.

    Returns:
        Ids in concept-table order. Without ``include_self`` a given id appears only if it
        is an ancestor of another given id (or lies on a cycle).

    Raises:
        UnknownCodeError: An id is not a concept.
    """
    adj = adjacency(kg, relation, "out")
    seeds = _seeds(kg, ids)
    mask = _expand(adj, seeds, None, include_self)
    return kg.ids_of(np.flatnonzero(mask)).tolist()


def descendants(kg: KnowledgeGraph, ids: str | Iterable[str],
                relation: str | Sequence[str] = "is_a",
                include_self: bool = False) -> list[str]:
    """Concepts from which any of ``ids`` is reachable along ``relation`` (see
    :func:`ancestors`).

    Examples:
        >>> from ontologies.schema import make_concepts, make_relations
        >>> kg = KnowledgeGraph(make_concepts(["A:1", "A:2", "A:3"], list("abc"), "disease"),
        ...                     make_relations(["A:2", "A:3"], "is_a", ["A:1", "A:2"]))
        >>> descendants(kg, "A:1")
        ['A:2', 'A:3']
    """
    adj = adjacency(kg, relation, "in")
    mask = _expand(adj, _seeds(kg, ids), None, include_self)
    return kg.ids_of(np.flatnonzero(mask)).tolist()


def k_hop(kg: KnowledgeGraph, ids: str | Iterable[str], k: int,
          relations: str | Sequence[str] | None = None, direction: str = "both") -> list[str]:
    """The given ids and every concept within ``k`` steps of them.

    Args:
        kg: The graph.
        ids: Seed ids.
        k: Number of steps (0 returns the seeds).
        relations: Relation types to walk; ``None`` for all.
        direction: ``"out"``, ``"in"`` or ``"both"`` (edges as undirected).

    Returns:
        Ids in concept-table order, seeds included.

    Examples:
        >>> from ontologies.schema import make_concepts, make_relations
        >>> kg = KnowledgeGraph(make_concepts(["A:1", "A:2", "A:3"], list("abc"), "disease"),
        ...                     make_relations(["A:2", "A:3"], "is_a", ["A:1", "A:2"]))
        >>> k_hop(kg, "A:3", 1, direction="out"), k_hop(kg, "A:1", 2, direction="in")
        (['A:2', 'A:3'], ['A:1', 'A:2', 'A:3'])
    """
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0:
        raise ConfigError(f"k={k!r}: expected a whole number of steps >= 0")
    adj = adjacency(kg, relations, direction)
    mask = _expand(adj, _seeds(kg, ids), int(k), True)
    return kg.ids_of(np.flatnonzero(mask)).tolist()


def induced_subgraph(kg: KnowledgeGraph, ids: str | Iterable[str] | np.ndarray
                     ) -> KnowledgeGraph:
    """The given concepts and the relations among them (concept-table order kept).

    Args:
        kg: The graph.
        ids: Concept ids, or a boolean mask over the concepts.

    Examples:
        >>> from ontologies.schema import make_concepts, make_relations
        >>> kg = KnowledgeGraph(make_concepts(["A:1", "A:2", "A:3"], list("abc"), "disease"),
        ...                     make_relations(["A:2", "A:3"], "is_a", ["A:1", "A:2"]))
        >>> induced_subgraph(kg, ["A:3", "A:2"]).relations[["source", "target"]].values.tolist()
        [['A:3', 'A:2']]
    """
    if isinstance(ids, np.ndarray) and ids.dtype == bool:
        if ids.shape != (len(kg),):
            raise ConfigError(f"mask of shape {ids.shape}: expected ({len(kg)},)")
        mask = ids
    else:
        mask = np.zeros(len(kg), dtype=bool)
        mask[kg.index_of(ids)] = True
    src, tgt = kg.edge_index()
    keep = (src >= 0) & (tgt >= 0)
    keep[keep] = mask[src[keep]] & mask[tgt[keep]]
    return KnowledgeGraph(kg._concepts.loc[mask], kg._relations.loc[keep], kg._metadata,
                          validate=False)


def subgraph(kg: KnowledgeGraph, ids: str | Iterable[str], ancestors: bool = True,
             descendants: bool = False, hops: int = 0, *, relation: str = "is_a",
             relations: str | Sequence[str] | None = None,
             direction: str = "both") -> KnowledgeGraph:
    """The seeds plus their hierarchy and neighbourhood, with the relations among them.

    Args:
        kg: The graph.
        ids: Seed ids.
        ancestors: Add the ancestors of the seeds along ``relation``.
        descendants: Add their descendants along ``relation``.
        hops: Add everything within this many steps of the seeds along ``relations``.
        relation: Hierarchy relation for ``ancestors``/``descendants``.
        relations: Relation types walked by ``hops`` (``None``: all).
        direction: Direction walked by ``hops``.

    Returns:
        A new graph (same metadata) induced on the selected concepts.

    Examples:
        >>> from ontologies.schema import make_concepts, make_relations
        >>> kg = KnowledgeGraph(make_concepts(["A:1", "A:2", "A:3"], list("abc"), "disease"),
        ...                     make_relations(["A:2", "A:3"], "is_a", ["A:1", "A:2"]))
        >>> subgraph(kg, "A:2", ancestors=False, descendants=True).ids.tolist()
        ['A:2', 'A:3']
    """
    seeds = _seeds(kg, ids)
    mask = np.zeros(len(kg), dtype=bool)
    mask[seeds] = True
    if ancestors:
        mask |= _expand(adjacency(kg, relation, "out"), seeds, None, False)
    if descendants:
        mask |= _expand(adjacency(kg, relation, "in"), seeds, None, False)
    if hops:
        if isinstance(hops, bool) or not isinstance(hops, (int, np.integer)) or hops < 0:
            raise ConfigError(f"hops={hops!r}: expected a whole number >= 0")
        mask |= _expand(adjacency(kg, relations, direction), seeds, int(hops), False)
    return induced_subgraph(kg, mask)
