"""Equality of knowledge graphs, used to test that every view round-trips exactly.

Two graphs are equal when they hold the same concepts (all columns, same dtypes, same
values, missing where missing), the same multiset of relations and the same metadata.
Row and column order are ignored unless ``check_order=True``: a graph is a set of
concepts and relations, and some views (RDF) do not keep row order.

Examples:
    >>> from ontologies.schema import make_concepts, make_relations
    >>> from kg.graph import KnowledgeGraph
    >>> c = make_concepts(["A:1", "A:2"], ["a", "b"], "disease")
    >>> a = KnowledgeGraph(c, make_relations(["A:1"], "is_a", ["A:2"]))
    >>> b = KnowledgeGraph(c.iloc[::-1], make_relations(["A:1"], "is_a", ["A:2"]))
    >>> kg_equal(a, b), kg_equal(a, b, check_order=True)
    (True, False)
    >>> kg_differences(a, KnowledgeGraph(c))
    ['relations: 1 rows vs 0']
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from kg.graph import KnowledgeGraph

__all__ = ["kg_equal", "kg_differences", "assert_kg_equal"]


def _sort_codes(series: pd.Series) -> np.ndarray:
    """Integer codes ordered like the values (missing = -1), for np.lexsort."""
    try:
        codes, _ = pd.factorize(series, sort=True)
    except TypeError:  # object column mixing types: order by repr instead
        codes, _ = pd.factorize(series.map(repr), sort=True)
    return codes


def _canonical_rows(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    cols = keys + sorted(c for c in df.columns if c not in keys)
    order = (np.lexsort([_sort_codes(df[c]) for c in reversed(cols)]) if len(df)
             else np.arange(0))
    return df.iloc[order][sorted(df.columns)].reset_index(drop=True)


def _table_differences(name: str, a: pd.DataFrame, b: pd.DataFrame, keys: list[str],
                       check_order: bool, check_dtype: bool) -> list[str]:
    if set(a.columns) != set(b.columns):
        only_a = [c for c in a.columns if c not in b.columns]
        only_b = [c for c in b.columns if c not in a.columns]
        return [f"{name}: columns only in first {only_a}, only in second {only_b}"]
    out = []
    if check_order and list(a.columns) != list(b.columns):
        out.append(f"{name}: column order {list(a.columns)} vs {list(b.columns)}")
    if check_dtype:
        for col in a.columns:
            if str(a[col].dtype) != str(b[col].dtype):
                out.append(f"{name}: column {col!r} dtype {a[col].dtype} vs {b[col].dtype}")
    if len(a) != len(b):
        return out + [f"{name}: {len(a)} rows vs {len(b)}"]
    if check_order:
        a, b = a.reset_index(drop=True), b[list(a.columns)].reset_index(drop=True)
    else:
        a, b = _canonical_rows(a, keys), _canonical_rows(b, keys)
    try:
        pd.testing.assert_frame_equal(a, b, check_dtype=False, check_exact=True,
                                      check_index_type=False)
    except AssertionError as err:
        out.append(f"{name}: values differ: {' '.join(str(err).split())}")
    return out


def _json_normal(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def kg_differences(a: KnowledgeGraph, b: KnowledgeGraph, *, check_order: bool = False,
                   check_dtype: bool = True, check_metadata: bool = True) -> list[str]:
    """Human-readable differences between two graphs (empty when equal).

    Args:
        a: First graph.
        b: Second graph.
        check_order: Also require the same row and column order.
        check_dtype: Require identical column dtypes (``string`` vs ``str`` differ).
        check_metadata: Compare metadata after a JSON round trip (tuples == lists).

    Returns:
        One line per difference found.
    """
    out = _table_differences("concepts", a.concepts, b.concepts, ["id"],
                             check_order, check_dtype)
    out += _table_differences("relations", a.relations, b.relations,
                              ["source", "relation", "target"], check_order, check_dtype)
    if check_metadata and _json_normal(a.metadata) != _json_normal(b.metadata):
        out.append(f"metadata: {_json_normal(a.metadata)[:300]} vs "
                   f"{_json_normal(b.metadata)[:300]}")
    return out


def kg_equal(a: KnowledgeGraph, b: KnowledgeGraph, **options: Any) -> bool:
    """True when :func:`kg_differences` finds nothing (same options)."""
    return not kg_differences(a, b, **options)


def assert_kg_equal(a: KnowledgeGraph, b: KnowledgeGraph, **options: Any) -> None:
    """Raises ``AssertionError`` listing the differences (for tests).

    Examples:
        >>> from ontologies.schema import make_concepts
        >>> from kg.graph import KnowledgeGraph
        >>> a = KnowledgeGraph(make_concepts(["A:1"], ["a"], "disease"))
        >>> b = KnowledgeGraph(make_concepts(["A:1"], ["a"], "disease", depth=1))
        >>> assert_kg_equal(a, b)
        Traceback (most recent call last):
        ...
        AssertionError: knowledge graphs differ:
        concepts: columns only in first [], only in second ['depth']
    """
    diffs = kg_differences(a, b, **options)
    if diffs:
        raise AssertionError("knowledge graphs differ:\n" + "\n".join(diffs))
