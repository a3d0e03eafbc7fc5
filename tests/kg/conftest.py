"""Session-scoped fixtures of the kg tests, built from :mod:`kg_tables`.

The tables live in ``kg_tables.py`` (a uniquely named module) rather than here, so test
modules can import the builders without relying on which ``conftest`` is in
``sys.modules``.
"""

from __future__ import annotations

import pytest
from kg_tables import tiny_concepts, tiny_relations

from kg.graph import KnowledgeGraph
from ontologies.schema import CodeSystemTables, make_concepts, make_relations


@pytest.fixture(scope="session")
def tiny_kg() -> KnowledgeGraph:
    """The tiny graph with metadata (session-wide; graphs are immutable)."""
    return KnowledgeGraph(tiny_concepts(), tiny_relations(),
                          {"sources": {"tiny": {"version": "2026", "licence": "invented"}},
                           "note": "unit-test graph"})


@pytest.fixture(scope="session")
def tiny_icd10() -> CodeSystemTables:
    """An ICD-10-CM-like code system (a slice of the tiny graph)."""
    c = tiny_concepts()
    c = c[c["system"] == "ICD10CM"].reset_index(drop=True)
    r = tiny_relations()
    r = r[r["relation"].eq("is_a") & r["source"].str.startswith("ICD10CM")]
    return CodeSystemTables("icd10cm", c, r.reset_index(drop=True), {"version": "demo"})


@pytest.fixture(scope="session")
def tiny_icd9() -> CodeSystemTables:
    """An ICD-9-CM-like code system."""
    c = make_concepts(["ICD9CM:250", "ICD9CM:250.00", "ICD9CM:250.01", "ICD9CM:401.9",
                       "ICD9CM:V01"], ["DM", "DM2", "DM1", "HTN", "Contact"],
                      ["category", "disease", "disease", "disease", "disease"])
    r = make_relations(["ICD9CM:250.00", "ICD9CM:250.01"], "is_a", ["ICD9CM:250"] * 2,
                       provenance="icd9")
    return CodeSystemTables("icd9cm", c, r, {"version": "v32"})
