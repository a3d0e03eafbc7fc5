"""Reading a knowledge graph back from RDF: the inverse of :func:`kg.rdf_view.to_rdf`.

:func:`from_rdf` (re-exported by :mod:`kg.rdf_view`, which describes the mapping) reads
the concepts typed ``medkg:<SemanticType>``, the reified ``medkg:Relation`` statements
with their attributes, direct ``medkg-rel:`` triples that no statement describes
(hand-written RDF) and the ``medkg:KnowledgeGraph`` node holding metadata and column
dtypes. Files are parsed by :func:`ontologies.rdf_parse.parse_rdf`, so RDF/XML is checked
with defusedxml first (no entity expansion, no external entities). Anything malformed in
a file (a bad JSON literal, a non-numeric probability, an IRI in no known namespace, a
relation to a concept the file lacks) raises an error naming the file.

Examples:
    >>> import pathlib, tempfile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "kg.ttl"
    >>> _ = p.write_text('''@prefix medkg: <https://w3id.org/medkg/schema#> .
    ... @prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
    ... @prefix HP: <http://purl.obolibrary.org/obo/HP_> .
    ... HP:0001250 a medkg:Phenotype ; rdfs:label "Seizure" .
    ... HP:0000118 a medkg:Phenotype ; rdfs:label "Phenotypic abnormality" .
    ... HP:0001250 <https://w3id.org/medkg/relation/is_a> HP:0000118 .
    ... _:r a medkg:Relation ; medkg:source HP:0001250 ; medkg:target HP:0000118 ;
    ...     medkg:relation <https://w3id.org/medkg/relation/is_a> ; medkg:probability "high" .
    ... ''')
    >>> from_rdf(p)
    Traceback (most recent call last):
    ...
    ontologies.errors.ParseError: ...kg.ttl: medkg:probability 'high' ... expected a number...
"""

from __future__ import annotations

import json
import logging
import os
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import numpy as np
import pandas as pd
from rdflib import RDF, RDFS, XSD, Graph, Literal, URIRef
from rdflib.util import guess_format

from kg.graph import KnowledgeGraph
from kg.iri import (
    MEDKG,
    MEDKG_ATTR,
    MEDKG_JSON,
    MEDKG_REL,
    PREFIXES,
    attribute_name,
    class_name,
    iris_to_curies,
)
from kg.tables import (
    apply_dtype_spec,
    check_dtype_spec,
    fill_code_system,
    infer_column,
    python_values,
)
from ontologies.errors import DataNotFoundError, ParseError, SchemaError, UnknownCodeError
from ontologies.rdf_parse import parse_rdf
from ontologies.schema import (
    CONCEPT_COLUMNS,
    RELATION_ATTRIBUTES,
    RELATION_COLUMNS,
    SEMANTIC_TYPES,
)

__all__ = ["from_rdf", "literal_value", "TERMS", "JSON_DATATYPE"]

logger = logging.getLogger(__name__)

#: medkg schema terms of the mapping (``medkg:source``, ``medkg:Relation``, ...).
TERMS = {name: URIRef(MEDKG + name) for name in (
    "code", "system", "source", "relation", "target", "probability", "frequency",
    "severity", "provenance", "Relation", "KnowledgeGraph", "metadata", "conceptDtypes",
    "relationDtypes")}
#: Datatype of literals holding JSON (object-column values such as lists).
JSON_DATATYPE = URIRef(MEDKG_JSON)
_CLASSES = {str(URIRef(MEDKG + class_name(t))): t for t in SEMANTIC_TYPES}
_SPECS = ("metadata", "conceptDtypes", "relationDtypes")


def literal_value(term: Any) -> Any:
    """Python value of an RDF term: literals by datatype, IRIs and blank nodes as str.

    Raises:
        ParseError: A ``medkg:json`` literal is not valid JSON.

    Examples:
        >>> literal_value(Literal("0.5", datatype=XSD.double)), literal_value(URIRef("x:y"))
        (0.5, 'x:y')
    """
    if isinstance(term, Literal):
        dt = term.datatype
        if dt is None or dt == XSD.string:
            return str(term)
        if dt == JSON_DATATYPE:
            return _json(str(term), "a medkg:json literal")
        value = term.toPython()
        return str(term) if isinstance(value, Literal) else value
    return str(term)


def _json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise ParseError(f"{what} is not valid JSON ({err})") from err
    except RecursionError as err:  # json recurses once per nesting level
        raise ParseError(f"{what} is JSON nested too deeply") from err


def _curies(terms: list[Any], what: str, prefixes: Mapping[str, str]) -> np.ndarray:
    try:
        curies = iris_to_curies([str(t) for t in terms], prefixes)
    except SchemaError as err:  # bad percent-encoding
        raise ParseError(f"{what}: {err}") from err
    bad = [t for t, c in zip(terms, curies, strict=True)
           if c is None or not isinstance(t, URIRef)]
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
    return [None if t is None else literal_value(t)
            for t in _terms_for(subjects, objects, index)]


def from_rdf(source: Graph | str | os.PathLike, *, format: str | None = None,
             prefixes: Mapping[str, str] | None = None, validate: bool = True,
             on_dangling: str = "raise") -> KnowledgeGraph:
    """Reads a knowledge graph from an rdflib graph or an RDF file (Turtle, N-Triples,
    RDF/XML, ...; format guessed from the suffix).

    Args:
        source: A graph from :func:`~kg.rdf_view.to_rdf`, or a path.
        format: rdflib format name, if the suffix does not tell.
        prefixes: Extra CURIE prefix -> namespace entries.
        validate: Validate the tables.
        on_dangling: Passed to :class:`~kg.graph.KnowledgeGraph`.

    Raises:
        DataNotFoundError: The file does not exist.
        ParseError: The file cannot be parsed or is unsafe XML, an IRI is in no known
            namespace, or a value is malformed (with the file's name).
        SchemaError: The tables read are invalid (with the file's name).
        UnknownCodeError: A relation points to a concept the file lacks and
            ``on_dangling`` is ``"raise"`` (with the file's name).
    """
    prefixes = {**PREFIXES, **(prefixes or {})}
    if isinstance(source, Graph):
        return _from_graph(source, prefixes, validate, on_dangling)
    path = Path(source)
    if not path.is_file():
        raise DataNotFoundError(f"{path}: no such RDF file")
    # SimpleMemory: no named-graph bookkeeping, markedly faster to fill and to scan.
    graph = parse_rdf(path, format or guess_format(str(path)) or "turtle",
                      store="SimpleMemory")
    try:
        return _from_graph(graph, prefixes, validate, on_dangling)
    except ParseError as err:  # raised deep in the graph walk, which knows no file
        if err.path is not None:
            raise
        raise ParseError(str(err), path, err.line) from err
    except SchemaError as err:  # SchemaError or DuplicateIdError: add the file's name
        raise type(err)(f"{path}: {err}") from err
    except UnknownCodeError as err:  # a relation to a concept the file lacks
        raise UnknownCodeError(err.code, f"{err.expected}; in {path}") from err


def _from_graph(g: Graph, prefixes: Mapping[str, str], validate: bool,
                on_dangling: str) -> KnowledgeGraph:
    buckets: dict[Any, tuple[list, list]] = defaultdict(lambda: ([], []))
    for s, p, o in g:  # one pass; grouping by predicate beats one query per property
        b = buckets[p]
        b[0].append(s)
        b[1].append(o)

    ts, to = buckets.get(RDF.type, ([], []))
    types = pd.DataFrame({"s": _keys(ts), "o": _keys(to), "term": pd.Series(ts, dtype=object)})
    typed = types[types["o"].isin(list(_CLASSES))].drop_duplicates("s")
    cidx = pd.Index(typed["s"], dtype=object)
    sidx = pd.Index(types.loc[types["o"] == str(TERMS["Relation"]), "s"].unique(), dtype=object)
    descs = pd.Index(types.loc[types["o"] == str(TERMS["KnowledgeGraph"]), "s"], dtype=object)
    spec = _specs(buckets, descs)

    concepts: dict[str, Any] = {
        "id": _curies(typed["term"].tolist(), "concept", prefixes),
        "semantic_type": typed["o"].map(_CLASSES).tolist(),
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
            name = _attribute(p)
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
        subs, objs = buckets.get(TERMS[col], ([], []))
        values = _terms_for(subs, objs, sidx)
        missing = [n for n, v in zip(sidx, values, strict=True) if v is None]
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
        rdf[col] = _numbers(rdf, col)
    rdf = apply_dtype_spec(rdf, spec.get("relationDtypes"), "RDF relations")
    rdf = rdf.sort_values(["source", "relation", "target"], kind="stable", ignore_index=True)
    return KnowledgeGraph(cdf, rdf, spec.get("metadata", {}), validate=validate,
                          on_dangling=on_dangling)


def _specs(buckets: Mapping[Any, tuple[list, list]], descs: pd.Index) -> dict[str, Any]:
    """Metadata and column dtypes from the ``medkg:KnowledgeGraph`` node, checked."""
    spec: dict[str, Any] = {}
    if not len(descs):
        return spec
    if len(descs) > 1:
        logger.warning("RDF holds %d medkg:KnowledgeGraph nodes; using one", len(descs))
    for key in _SPECS:
        value = _terms_for(*buckets.get(TERMS[key], ([], [])), descs[:1])[0]
        if value is None:
            continue
        spec[key] = _json(str(value), f"medkg:{key}")
        if key == "metadata" and not isinstance(spec[key], dict):
            raise ParseError(f"medkg:metadata holds a {type(spec[key]).__name__}; expected "
                             "a JSON object")
        try:
            check_dtype_spec(spec[key] if key != "metadata" else None, f"medkg:{key}")
        except SchemaError as err:  # the file is malformed, not a table
            raise ParseError(str(err)) from err
    return spec


def _attribute(iri: str) -> str:
    try:
        return attribute_name(iri)
    except SchemaError as err:
        raise ParseError(str(err)) from err


def _numbers(rdf: pd.DataFrame, col: str) -> pd.Series:
    """A relation attribute as float64; a value that is not a number raises."""
    values = pd.to_numeric(rdf[col], errors="coerce").astype("float64")
    bad = values.isna().to_numpy() & rdf[col].notna().to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        r = rdf.iloc[row]
        raise ParseError(f"medkg:{col} {r[col]!r} of relation {r['source']} {r['relation']} "
                         f"{r['target']}: expected a number in [0, 1]")
    return values


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
        pairs = [(s, o) for s, o in zip(subs, objs, strict=True) if isinstance(o, URIRef)]
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
