"""Summary counts of a knowledge graph and their aligned text rendering (for the CLI).

Examples:
    >>> from ontologies.schema import make_concepts, make_relations
    >>> from kg.graph import KnowledgeGraph
    >>> kg = KnowledgeGraph(
    ...     make_concepts(["A:1", "A:2", "A:3", "B:1"], list("abcd"),
    ...                   ["category", "disease", "disease", "drug"]),
    ...     make_relations(["A:2", "A:3", "B:1"], ["is_a", "is_a", "treats"],
    ...                    ["A:1", "A:1", "A:2"]))
    >>> s = stats(kg)
    >>> s["n_concepts"], s["is_a_roots"], s["is_a_leaves"], s["by_relation"]
    (4, 1, 2, {'is_a': 2, 'treats': 1})
    >>> print(format_stats(s))
    concepts              4
    relations             3
    dangling relations    0
    is_a roots            1
    is_a leaves           2
    outside is_a          1
    <BLANKLINE>
    semantic_type
      disease             2
      category            1
      drug                1
    <BLANKLINE>
    system
      A                   3
      B                   1
    <BLANKLINE>
    relation
      is_a                2
      treats              1
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from kg.graph import KnowledgeGraph
from ontologies.schema import CONCEPT_COLUMNS, RELATION_COLUMNS

__all__ = ["stats", "format_stats"]


def _counts(series: pd.Series) -> dict[str, int]:
    # Most frequent first, ties by name, so the output is stable.
    counts = series.fillna("<missing>").astype(str).value_counts()
    order = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return {str(k): int(v) for k, v in order}


def stats(kg: KnowledgeGraph, hierarchy: str = "is_a") -> dict[str, Any]:
    """Counts describing the graph.

    Args:
        kg: The graph.
        hierarchy: Relation whose roots and leaves are counted.

    Returns:
        ``n_concepts``, ``n_relations``, ``dangling`` (relations whose source or target
        is not a concept), ``<hierarchy>_roots`` (concepts with a child but no parent),
        ``<hierarchy>_leaves`` (a parent but no child), ``outside_<hierarchy>`` (neither),
        ``by_semantic_type``, ``by_system``, ``by_relation`` (name -> count, most frequent
        first) and the extra attribute columns of both tables.
    """
    src, tgt = kg.edge_index()
    rel = kg._relations["relation"].to_numpy(dtype=object)
    ok = (src >= 0) & (tgt >= 0)
    h = ok & (rel == hierarchy)
    n = len(kg)
    has_parent = np.bincount(src[h], minlength=n) > 0
    has_child = np.bincount(tgt[h], minlength=n) > 0
    concepts, relations = kg._concepts, kg._relations
    return {
        "n_concepts": n,
        "n_relations": len(relations),
        "dangling": int((~ok).sum()),
        f"{hierarchy}_roots": int((has_child & ~has_parent).sum()),
        f"{hierarchy}_leaves": int((has_parent & ~has_child).sum()),
        f"outside_{hierarchy}": int((~has_parent & ~has_child).sum()),
        "by_semantic_type": _counts(concepts["semantic_type"]),
        "by_system": _counts(concepts["system"]),
        "by_relation": _counts(relations["relation"]),
        "concept_attributes": [c for c in concepts.columns if c not in CONCEPT_COLUMNS],
        "relation_attributes": [c for c in relations.columns if c not in RELATION_COLUMNS],
    }


_LABELS = {"n_concepts": "concepts", "n_relations": "relations",
           "dangling": "dangling relations"}
_GROUPS = {"by_semantic_type": "semantic_type", "by_system": "system",
           "by_relation": "relation"}


def format_stats(summary: dict[str, Any]) -> str:
    """Renders :func:`stats` output as an aligned two-column text table.

    Scalar counts come first, then one indented block per breakdown; list entries
    (attribute column names) are listed only when non-empty.
    """
    rows: list[tuple[str, str]] = []
    blocks: list[tuple[str, list[tuple[str, str]]]] = []
    for key, value in summary.items():
        if isinstance(value, dict):
            blocks.append((_GROUPS.get(key, key),
                           [(f"  {k}", str(v)) for k, v in value.items()]))
        elif isinstance(value, list):
            if value:
                rows.append((key.replace("_", " "), ", ".join(map(str, value))))
        else:
            if key in _LABELS:
                label = _LABELS[key]
            elif key.startswith("outside_"):
                label = "outside " + key[len("outside_"):]
            elif key.endswith(("_roots", "_leaves")):
                head, _, tail = key.rpartition("_")
                label = f"{head} {tail}"
            else:
                label = key.replace("_", " ")
            rows.append((label, str(value)))
    every = rows + [(title, "") for title, _ in blocks] + [r for _, b in blocks for r in b]
    left = max((len(k) for k, _ in every), default=0)
    right = max((len(v) for _, v in every if v.isdigit()), default=0)

    def line(k: str, v: str) -> str:
        return f"{k:<{left}}  {v:>{right}}" if v.isdigit() else f"{k:<{left}}  {v}".rstrip()

    out = [line(k, v) for k, v in rows]
    for title, block in blocks:
        out += ["", title] + [line(k, v) for k, v in block]
    return "\n".join(out)
