"""networkx view of a knowledge graph, for people: inspection, drawing, GraphML/GEXF.

:func:`to_networkx` gives a ``MultiDiGraph``: one node per concept (key = id, attributes
= the other concept columns), one edge per relation (key = the relation name, attributes
= every relation column but the endpoints). Missing values (NaN/NA) are left out rather
than stored as NaN. Repeated ``(source, target, relation)`` rows get keys ``is_a#1``,
``is_a#2``, ... so none collapses. ``G.graph`` carries the metadata and the column dtypes,
so :func:`from_networkx` rebuilds the exact tables (row order of relations may differ).

GraphML holds only str/int/float/bool values: :func:`write_graphml` stores ``G.graph``
entries as JSON strings and turns object-column values into strings; :func:`read_graphml`
reads such a file back. GEXF (Gephi) is export-only: it keeps no graph-level data.

Examples:
    >>> from ontologies.schema import make_concepts, make_relations
    >>> from kg.graph import KnowledgeGraph
    >>> kg = KnowledgeGraph(make_concepts(["A:1", "A:2"], ["one", "two"], "disease"),
    ...                     make_relations(["A:2"], "is_a", ["A:1"], probability=0.9))
    >>> G = to_networkx(kg)
    >>> G.nodes["A:1"]["label"], G.edges["A:2", "A:1", "is_a"]["probability"]
    ('one', 0.9)
    >>> "severity" in G.edges["A:2", "A:1", "is_a"]   # NaN attributes are omitted
    False
    >>> from_networkx(G).equals(kg)
    True
"""

from __future__ import annotations

import json
import os
from typing import Any

import networkx as nx
import pandas as pd

from kg.graph import KnowledgeGraph
from kg.tables import (
    apply_dtype_spec,
    dtype_spec,
    fill_code_system,
    infer_column,
    python_values,
)
from ontologies.atomic import atomic_write
from ontologies.errors import ParseError, SchemaError
from ontologies.schema import CONCEPT_COLUMNS, RELATION_COLUMNS

__all__ = ["to_networkx", "from_networkx", "write_graphml", "read_graphml", "write_gexf"]

_MISSING = object()
_GRAPH_KEYS = ("medkg_metadata", "medkg_concept_dtypes", "medkg_relation_dtypes",
               "medkg_dangling_nodes")


def _records(df: pd.DataFrame, columns: list[str], stringify: bool = False
             ) -> list[dict[str, Any]]:
    """One attribute dict per row, missing values left out (column-wise conversion)."""
    values = []
    for col in columns:
        vals = python_values(df[col], missing=_MISSING)
        if stringify and df[col].dtype == object:
            vals = [v if v is _MISSING or isinstance(v, str) else
                    json.dumps(v, default=str) if isinstance(v, (list, dict, tuple)) else str(v)
                    for v in vals]
        values.append(vals)
    return [{k: v for k, v in zip(columns, row) if v is not _MISSING}
            for row in zip(*values)] if columns else [{} for _ in range(len(df))]


def _edge_keys(relations: pd.DataFrame) -> list[str]:
    # The n-th repeat of (source, target, relation) gets key "relation#n".
    nth = relations.groupby(["source", "target", "relation"], sort=False).cumcount()
    rel = relations["relation"].astype(str)
    keys = rel.where(nth == 0, rel + "#" + nth.astype(str))
    return keys.tolist()


def to_networkx(kg: KnowledgeGraph, *, stringify_objects: bool = False) -> nx.MultiDiGraph:
    """The graph as a networkx ``MultiDiGraph`` (see the module docstring).

    Args:
        kg: The graph.
        stringify_objects: Turn values of ``object`` columns into strings (for GraphML).

    Returns:
        A new ``MultiDiGraph``; ``G.graph`` holds ``medkg_metadata``,
        ``medkg_concept_dtypes``, ``medkg_relation_dtypes`` and ``medkg_dangling_nodes``.
    """
    concepts, relations = kg._concepts, kg._relations
    G = nx.MultiDiGraph()
    G.graph.update({
        "medkg_metadata": kg.metadata,
        "medkg_concept_dtypes": dtype_spec(concepts),
        "medkg_relation_dtypes": dtype_spec(relations),
    })
    node_attrs = _records(concepts, [c for c in concepts.columns if c != "id"],
                          stringify_objects)
    G.add_nodes_from(zip(concepts["id"].tolist(), node_attrs))
    edge_attrs = _records(relations, [c for c in relations.columns
                                      if c not in ("source", "target")], stringify_objects)
    G.add_edges_from(zip(relations["source"].tolist(), relations["target"].tolist(),
                         _edge_keys(relations), edge_attrs))
    # Endpoints of dangling relations (on_dangling="keep") became bare nodes: record them.
    src, tgt = kg.edge_index()
    bad = (src < 0) | (tgt < 0)
    dangling = set()
    if bad.any():
        ends = pd.concat([relations["source"][bad & (src < 0)],
                          relations["target"][bad & (tgt < 0)]])
        dangling = set(ends.tolist())
    G.graph["medkg_dangling_nodes"] = sorted(dangling)
    return G


def _graph_entry(G: nx.Graph, key: str) -> Any:
    value = G.graph.get(key)
    if isinstance(value, str):  # GraphML stores these as JSON strings
        try:
            return json.loads(value)
        except json.JSONDecodeError as err:
            raise ParseError(f"graph attribute {key!r} is not valid JSON: {err}") from err
    return value


def _columns(dicts: list[dict[str, Any]], core: list[str], spec: dict[str, str] | None,
             first: dict[str, list[Any]]) -> pd.DataFrame:
    names = list(first)
    for name in (spec or {}):
        if name not in names:
            names.append(name)
    for name in core:
        if name not in names:
            names.append(name)
    seen = set(names)
    for d in dicts:
        for name in d:
            if name not in seen:
                seen.add(name)
                names.append(name)
    data = {}
    for name in names:
        if name in first:
            data[name] = first[name]
        else:
            values = [d.get(name) for d in dicts]
            data[name] = (pd.Series(values, dtype=object) if spec and name in spec
                          else infer_column(values))
    return pd.DataFrame(data, index=pd.RangeIndex(len(dicts)))


def from_networkx(G: nx.Graph, *, validate: bool = True,
                  on_dangling: str = "raise") -> KnowledgeGraph:
    """Rebuilds a knowledge graph from a networkx graph made by :func:`to_networkx`
    (or by hand: nodes need ``label`` and ``semantic_type``, edges need ``relation`` or a
    relation-named key; missing ``code``/``system`` are derived from the node id).

    Args:
        G: A networkx (multi)graph whose nodes are CURIEs.
        validate: Validate the resulting tables.
        on_dangling: Passed to :class:`~kg.graph.KnowledgeGraph`.

    Raises:
        SchemaError: A required attribute is missing or has the wrong type.
    """
    dangling = set(_graph_entry(G, "medkg_dangling_nodes") or [])
    nodes = [(n, d) for n, d in G.nodes(data=True) if n not in dangling]
    cspec = _graph_entry(G, "medkg_concept_dtypes")
    rspec = _graph_entry(G, "medkg_relation_dtypes")
    concepts = _columns([d for _, d in nodes], CONCEPT_COLUMNS, cspec,
                        {"id": pd.Series([str(n) for n, _ in nodes], dtype="string")})
    concepts = fill_code_system(apply_dtype_spec(concepts, cspec, "networkx nodes")
                                 .astype({c: "string" for c in CONCEPT_COLUMNS}))
    if G.is_multigraph():
        edges = list(G.edges(keys=True, data=True))
    else:
        edges = [(u, v, None, d) for u, v, d in G.edges(data=True)]
    dicts = [d for *_, d in edges]
    rel = []
    for u, v, key, d in edges:
        name = d.get("relation", key.split("#")[0] if isinstance(key, str) else None)
        if not isinstance(name, str):
            raise SchemaError(f"networkx edge {u!r} -> {v!r} has no 'relation' attribute "
                              "and no relation-named key")
        rel.append(name)
    first = {"source": pd.Series([str(e[0]) for e in edges], dtype="string"),
             "relation": pd.Series(rel, dtype="string"),
             "target": pd.Series([str(e[1]) for e in edges], dtype="string")}
    relations = _columns(dicts, RELATION_COLUMNS, rspec, first)
    for col in ("probability", "frequency", "severity"):
        if rspec is None or col not in rspec:
            relations[col] = pd.to_numeric(relations[col], errors="coerce").astype("float64")
    relations = apply_dtype_spec(relations, rspec, "networkx edges")
    metadata = _graph_entry(G, "medkg_metadata") or {}
    return KnowledgeGraph(concepts, relations, metadata, validate=validate,
                          on_dangling=on_dangling)


def _export_graph(kg: KnowledgeGraph) -> nx.MultiDiGraph:
    G = to_networkx(kg, stringify_objects=True)
    for key in _GRAPH_KEYS:
        G.graph[key] = json.dumps(G.graph[key], default=str)
    return G


def write_graphml(kg: KnowledgeGraph, path: str | os.PathLike) -> None:
    """Writes the graph as GraphML, atomically; :func:`read_graphml` reads it back.

    Examples:
        >>> import tempfile, pathlib
        >>> from ontologies.schema import make_concepts
        >>> kg = KnowledgeGraph(make_concepts(["A:1"], ["one"], "disease", rank=[3]))
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "kg.graphml"
        >>> write_graphml(kg, path)
        >>> read_graphml(path).equals(kg)
        True
    """
    G = _export_graph(kg)
    with atomic_write(path, "wb") as handle:
        nx.write_graphml(G, handle, infer_numeric_types=True)


def read_graphml(path: str | os.PathLike, **options: Any) -> KnowledgeGraph:
    """Reads a GraphML file written by :func:`write_graphml` (options as
    :func:`from_networkx`).

    Raises:
        DataNotFoundError: The file does not exist.
        ParseError: The file is not GraphML.
    """
    from ontologies.errors import DataNotFoundError

    if not os.path.exists(path):
        raise DataNotFoundError(f"{path}: no such GraphML file")
    try:
        G = nx.read_graphml(path, force_multigraph=True)
    except (nx.NetworkXError, SyntaxError, ValueError) as err:  # ParseError from expat
        raise ParseError(f"not a readable GraphML file: {err}", path) from err
    # GraphML keeps edge keys as the edge ids, which to_networkx made relation-named.
    return from_networkx(G, **options)


def write_gexf(kg: KnowledgeGraph, path: str | os.PathLike) -> None:
    """Writes the graph as GEXF for Gephi, atomically (export only).

    Examples:
        >>> import tempfile, pathlib
        >>> from ontologies.schema import make_concepts
        >>> kg = KnowledgeGraph(make_concepts(["A:1"], ["one"], "disease"))
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "kg.gexf"
        >>> write_gexf(kg, path)
        >>> "A:1" in path.read_text()
        True
    """
    G = _export_graph(kg)
    G.graph.clear()  # GEXF keeps no graph-level attributes
    with atomic_write(path, "wb") as handle:
        nx.write_gexf(G, handle)

