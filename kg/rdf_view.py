"""rdflib view of a knowledge graph, for the semantic web: RDF in and out, SPARQL.

Mapping (nothing the graph holds is lost; :func:`from_rdf` inverts :func:`to_rdf`):

* a concept is an IRI (see :mod:`kg.iri`) typed ``rdf:type medkg:<SemanticType>``
  (``disease`` -> ``medkg:Disease``) with ``rdfs:label``, ``medkg:code``, ``medkg:system``
  and one ``medkg-attr:<column>`` literal per extra column;
* a relation is written twice: the **direct triple** ``<source> medkg-rel:is_a <target>``
  so plain SPARQL patterns work, and a **reified statement** (a blank node typed
  ``medkg:Relation`` with ``medkg:source``, ``medkg:relation``, ``medkg:target``,
  ``medkg:probability``/``frequency``/``severity``/``provenance`` and
  ``medkg-attr:<column>``) that carries the attributes. RDF graphs are sets, so only the
  reified form can keep two rows with the same endpoints apart; :func:`from_rdf` reads
  the statements and adds direct triples that have no statement (hand-written RDF);
* literals are typed by column dtype: strings plain, floats ``xsd:double`` (exact
  round trip), integers ``xsd:integer``, booleans ``xsd:boolean``, other objects JSON
  with datatype ``medkg:json``; missing values (NaN/NA) are absent;
* one blank node ``medkg:KnowledgeGraph`` holds the metadata and the column dtypes as
  JSON strings (``medkg:metadata``, ``medkg:conceptDtypes``, ``medkg:relationDtypes``),
  so dtypes and column order come back exactly.

:func:`from_rdf` lives in :mod:`kg.rdf_read` (re-exported here); files go through
:func:`ontologies.rdf_parse.parse_rdf`, which checks RDF/XML with defusedxml first. Row
order is not kept: :func:`from_rdf` sorts concepts by id and relations by
(source, relation, target). :func:`write_turtle` writes Turtle straight from the tables:
rdflib's serializer is slow and rounds ``xsd:double`` to 7 significant digits
(RDFLib/rdflib#1852). Parsing uses rdflib and dominates a round trip (about 9 triples per
concept/relation pair; see ``benchmarks/bench_kg_views.py``).

Examples:
    >>> from ontologies.schema import make_concepts, make_relations
    >>> from kg.graph import KnowledgeGraph
    >>> kg = KnowledgeGraph(
    ...     make_concepts(["ICD10CM:E11", "ICD10CM:E11.9"], ["T2DM", "T2DM w/o compl."],
    ...                   "disease"),
    ...     make_relations(["ICD10CM:E11.9"], "is_a", ["ICD10CM:E11"], provenance="demo"))
    >>> g = to_rdf(kg)
    >>> len(g)   # 4 describing the graph, 4 per concept, 6 for the relation
    18
    >>> sparql(g, "SELECT ?c WHERE { ?c medkg-rel:is_a ICD10CM:E11 }")["c"].tolist()
    ['ICD10CM:E11.9']
    >>> from_rdf(g).equals(kg)
    True
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator, Mapping
from itertools import repeat
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rdflib import RDF, RDFS, XSD, BNode, Graph, Literal, URIRef

from kg.graph import KnowledgeGraph
from kg.iri import (
    FALLBACK,
    MEDKG,
    MEDKG_ATTR,
    MEDKG_REL,
    PREFIXES,
    attribute_iri,
    class_name,
    curies_to_iris,
    encode_local,
    iris_to_curies,
    is_prefix_name,
)
from kg.rdf_read import JSON_DATATYPE, TERMS, from_rdf, literal_value
from kg.tables import dtype_spec, python_values
from ontologies.errors import InputError
from ontologies.schema import RELATION_COLUMNS

__all__ = ["to_rdf", "from_rdf", "write_turtle", "sparql", "column_plan", "literal_kind",
           "double_lexical", "namespaces"]

_T, _JSON = TERMS, JSON_DATATYPE
_XSD_LEX = {"float": XSD.double, "int": XSD.integer, "bool": XSD.boolean, "json": _JSON}


# ---------------------------------------------------------------- shared with kg.turtle
def namespaces(kg: KnowledgeGraph, prefixes: Mapping[str, str]) -> dict[str, str]:
    """Prefix name -> namespace bound in the RDF output (medkg's and the graph's systems)."""
    out = {"medkg": MEDKG, "medkg-rel": MEDKG_REL, "medkg-attr": MEDKG_ATTR}
    for system in kg.systems:
        if is_prefix_name(system) and system not in out:
            out[system] = prefixes.get(system) or f"{FALLBACK}{system}/"
    return out


def literal_kind(series: pd.Series) -> str:
    """How a column's values become literals: str, float, int, bool or object."""
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if pd.api.types.is_integer_dtype(dtype):
        return "int"
    if pd.api.types.is_float_dtype(dtype):
        return "float"
    if pd.api.types.is_string_dtype(dtype) and dtype != np.dtype(object):
        return "str"
    return "object"


def double_lexical(value: float) -> str:
    """xsd:double lexical form that parses back to the same float.

    Examples:
        >>> double_lexical(0.1), double_lexical(float("-inf"))
        ('0.1', '-INF')
    """
    if value == np.inf:
        return "INF"
    if value == -np.inf:
        return "-INF"
    return repr(float(value))


def value_lexical(value: Any, kind: str) -> tuple[str, str]:
    """(lexical form, kind) of one value; object values pick their kind by Python type."""
    if kind == "object":
        if isinstance(value, str):
            kind = "str"
        elif isinstance(value, (bool, np.bool_)):
            kind = "bool"
        elif isinstance(value, (int, np.integer)):
            kind = "int"
        elif isinstance(value, (float, np.floating)):
            kind = "float"
        else:
            return json.dumps(value, default=str), "json"
    if kind == "str":
        return str(value), kind
    if kind == "float":
        return double_lexical(value), kind
    if kind == "bool":
        return ("true" if value else "false"), kind
    return str(int(value)), kind


def column_plan(kg: KnowledgeGraph, table: str) -> list[tuple[str, str, str]]:
    """(column, predicate IRI, literal kind) for each attribute column of a table.

    ``semantic_type`` (concepts) and the endpoints/relation (relations) are not listed:
    they become ``rdf:type`` and the statement structure.
    """
    df = kg._concepts if table == "concepts" else kg._relations
    plan = []
    for col in df.columns:
        if table == "concepts":
            if col in ("id", "semantic_type"):
                continue
            pred = {"label": str(RDFS.label), "code": MEDKG + "code",
                    "system": MEDKG + "system"}.get(col) or attribute_iri(col)
        else:
            if col in ("source", "relation", "target"):
                continue
            pred = MEDKG + col if col in RELATION_COLUMNS else attribute_iri(col)
        plan.append((col, pred, literal_kind(df[col])))
    return plan


# ---------------------------------------------------------------- to_rdf
def _literals(series: pd.Series, kind: str) -> tuple[np.ndarray, list[Literal]]:
    """Rows holding a value and one Literal per such row (built once per distinct value)."""
    values = python_values(series)
    mask = ~series.isna().to_numpy(dtype=bool)
    rows = np.flatnonzero(mask)
    present = [values[i] for i in rows]
    cache: dict[Any, Literal] = {}
    out = []
    for v in present:
        key = (type(v), v) if not isinstance(v, (list, dict)) else None
        lit = cache.get(key) if key is not None else None
        if lit is None:
            lex, k = value_lexical(v, kind)
            lit = Literal(lex) if k == "str" else Literal(lex, datatype=_XSD_LEX[k])
            if key is not None:
                cache[key] = lit
        out.append(lit)
    return rows, out


def _terms(iris: np.ndarray) -> np.ndarray:
    out = np.empty(len(iris), dtype=object)
    out[:] = [URIRef(i) for i in iris]
    return out


def _quads(kg: KnowledgeGraph, prefixes: Mapping[str, str], g: Graph) -> Iterator[tuple]:
    concepts, relations = kg._concepts, kg._relations
    tag = uuid.uuid4().hex[:12]  # blank-node labels unique per call
    desc = BNode(f"kg{tag}")
    yield (desc, RDF.type, _T["KnowledgeGraph"], g)
    for key, value in (("metadata", kg.metadata), ("conceptDtypes", dtype_spec(concepts)),
                       ("relationDtypes", dtype_spec(relations))):
        yield (desc, _T[key], Literal(json.dumps(value, default=str)), g)

    subj = _terms(curies_to_iris(concepts["id"], prefixes))
    codes, names = pd.factorize(concepts["semantic_type"])
    classes = np.array([URIRef(MEDKG + class_name(t)) for t in names], dtype=object)
    yield from zip(subj, repeat(RDF.type), classes[codes], repeat(g))
    for col, pred, kind in column_plan(kg, "concepts"):
        rows, lits = _literals(concepts[col], kind)
        yield from zip(subj[rows], repeat(URIRef(pred)), lits, repeat(g))

    if not len(relations):
        return
    src, tgt = kg.edge_index()
    ends = []
    for idx, col in ((src, "source"), (tgt, "target")):
        terms = np.empty(len(idx), dtype=object)
        terms[idx >= 0] = subj[idx[idx >= 0]]
        if (idx < 0).any():  # dangling endpoints kept with on_dangling="keep"
            terms[idx < 0] = _terms(curies_to_iris(relations[col][idx < 0], prefixes))
        ends.append(terms)
    codes, names = pd.factorize(relations["relation"])
    preds = np.array([URIRef(MEDKG_REL + encode_local(n)) for n in names],
                     dtype=object)[codes]
    stmt = np.empty(len(relations), dtype=object)
    stmt[:] = [BNode(f"r{tag}{i}") for i in range(len(relations))]
    yield from zip(ends[0], preds, ends[1], repeat(g))
    yield from zip(stmt, repeat(RDF.type), repeat(_T["Relation"]), repeat(g))
    yield from zip(stmt, repeat(_T["source"]), ends[0], repeat(g))
    yield from zip(stmt, repeat(_T["relation"]), preds, repeat(g))
    yield from zip(stmt, repeat(_T["target"]), ends[1], repeat(g))
    for col, pred, kind in column_plan(kg, "relations"):
        rows, lits = _literals(relations[col], kind)
        yield from zip(stmt[rows], repeat(URIRef(pred)), lits, repeat(g))


def to_rdf(kg: KnowledgeGraph, *, prefixes: Mapping[str, str] | None = None,
           store: str = "SimpleMemory") -> Graph:
    """The graph as an rdflib ``Graph`` (see the module docstring for the mapping).

    Args:
        kg: The graph.
        prefixes: Extra or overriding CURIE prefix -> namespace entries.
        store: rdflib store plugin. The default ``"SimpleMemory"`` fills ~2x faster than
            rdflib's context-aware ``"default"`` store; pass ``"default"`` when the graph
            will be added to a Dataset with named graphs.

    Returns:
        A new graph with prefixes ``medkg``, ``medkg-rel``, ``medkg-attr`` and one per
        code system bound (usable in SPARQL as is).
    """
    prefixes = {**PREFIXES, **(prefixes or {})}
    g = Graph(store=store, bind_namespaces="core")
    for name, ns in namespaces(kg, prefixes).items():
        g.bind(name, ns, override=True, replace=True)
    # Batched: addN consumes precomputed term tuples; no per-row pandas access.
    g.addN(_quads(kg, prefixes, g))
    return g


def write_turtle(kg: KnowledgeGraph, path: str | os.PathLike, **options: Any) -> Path:
    """Writes Turtle atomically; see :func:`kg.turtle.write_turtle`."""
    from kg.turtle import write_turtle as _write
    return _write(kg, path, **options)


# ---------------------------------------------------------------- SPARQL
def sparql(kg_or_graph: KnowledgeGraph | Graph, query: str, *, curies: bool = True,
           prefixes: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Runs a SPARQL query; SELECT rows come back as a DataFrame.

    The graph's prefixes (``medkg``, ``medkg-rel``, ``medkg-attr``, ``ICD10CM``, ...) are
    predeclared. A :class:`~kg.graph.KnowledgeGraph` is converted once and cached.

    Args:
        kg_or_graph: A knowledge graph or an rdflib graph.
        query: SELECT (-> one column per variable), ASK (-> column ``ask``) or
            CONSTRUCT/DESCRIBE (-> ``subject``, ``predicate``, ``object``).
        curies: Show concept IRIs as CURIEs (``ICD10CM:E11``) instead of full IRIs.
        prefixes: Extra CURIE prefix -> namespace entries.

    Returns:
        A DataFrame; literals as Python values, unbound variables as ``None``.

    Raises:
        InputError: The query does not parse or fails.
    """
    prefixes = {**PREFIXES, **(prefixes or {})}
    if isinstance(kg_or_graph, KnowledgeGraph):
        key = ("rdf", tuple(sorted(prefixes.items())))
        if key not in kg_or_graph._cache:
            kg_or_graph._cache[key] = to_rdf(kg_or_graph, prefixes=prefixes)
        graph = kg_or_graph._cache[key]
    elif isinstance(kg_or_graph, Graph):
        graph = kg_or_graph
    else:
        raise InputError(f"sparql: expected a KnowledgeGraph or rdflib.Graph, got "
                         f"{type(kg_or_graph).__name__}")
    try:
        result = graph.query(query)
        if result.type == "ASK":
            return pd.DataFrame({"ask": [bool(result.askAnswer)]})
        if result.type == "SELECT":
            names = [str(v) for v in result.vars]
            rows = [list(r) for r in result]
        else:
            names = ["subject", "predicate", "object"]
            rows = [list(t) for t in result.graph]
    except Exception as err:  # pyparsing/rdflib raise assorted types; re-raise as ours
        raise InputError(f"SPARQL query failed: {err}") from err
    columns = {}
    for j, name in enumerate(names):
        terms = [r[j] for r in rows]
        values: list[Any] = [None if t is None else literal_value(t) for t in terms]
        if curies:
            iri_rows = [i for i, t in enumerate(terms) if isinstance(t, URIRef)]
            if iri_rows:
                found = iris_to_curies([str(terms[i]) for i in iri_rows], prefixes)
                for i, c in zip(iri_rows, found, strict=True):
                    if c is not None:
                        values[i] = c
        columns[name] = pd.Series(values, dtype=object)
    return pd.DataFrame(columns, columns=names)
