"""Turtle written straight from the tables: the same triples as :func:`kg.rdf_view.to_rdf`.

rdflib's Turtle serializer walks an in-memory graph term by term, is slow on millions
of triples and writes doubles with ``%e`` (7 significant digits, RDFLib/rdflib#1852);
here each column becomes text with vectorised pandas string operations, doubles keep
``repr`` precision, and the file is written in chunks, atomically. The output is ordinary Turtle: one
block per concept, then per relation its direct triple and its reified statement
(``_:r<row>``), with prefixed names where the local part is plainly safe and ``<IRI>``
otherwise. Parse it with rdflib (:func:`kg.rdf_view.from_rdf`).

Examples:
    >>> import tempfile, pathlib
    >>> from ontologies.schema import make_concepts, make_relations
    >>> from kg.graph import KnowledgeGraph
    >>> kg = KnowledgeGraph(
    ...     make_concepts(["ICD10CM:E11", "ICD10CM:E11.9"], ['Type "2"', "T2DM"], "disease"),
    ...     make_relations(["ICD10CM:E11.9"], "is_a", ["ICD10CM:E11"], probability=0.5))
    >>> path = write_turtle(kg, pathlib.Path(tempfile.mkdtemp()) / "kg.ttl")
    >>> print(path.read_text().split("\\n\\n")[2])
    ICD10CM:E11 a medkg:Disease ;
        medkg:code "E11" ;
        rdfs:label "Type \\"2\\"" ;
        medkg:system "ICD10CM" .
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd

from kg.graph import KnowledgeGraph
from kg.iri import MEDKG_REL, PREFIXES, class_name, curies_to_iris, encode_local
from kg.rdf_view import column_plan, namespaces, value_lexical
from kg.tables import dtype_spec, python_values
from ontologies.atomic import atomic_write

__all__ = ["write_turtle"]

# Local names written unescaped (a conservative subset of Turtle's PN_LOCAL).
_LOCAL_PATTERN = r"[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_-])?"
_LOCAL = re.compile(_LOCAL_PATTERN)
_STD = {"rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
        "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
        "xsd": "http://www.w3.org/2001/XMLSchema#"}
_DT = {"float": "xsd:double", "json": "medkg:json"}


def _quote(s: pd.Series) -> pd.Series:
    s = s.astype("string")
    for a, b in (("\\", "\\\\"), ('"', '\\"'), ("\n", "\\n"), ("\r", "\\r")):
        s = s.str.replace(a, b, regex=False)
    return '"' + s + '"'


def _name(iri: str, bound: Mapping[str, str]) -> str:
    for prefix, ns in bound.items():
        if iri.startswith(ns) and _LOCAL.fullmatch(iri[len(ns):]):
            return f"{prefix}:{iri[len(ns):]}"
    return f"<{iri}>"


def _nodes(curies: pd.Series, bound: Mapping[str, str],
           prefixes: Mapping[str, str]) -> pd.Series:
    """Turtle terms of concept ids: ``PREFIX:local`` where safe, else ``<IRI>``."""
    iris = pd.Series(curies_to_iris(curies, prefixes), dtype="string")
    out = "<" + iris + ">"
    if not len(iris):
        return out
    system = curies.astype("string").str.partition(":")[0].reset_index(drop=True)
    for prefix in system.unique().tolist():
        ns = bound.get(prefix)
        if ns is None:
            continue
        hit = (system == prefix).to_numpy(dtype=bool)
        local = iris[hit].str.slice(len(ns))
        ok = local.str.fullmatch(_LOCAL_PATTERN).fillna(False).to_numpy(dtype=bool)
        rows = np.flatnonzero(hit)[ok]
        out.iloc[rows] = (prefix + ":" + local[ok]).to_numpy()
    return out


def _objects(series: pd.Series, kind: str) -> pd.Series:
    """Turtle literals of a column; NA where the value is missing."""
    series = series.reset_index(drop=True)
    missing = series.isna().to_numpy(dtype=bool)
    if kind == "str":
        return _quote(series)
    if kind in ("int", "bool"):
        values = python_values(series)
        text = [None if m else value_lexical(v, kind)[0] for v, m in zip(values, missing)]
        return pd.Series(text, dtype="string")
    values = python_values(series)
    lex, kinds = [], []
    for v, m in zip(values, missing):
        if m:
            lex.append(None)
            kinds.append(None)
        else:
            text, k = value_lexical(v, kind)
            lex.append(text)
            kinds.append(k)
    lex_s = pd.Series(lex, dtype="string")
    kinds_s = pd.Series(kinds, dtype="string")
    quoted = _quote(lex_s)
    out = pd.Series(pd.NA, index=lex_s.index, dtype="string")
    for k in ("str", "float", "json"):
        m = (kinds_s == k).fillna(False).to_numpy(dtype=bool)
        out[m] = quoted[m] + ("^^" + _DT[k] if k in _DT else "")
    for k in ("int", "bool"):
        m = (kinds_s == k).fillna(False).to_numpy(dtype=bool)
        out[m] = lex_s[m]
    return out


def _predicate(iri: str, bound: Mapping[str, str]) -> str:
    return _name(iri, bound)


def _block(head: pd.Series, parts: list[tuple[str, pd.Series]]) -> pd.Series:
    text = head
    for pred, obj in parts:
        text = text + (" ;\n    " + pred + " " + obj).fillna("")
    return text + " ."


def _write_concepts(kg: KnowledgeGraph, fh: IO[str], bound: Mapping[str, str],
                    prefixes: Mapping[str, str], chunk: int) -> pd.Series:
    concepts = kg._concepts
    plan = [(col, _predicate(pred, bound), kind) for col, pred, kind in
            column_plan(kg, "concepts")]
    nodes = _nodes(concepts["id"], bound, prefixes)
    classes = concepts["semantic_type"].map(
        {t: f"medkg:{class_name(t)}" for t in concepts["semantic_type"].unique()}
    ).astype("string").reset_index(drop=True)
    for start in range(0, len(concepts), chunk):
        part = slice(start, start + chunk)
        rows = concepts.iloc[part]
        head = nodes.iloc[part].reset_index(drop=True) + " a " + \
            classes.iloc[part].reset_index(drop=True)
        text = _block(head, [(p, _objects(rows[c], k)) for c, p, k in plan])
        fh.write("\n\n".join(text.tolist()) + "\n\n")
    return nodes


def _write_relations(kg: KnowledgeGraph, fh: IO[str], bound: Mapping[str, str],
                     prefixes: Mapping[str, str], nodes: pd.Series, chunk: int) -> None:
    relations = kg._relations
    if not len(relations):
        return
    plan = [(col, _predicate(pred, bound), kind) for col, pred, kind in
            column_plan(kg, "relations")]
    src, tgt = kg.edge_index()
    ends = []
    for idx, col in ((src, "source"), (tgt, "target")):
        terms = pd.Series(pd.NA, index=range(len(idx)), dtype="string")
        terms[idx >= 0] = nodes.to_numpy()[idx[idx >= 0]]
        if (idx < 0).any():
            terms[idx < 0] = _nodes(relations[col][idx < 0], bound, prefixes).to_numpy()
        ends.append(terms)
    rel = relations["relation"].astype("string").reset_index(drop=True)
    preds = rel.map({r: _name(MEDKG_REL + encode_local(r), bound) for r in rel.unique()}
                    ).astype("string")
    for start in range(0, len(relations), chunk):
        part = slice(start, start + chunk)
        s, t, p = (x.iloc[part].reset_index(drop=True) for x in (ends[0], ends[1], preds))
        stmt = pd.Series([f"_:r{i}" for i in range(part.start,
                                                    min(part.stop, len(relations)))],
                         dtype="string")
        head = (s + " " + p + " " + t + " .\n" + stmt + " a medkg:Relation ;\n    "
                "medkg:source " + s + " ;\n    medkg:relation " + p +
                " ;\n    medkg:target " + t)
        rows = relations.iloc[part]
        text = _block(head, [(pr, _objects(rows[c], k)) for c, pr, k in plan])
        fh.write("\n\n".join(text.tolist()) + "\n\n")


def write_turtle(kg: KnowledgeGraph, path: str | os.PathLike, *,
                 prefixes: Mapping[str, str] | None = None, chunk_size: int = 50_000) -> Path:
    """Writes the graph as Turtle, atomically (same triples as :func:`to_rdf`).

    Args:
        kg: The graph.
        path: Destination file (conventionally ``.ttl``).
        prefixes: Extra or overriding CURIE prefix -> namespace entries.
        chunk_size: Rows formatted per write (bounds memory).

    Returns:
        The path written.
    """
    prefixes = {**PREFIXES, **(prefixes or {})}
    bound = {**_STD, **namespaces(kg, prefixes)}
    path = Path(path)
    with atomic_write(path, "w") as fh:
        for name, ns in bound.items():
            fh.write(f"@prefix {name}: <{ns}> .\n")
        fh.write("\n")
        # Longest namespace first so _name picks the most specific prefix.
        bound = dict(sorted(bound.items(), key=lambda kv: -len(kv[1])))
        desc = [("medkg:metadata", kg.metadata),
                ("medkg:conceptDtypes", dtype_spec(kg._concepts)),
                ("medkg:relationDtypes", dtype_spec(kg._relations))]
        head = pd.Series(["_:kg a medkg:KnowledgeGraph"], dtype="string")
        fh.write(_block(head, [(p, _quote(pd.Series([json.dumps(v, default=str)])))
                               for p, v in desc]).iloc[0] + "\n\n")
        nodes = _write_concepts(kg, fh, bound, prefixes, chunk_size)
        _write_relations(kg, fh, bound, prefixes, nodes, chunk_size)
    return path

