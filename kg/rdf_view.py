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

Row order is not kept: :func:`from_rdf` sorts concepts by id and relations by
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
import logging
import os
import uuid
from urllib.parse import unquote
from collections import defaultdict
from collections.abc import Iterator, Mapping
from itertools import repeat
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rdflib import RDF, RDFS, XSD, BNode, Graph, Literal, URIRef
from rdflib.util import guess_format

from kg.graph import KnowledgeGraph
from kg.iri import (
    FALLBACK,
    MEDKG,
    MEDKG_ATTR,
    MEDKG_JSON,
    MEDKG_REL,
    PREFIXES,
    attribute_iri,
    attribute_name,
    class_name,
    curies_to_iris,
    encode_local,
    is_prefix_name,
    iris_to_curies,
)
from kg.tables import (
    apply_dtype_spec,
    dtype_spec,
    fill_code_system,
    infer_column,
    python_values,
)
from ontologies.errors import DataNotFoundError, InputError, ParseError
from ontologies.schema import (
    CONCEPT_COLUMNS,
    RELATION_ATTRIBUTES,
    RELATION_COLUMNS,
    SEMANTIC_TYPES,
)

__all__ = ["to_rdf", "from_rdf", "write_turtle", "sparql", "column_plan", "literal_kind",
           "double_lexical", "namespaces"]

logger = logging.getLogger(__name__)

_T = {name: URIRef(MEDKG + name) for name in (
    "code", "system", "source", "relation", "target", "probability", "frequency",
    "severity", "provenance", "Relation", "KnowledgeGraph", "metadata", "conceptDtypes",
    "relationDtypes")}
_JSON = URIRef(MEDKG_JSON)
_CLASSES = {URIRef(MEDKG + class_name(t)): t for t in SEMANTIC_TYPES}
_XSD_STRING = XSD.string
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
    if pd.api.types.is_string_dtype(dtype) and dtype != object:
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


# ---------------------------------------------------------------- from_rdf
def _value(term: Any) -> Any:
    if isinstance(term, Literal):
        dt = term.datatype
        if dt is None or dt == _XSD_STRING:
            return str(term)
        if dt == _JSON:
            return json.loads(str(term))
        value = term.toPython()
        return str(term) if isinstance(value, Literal) else value
    return str(term)


def _load(source: Graph | str | os.PathLike, fmt: str | None) -> Graph:
    if isinstance(source, Graph):
        return source
    path = Path(source)
    if not path.is_file():
        raise DataNotFoundError(f"{path}: no such RDF file")
    # SimpleMemory: no named-graph bookkeeping, markedly faster to fill and to scan.
    g = Graph(store="SimpleMemory", bind_namespaces="core")
    fmt = fmt or guess_format(str(path)) or "turtle"
    try:
        g.parse(str(path), format=fmt)
    except Exception as err:  # rdflib raises many unrelated types; re-raise as ours
        raise ParseError(f"cannot parse as {fmt}: {err}", path) from err
    return g


def _curies(terms: list[Any], what: str, prefixes: Mapping[str, str]) -> np.ndarray:
    curies = iris_to_curies([str(t) for t in terms], prefixes)
    bad = [t for t, c in zip(terms, curies) if c is None or not isinstance(t, URIRef)]
    if bad:
        raise ParseError(f"{what} {str(bad[0])!r} is not an IRI in a known namespace "
                         f"({len(bad)} such); expected e.g. {PREFIXES['ICD10CM']}E11.9")
    return curies


def _keys(terms: list[Any]) -> pd.Index:
    # Plain-str keys: rdflib terms hash and compare in Python, str in C. Blank-node ids
    # never contain ':' so they cannot collide with IRIs.
    return pd.Index(list(map(str, terms)), dtype=object)


def _terms_for(subjects: list[Any], objects: list[Any], index: pd.Index) -> list[Any]:
    """The object of each subject in ``index`` (str keys; ``None`` where it has none)."""
    s = pd.Series(objects, index=_keys(subjects), dtype=object)
    s = s[s.index.isin(index)]
    if s.index.has_duplicates:
        logger.info("RDF: %d subject(s) have several values of one property; kept one",
                    int(s.index.duplicated().sum()))
        s = s[~s.index.duplicated()]
    # reindex marks absent subjects with NaN; objects are rdflib terms, never floats.
    return [None if isinstance(v, float) else v for v in s.reindex(index).tolist()]


def _column(subjects: list[Any], objects: list[Any], index: pd.Index) -> list[Any]:
    return [None if t is None else _value(t) for t in _terms_for(subjects, objects, index)]


def from_rdf(source: Graph | str | os.PathLike, *, format: str | None = None,
             prefixes: Mapping[str, str] | None = None, validate: bool = True,
             on_dangling: str = "raise") -> KnowledgeGraph:
    """Reads a knowledge graph from an rdflib graph or an RDF file (Turtle, N-Triples,
    RDF/XML, ...; format guessed from the suffix).

    Args:
        source: A graph from :func:`to_rdf`, or a path.
        format: rdflib format name, if the suffix does not tell.
        prefixes: Extra CURIE prefix -> namespace entries.
        validate: Validate the tables.
        on_dangling: Passed to :class:`~kg.graph.KnowledgeGraph`.

    Raises:
        DataNotFoundError: The file does not exist.
        ParseError: The file cannot be parsed, or an IRI is in no known namespace.
    """
    prefixes = {**PREFIXES, **(prefixes or {})}
    g = _load(source, format)
    buckets: dict[Any, tuple[list, list]] = defaultdict(lambda: ([], []))
    for s, p, o in g:  # one pass; grouping by predicate beats one query per property
        b = buckets[p]
        b[0].append(s)
        b[1].append(o)

    ts, to = buckets.get(RDF.type, ([], []))
    types = pd.DataFrame({"s": _keys(ts), "o": _keys(to), "term": pd.Series(ts, dtype=object)})
    classes = {str(k): v for k, v in _CLASSES.items()}
    typed = types[types["o"].isin(list(classes))].drop_duplicates("s")
    cidx = pd.Index(typed["s"], dtype=object)
    sidx = pd.Index(types.loc[types["o"] == str(_T["Relation"]), "s"].unique(), dtype=object)
    descs = pd.Index(types.loc[types["o"] == str(_T["KnowledgeGraph"]), "s"], dtype=object)

    spec: dict[str, Any] = {}
    if len(descs):
        if len(descs) > 1:
            logger.warning("RDF holds %d medkg:KnowledgeGraph nodes; using one", len(descs))
        for key in ("metadata", "conceptDtypes", "relationDtypes"):
            value = _terms_for(*buckets.get(_T[key], ([], [])), descs[:1])[0]
            if value is None:
                continue
            try:
                spec[key] = json.loads(str(value))
            except json.JSONDecodeError as err:
                raise ParseError(f"medkg:{key} is not valid JSON: {err}") from err

    concepts: dict[str, Any] = {
        "id": _curies(typed["term"].tolist(), "concept", prefixes),
        "semantic_type": typed["o"].map(classes).tolist(),
    }
    relations: dict[str, Any] = {}
    for pred, (subs, objs) in buckets.items():
        p = str(pred)
        if p == str(RDFS.label):
            concepts["label"] = _column(subs, objs, cidx)
        elif p in (MEDKG + "code", MEDKG + "system"):
            concepts[p[len(MEDKG):]] = _column(subs, objs, cidx)
        elif p in (MEDKG + a for a in RELATION_ATTRIBUTES + ["provenance"]):
            relations[p[len(MEDKG):]] = _column(subs, objs, sidx)
        elif p.startswith(MEDKG_ATTR):
            # The same column name may exist in both tables; keep it where it has values.
            name = attribute_name(p)
            for table, index in ((concepts, cidx), (relations, sidx)):
                values = _column(subs, objs, index)
                if any(v is not None for v in values):
                    table[name] = values
    cdf = _frame(concepts, CONCEPT_COLUMNS, spec.get("conceptDtypes"), len(cidx))
    cdf = fill_code_system(cdf).astype({c: "string" for c in CONCEPT_COLUMNS})
    cdf = apply_dtype_spec(cdf, spec.get("conceptDtypes"), "RDF concepts")
    cdf = cdf.sort_values("id", kind="stable", ignore_index=True)

    ends: dict[str, Any] = {}
    for col in ("source", "relation", "target"):
        subs, objs = buckets.get(_T[col], ([], []))
        values = _terms_for(subs, objs, sidx)
        missing = [n for n, v in zip(sidx, values) if v is None]
        if missing:
            raise ParseError(f"medkg:Relation node {missing[0]} has no medkg:{col}")
        ends[col] = values
    rel_names = _relation_names(ends["relation"] if len(sidx) else [])
    rdf = pd.DataFrame({
        "source": pd.Series(_curies(ends["source"], "relation source", prefixes)
                            if len(sidx) else [], dtype="string"),
        "relation": pd.Series(rel_names, dtype="string"),
        "target": pd.Series(_curies(ends["target"], "relation target", prefixes)
                            if len(sidx) else [], dtype="string"),
    })
    for name, values in relations.items():
        rdf[name] = values if len(sidx) else []
    rdf = _add_direct(rdf, buckets, prefixes)
    rdf = _frame({c: rdf[c] for c in rdf.columns}, RELATION_COLUMNS,
                 spec.get("relationDtypes"), len(rdf))
    for col in RELATION_ATTRIBUTES:
        rdf[col] = pd.to_numeric(rdf[col], errors="coerce").astype("float64")
    rdf = apply_dtype_spec(rdf, spec.get("relationDtypes"), "RDF relations")
    rdf = rdf.sort_values(["source", "relation", "target"], kind="stable", ignore_index=True)
    return KnowledgeGraph(cdf, rdf, spec.get("metadata", {}), validate=validate,
                          on_dangling=on_dangling)


def _relation_names(iris: list[str]) -> list[str]:
    bad = [i for i in iris if not str(i).startswith(MEDKG_REL)]
    if bad:
        raise ParseError(f"medkg:relation {str(bad[0])!r}: expected an IRI in {MEDKG_REL}")
    return [unquote(str(i)[len(MEDKG_REL):]) for i in iris]


def _add_direct(rdf: pd.DataFrame, buckets: Mapping[Any, tuple[list, list]],
                prefixes: Mapping[str, str]) -> pd.DataFrame:
    """Appends direct ``medkg-rel:`` triples that no reified statement describes."""
    rows = []
    for pred, (subs, objs) in buckets.items():
        if not str(pred).startswith(MEDKG_REL):
            continue
        pairs = [(s, o) for s, o in zip(subs, objs) if isinstance(o, URIRef)]
        if not pairs:
            continue
        frame = pd.DataFrame({
            "source": _curies([s for s, _ in pairs], "subject", prefixes),
            "relation": unquote(str(pred)[len(MEDKG_REL):]),
            "target": _curies([o for _, o in pairs], "object", prefixes)})
        rows.append(frame.astype("string"))
    if not rows:
        return rdf
    direct = pd.concat(rows, ignore_index=True)
    known = rdf[["source", "relation", "target"]].drop_duplicates()
    new = direct.merge(known, how="left", indicator=True)
    new = new[new["_merge"] == "left_only"].drop(columns="_merge")
    if not len(new):
        return rdf
    logger.info("RDF: %d direct relation triple(s) without a medkg:Relation statement",
                len(new))
    return pd.concat([rdf, new], ignore_index=True)


def _frame(columns: dict[str, Any], core: list[str], spec: Mapping[str, str] | None,
           n: int) -> pd.DataFrame:
    names = list(spec) if spec else []
    names += [c for c in core if c not in names]
    names += [c for c in columns if c not in names]
    data = {}
    for name in names:
        values = columns.get(name, [None] * n)
        if isinstance(values, pd.Series):
            values = values.reset_index(drop=True)
            if spec and name in spec:  # apply_dtype_spec casts it
                data[name] = values
                continue
            values = python_values(values)  # NaN/NA -> None for inference
        if spec and name in spec:
            data[name] = pd.Series(list(values), dtype=object)
        else:
            data[name] = infer_column(list(values))
    return pd.DataFrame(data, index=pd.RangeIndex(n))


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
        values: list[Any] = [None if t is None else _value(t) for t in terms]
        if curies:
            iri_rows = [i for i, t in enumerate(terms) if isinstance(t, URIRef)]
            if iri_rows:
                found = iris_to_curies([str(terms[i]) for i in iri_rows], prefixes)
                for i, c in zip(iri_rows, found):
                    if c is not None:
                        values[i] = c
        columns[name] = pd.Series(values, dtype=object)
    return pd.DataFrame(columns, columns=names)
