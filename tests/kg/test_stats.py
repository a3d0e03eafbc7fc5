"""stats/format_stats on the tiny graph."""

from __future__ import annotations

import re

from kg_tables import tiny_concepts

from kg.graph import KnowledgeGraph
from kg.stats import format_stats, stats
from ontologies.schema import make_relations


def test_counts(tiny_kg):
    s = stats(tiny_kg)
    assert s["n_concepts"] == 13 and s["n_relations"] == 11 and s["dangling"] == 0
    assert s["by_semantic_type"] == {"disease": 6, "category": 4, "other": 2,
                                     "phenotype": 1}
    assert s["by_system"] == {"ICD10CM": 8, "ICD9CM": 2, "HP": 1, "LOCAL": 2}
    assert s["by_relation"] == {"is_a": 7, "has_phenotype": 2, "maps_to": 1,
                                "related_to": 1}
    # roots have children but no parent: E00-E89, S00-T88, ICD9CM:250
    assert s["is_a_roots"] == 3
    # leaves have a parent but no child: E10, E11.9, E11.65, S00.00XA, 250.00
    assert s["is_a_leaves"] == 5
    assert s["outside_is_a"] == 3  # HP and the two LOCAL concepts
    assert s["concept_attributes"] == ["depth", "billable", "weight", "note"]
    assert s["relation_attributes"] == ["evidence"]
    assert tiny_kg.stats() == s


def test_ties_ordered_by_name(tiny_kg):
    assert list(stats(tiny_kg)["by_system"]) == ["ICD10CM", "ICD9CM", "LOCAL", "HP"]


def test_dangling_counted():
    c = tiny_concepts()
    r = make_relations(["ICD10CM:E11", "ICD10CM:E11"], "is_a", ["ICD10CM:E08-E13", "X:1"])
    assert stats(KnowledgeGraph(c, r, on_dangling="keep"))["dangling"] == 1


def test_format_is_aligned(tiny_kg):
    text = format_stats(stats(tiny_kg))
    lines = text.splitlines()
    assert lines[0].split() == ["concepts", "13"]
    numeric = [line for line in lines if re.search(r"\s\d+$", line)]
    assert len(numeric) == 6 + 4 + 4 + 4
    assert len({len(line) for line in numeric}) == 1  # numbers right-aligned in one column
    assert "semantic_type" in lines and "relation" in lines
    assert "  has_phenotype" in text
    assert any(line.startswith("concept attributes") and line.endswith(
        "depth, billable, weight, note") for line in lines)
