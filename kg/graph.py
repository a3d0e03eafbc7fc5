"""The typed medical knowledge graph: a concepts table, a relations table, metadata.

Tables are the canonical store; networkx (:mod:`kg.nx_view`) and rdflib
(:mod:`kg.rdf_view`) are views built from them. Node types are the ``semantic_type``
values of the concepts, relation types the ``relation`` values of the relations.

A :class:`KnowledgeGraph` is immutable in spirit: its tables are handed out as
copy-on-write copies and every method that changes something returns a new graph, so
the id index and the sparse adjacency caches stay valid.

Examples:
    >>> from ontologies.schema import make_concepts, make_relations
    >>> concepts = make_concepts(["ICD10CM:E11", "ICD10CM:E11.9"],
    ...                          ["Type 2 diabetes mellitus", "T2DM without complications"],
    ...                          "disease")
    >>> relations = make_relations(["ICD10CM:E11.9"], "is_a", ["ICD10CM:E11"])
    >>> kg = KnowledgeGraph(concepts, relations, {"sources": ["demo"]})
    >>> kg
    KnowledgeGraph(concepts=2, relations=1, systems=[ICD10CM], node_types=[disease], ...)
    >>> kg.index_of(["ICD10CM:E11.9", "ICD10CM:E11"]).tolist()
    [1, 0]
    >>> kg.concept("ICD10CM:E11")["label"]
    'Type 2 diabetes mellitus'
    >>> "ICD10CM:E10" in kg, len(kg)
    (False, 2)
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from kg.tables import (
    combine_concepts,
    concat_frames,
    merge_metadata,
    normalise_concepts,
    normalise_relations,
    python_values,
)
from ontologies.errors import ConfigError, UnknownCodeError
from ontologies.schema import validate_concepts, validate_relations

if TYPE_CHECKING:
    import networkx as nx
    import rdflib
    import scipy.sparse

    from ontologies.schema import CodeSystemTables

__all__ = ["KnowledgeGraph", "DANGLING_POLICIES", "json_metadata"]

logger = logging.getLogger(__name__)

#: What to do with relations whose source or target is not a concept.
DANGLING_POLICIES = ("raise", "drop", "keep")


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    return str(value)  # paths, dates, enums


def json_metadata(metadata: dict[str, Any] | None) -> dict[str, Any]:
    """A JSON-clean copy of ``metadata`` (tuples -> lists, paths -> strings, numpy
    scalars -> Python), so every view and the saved folder hold the same metadata.

    Examples:
        >>> from pathlib import PurePosixPath
        >>> json_metadata({"files": (PurePosixPath("a.txt"),), "n": np.int64(3)})
        {'files': ['a.txt'], 'n': 3}
    """
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise ConfigError(f"metadata: expected a dict, got {type(metadata).__name__}")
    return json.loads(json.dumps(metadata, default=_json_default))


class KnowledgeGraph:
    """Typed concepts and typed relations with attributes, plus metadata.

    Args:
        concepts: Concepts table (:data:`ontologies.schema.CONCEPT_COLUMNS` plus extra
            attribute columns); ids must be unique CURIEs.
        relations: Relations table (:data:`ontologies.schema.RELATION_COLUMNS` plus extra
            columns); ``None`` for no relations.
        metadata: Sources, versions, attributions (JSON-serialisable values).
        validate: Check ids, semantic types, predicates and attribute ranges. Turn off only
            for tables this package produced itself.
        on_dangling: Relations whose source or target is not a concept: ``"raise"``
            (:class:`~ontologies.errors.UnknownCodeError` naming them), ``"drop"`` (logged)
            or ``"keep"``. Checked only when ``validate`` is true; ``"drop"`` always applies.

    Raises:
        SchemaError: Missing columns, bad CURIE, unknown semantic type, bad predicate or an
            attribute outside [0, 1]; :class:`~ontologies.errors.DuplicateIdError` for
            repeated ids.
        UnknownCodeError: Dangling relations with ``on_dangling="raise"``.

    Examples:
        >>> from ontologies.schema import make_concepts, make_relations
        >>> c = make_concepts(["A:1", "A:2"], ["one", "two"], "disease")
        >>> r = make_relations(["A:1", "A:3"], "is_a", ["A:2", "A:2"])
        >>> KnowledgeGraph(c, r)
        Traceback (most recent call last):
        ...
        ontologies.errors.UnknownCodeError: unknown code 'A:3': expected a concept id of the
        graph; 1 relation(s) point outside the concepts table: row 1 source 'A:3' (pass ...)
        >>> KnowledgeGraph(c, r, on_dangling="drop").n_relations
        1
    """

    def __init__(
        self,
        concepts: pd.DataFrame,
        relations: pd.DataFrame | None = None,
        metadata: dict[str, Any] | None = None,
        *,
        validate: bool = True,
        on_dangling: str = "raise",
    ):
        if on_dangling not in DANGLING_POLICIES:
            raise ConfigError(f"on_dangling={on_dangling!r}: expected one of "
                              f"{', '.join(DANGLING_POLICIES)}")
        concepts = normalise_concepts(concepts)
        relations = normalise_relations(relations)
        if validate:
            validate_concepts(concepts)
            validate_relations(relations)
        self._concepts = concepts
        self._ids = pd.Index(concepts["id"], name="id")
        self._cache: dict[Any, Any] = {}
        if validate or on_dangling == "drop":
            relations = self._check_dangling(relations, on_dangling)
        self._relations = relations
        self._metadata = json_metadata(metadata)

    # ------------------------------------------------------------------ validation
    def _check_dangling(self, relations: pd.DataFrame, policy: str) -> pd.DataFrame:
        src, tgt = self._endpoints(relations)
        bad = (src < 0) | (tgt < 0)
        if not bad.any() or policy == "keep":
            self._cache["endpoints"] = (src, tgt)
            return relations
        rows = np.flatnonzero(bad)
        if policy == "drop":
            logger.info("dropped %d relation(s) whose source or target is not a concept",
                        len(rows))
            keep = ~bad
            self._cache["endpoints"] = (src[keep], tgt[keep])
            return relations.loc[keep].reset_index(drop=True)
        examples = []
        for row in rows[:5]:
            end = "source" if src[row] < 0 else "target"
            examples.append(f"row {row} {end} {relations[end].iloc[row]!r}")
        first_end = "source" if src[rows[0]] < 0 else "target"
        raise UnknownCodeError(
            relations[first_end].iloc[rows[0]],
            f"a concept id of the graph; {len(rows)} relation(s) point outside the concepts "
            f"table: {', '.join(examples)}{', ...' if len(rows) > 5 else ''} "
            "(pass on_dangling='drop' or 'keep' to allow them)")

    def _endpoints(self, relations: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        if not self._ids.is_unique:
            validate_concepts(self._concepts)  # raises DuplicateIdError naming the id
        return (self._ids.get_indexer(relations["source"]),
                self._ids.get_indexer(relations["target"]))

    def edge_index(self) -> tuple[np.ndarray, np.ndarray]:
        """Row indices of each relation's source and target (``-1`` where dangling).

        Examples:
            >>> from ontologies.schema import make_concepts, make_relations
            >>> kg = KnowledgeGraph(make_concepts(["A:1", "A:2"], ["a", "b"], "disease"),
            ...                     make_relations(["A:2"], "is_a", ["A:1"]))
            >>> [a.tolist() for a in kg.edge_index()]
            [[1], [0]]
        """
        if "endpoints" not in self._cache:
            self._cache["endpoints"] = self._endpoints(self._relations)
        src, tgt = self._cache["endpoints"]
        return src.copy(), tgt.copy()

    # ------------------------------------------------------------------ tables
    @property
    def concepts(self) -> pd.DataFrame:
        """The concepts table (a copy-on-write copy: editing it leaves the graph alone)."""
        return self._concepts.copy(deep=False)

    @property
    def relations(self) -> pd.DataFrame:
        """The relations table (a copy-on-write copy)."""
        return self._relations.copy(deep=False)

    @property
    def metadata(self) -> dict[str, Any]:
        """Sources, versions and attributions (a copy)."""
        return copy.deepcopy(self._metadata)

    @property
    def ids(self) -> pd.Index:
        """Concept ids in row order."""
        return self._ids

    @property
    def n_relations(self) -> int:
        """Number of relations."""
        return len(self._relations)

    @property
    def node_types(self) -> list[str]:
        """Sorted distinct ``semantic_type`` values."""
        return sorted(self._concepts["semantic_type"].dropna().unique().tolist())

    @property
    def relation_types(self) -> list[str]:
        """Sorted distinct ``relation`` values."""
        return sorted(self._relations["relation"].dropna().unique().tolist())

    @property
    def systems(self) -> list[str]:
        """Sorted distinct code systems."""
        return sorted(self._concepts["system"].dropna().unique().tolist())

    # ------------------------------------------------------------------ lookups
    def index_of(self, ids: str | Iterable[str]) -> np.ndarray:
        """Row indices of concept ids (a single id gives a length-1 array).

        Raises:
            UnknownCodeError: Some ids are not concepts; the message lists them.

        Examples:
            >>> from ontologies.schema import make_concepts
            >>> kg = KnowledgeGraph(make_concepts(["A:1", "A:2"], ["a", "b"], "disease"))
            >>> kg.index_of(["A:2", "A:9", "A:8"])
            Traceback (most recent call last):
            ...
            ontologies.errors.UnknownCodeError: unknown code 'A:9': expected a concept id of
            the graph (2 unknown: 'A:9', 'A:8')
        """
        if isinstance(ids, str):
            ids = [ids]
        ids = pd.Index(list(ids) if not isinstance(ids, (pd.Series, pd.Index, np.ndarray))
                       else ids, dtype="string")
        if not self._ids.is_unique:
            validate_concepts(self._concepts)
        idx = self._ids.get_indexer(ids)
        if (idx < 0).any():
            missing = pd.unique(ids[idx < 0].astype(object))
            shown = ", ".join(repr(m) for m in missing[:10])
            more = ", ..." if len(missing) > 10 else ""
            raise UnknownCodeError(missing[0], f"a concept id of the graph "
                                   f"({len(missing)} unknown: {shown}{more})")
        return idx.astype(np.int64)

    def ids_of(self, idx: int | Iterable[int]) -> np.ndarray:
        """Concept ids at row indices.

        Raises:
            UnknownCodeError: An index is outside ``[0, len(self))``.

        Examples:
            >>> from ontologies.schema import make_concepts
            >>> kg = KnowledgeGraph(make_concepts(["A:1", "A:2"], ["a", "b"], "disease"))
            >>> kg.ids_of([1, 0]).tolist()
            ['A:2', 'A:1']
        """
        idx = np.atleast_1d(np.asarray(idx))
        if idx.size and not np.issubdtype(idx.dtype, np.integer):
            raise UnknownCodeError(idx.flat[0], "integer row indices")
        bad = (idx < 0) | (idx >= len(self))
        if bad.any():
            raise UnknownCodeError(int(idx[bad][0]), f"a row index in [0, {len(self)})")
        return self._ids.to_numpy(dtype=object)[idx]

    def concept(self, id: str) -> dict[str, Any]:
        """All columns of one concept as plain Python values (missing -> ``None``).

        Raises:
            UnknownCodeError: ``id`` is not a concept.
        """
        row = self._concepts.iloc[[int(self.index_of(id)[0])]]
        return {col: python_values(row[col])[0] for col in row.columns}

    def __contains__(self, id: object) -> bool:
        return isinstance(id, str) and id in self._ids

    def __len__(self) -> int:
        return len(self._concepts)

    def __repr__(self) -> str:
        def short(values: list[str]) -> str:
            return "[" + ", ".join(values[:6]) + (", ..." if len(values) > 6 else "") + "]"

        return (f"KnowledgeGraph(concepts={len(self)}, relations={self.n_relations}, "
                f"systems={short(self.systems)}, node_types={short(self.node_types)}, "
                f"relation_types={short(self.relation_types)})")

    # ------------------------------------------------------------------ new graphs
    def _derive(self, concepts: pd.DataFrame, relations: pd.DataFrame,
                metadata: dict[str, Any] | None = None, **options: Any) -> KnowledgeGraph:
        return KnowledgeGraph(concepts, relations,
                              self._metadata if metadata is None else metadata, **options)

    def add_concepts(self, concepts: pd.DataFrame) -> KnowledgeGraph:
        """A new graph with more concepts (ids must be new).

        Examples:
            >>> from ontologies.schema import make_concepts
            >>> kg = KnowledgeGraph(make_concepts(["A:1"], ["a"], "disease"))
            >>> len(kg.add_concepts(make_concepts(["A:2"], ["b"], "disease", depth=2)))
            2
        """
        return self._derive(concat_frames([self._concepts, normalise_concepts(concepts)]),
                            self._relations)

    def add_relations(self, relations: pd.DataFrame,
                      on_dangling: str = "raise") -> KnowledgeGraph:
        """A new graph with more relations.

        Examples:
            >>> from ontologies.schema import make_concepts, make_relations
            >>> kg = KnowledgeGraph(make_concepts(["A:1", "A:2"], ["a", "b"], "disease"))
            >>> kg.add_relations(make_relations(["A:1"], "is_a", ["A:2"])).n_relations
            1
        """
        return self._derive(self._concepts,
                            concat_frames([self._relations, normalise_relations(relations)]),
                            on_dangling=on_dangling)

    def merge(self, other: KnowledgeGraph, on_dangling: str = "raise") -> KnowledgeGraph:
        """Union of two graphs.

        Concepts with the same id keep this graph's row, gaps filled from ``other``;
        relations are concatenated and exact duplicate rows dropped; metadata merged
        (this graph wins on conflicts).

        Examples:
            >>> from ontologies.schema import make_concepts, make_relations
            >>> a = KnowledgeGraph(make_concepts(["A:1", "A:2"], ["a", "b"], "disease"),
            ...                    make_relations(["A:1"], "is_a", ["A:2"]))
            >>> b = KnowledgeGraph(make_concepts(["A:1", "A:2", "B:1"], [None, "b", "c"],
            ...                                  "disease"),
            ...                    make_relations(["A:1", "B:1"], "is_a", ["A:2", "A:2"]))
            >>> m = a.merge(b)
            >>> len(m), m.n_relations
            (3, 2)
        """
        if not isinstance(other, KnowledgeGraph):
            raise ConfigError(f"merge: expected a KnowledgeGraph, got {type(other).__name__}")
        concepts = combine_concepts(concat_frames([self._concepts, other._concepts]))
        relations = concat_frames([self._relations, other._relations])
        n = len(relations)
        relations = relations.drop_duplicates(ignore_index=True)
        if n - len(relations):
            logger.info("merge: dropped %d duplicate relation row(s)", n - len(relations))
        return KnowledgeGraph(concepts, relations,
                              merge_metadata(self._metadata, other._metadata),
                              on_dangling=on_dangling)

    def equals(self, other: object, **options: Any) -> bool:
        """Same concepts, relations and metadata (see :func:`kg.compare.kg_equal`)."""
        from kg.compare import kg_equal
        return isinstance(other, KnowledgeGraph) and kg_equal(self, other, **options)

    # ------------------------------------------------------------------ delegates
    @classmethod
    def from_ontologies(cls, *tables: CodeSystemTables, **options: Any) -> KnowledgeGraph:
        """See :func:`kg.build.build_kg`."""
        from kg.build import build_kg
        return build_kg(*tables, **options)

    def adjacency(self, relations: str | Sequence[str] | None = None,
                  direction: str = "out") -> scipy.sparse.csr_array:
        """See :func:`kg.traverse.adjacency`."""
        from kg.traverse import adjacency
        return adjacency(self, relations, direction)

    def ancestors(self, ids: str | Iterable[str], relation: str | Sequence[str] = "is_a",
                  include_self: bool = False) -> list[str]:
        """See :func:`kg.traverse.ancestors`."""
        from kg.traverse import ancestors
        return ancestors(self, ids, relation, include_self)

    def descendants(self, ids: str | Iterable[str], relation: str | Sequence[str] = "is_a",
                    include_self: bool = False) -> list[str]:
        """See :func:`kg.traverse.descendants`."""
        from kg.traverse import descendants
        return descendants(self, ids, relation, include_self)

    def k_hop(self, ids: str | Iterable[str], k: int,
              relations: str | Sequence[str] | None = None,
              direction: str = "both") -> list[str]:
        """See :func:`kg.traverse.k_hop`."""
        from kg.traverse import k_hop
        return k_hop(self, ids, k, relations, direction)

    def subgraph(self, ids: str | Iterable[str], ancestors: bool = True,
                 descendants: bool = False, hops: int = 0, **options: Any) -> KnowledgeGraph:
        """See :func:`kg.traverse.subgraph`."""
        from kg.traverse import subgraph
        return subgraph(self, ids, ancestors, descendants, hops, **options)

    def stats(self) -> dict[str, Any]:
        """See :func:`kg.stats.stats`."""
        from kg.stats import stats
        return stats(self)

    def to_networkx(self) -> nx.MultiDiGraph:
        """See :func:`kg.nx_view.to_networkx`."""
        from kg.nx_view import to_networkx
        return to_networkx(self)

    @classmethod
    def from_networkx(cls, graph: nx.MultiDiGraph, **options: Any) -> KnowledgeGraph:
        """See :func:`kg.nx_view.from_networkx`."""
        from kg.nx_view import from_networkx
        return from_networkx(graph, **options)

    def to_rdf(self, **options: Any) -> rdflib.Graph:
        """See :func:`kg.rdf_view.to_rdf`."""
        from kg.rdf_view import to_rdf
        return to_rdf(self, **options)

    @classmethod
    def from_rdf(cls, source: rdflib.Graph | str | Path, **options: Any) -> KnowledgeGraph:
        """See :func:`kg.rdf_view.from_rdf`."""
        from kg.rdf_view import from_rdf
        return from_rdf(source, **options)

    def save(self, folder: str | Path) -> Path:
        """See :func:`kg.storage.save`."""
        from kg.storage import save
        return save(self, folder)

    @classmethod
    def load(cls, folder: str | Path, **options: Any) -> KnowledgeGraph:
        """See :func:`kg.storage.load`."""
        from kg.storage import load
        return load(folder, **options)
