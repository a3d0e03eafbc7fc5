"""build_kg: several code systems, cross-maps as edges or merged, duplicate concepts."""

from __future__ import annotations

import logging

import pandas as pd
import pytest

from kg.build import build_kg, exact_one_to_one
from kg.graph import KnowledgeGraph
from ontologies.errors import (
    ConfigError,
    DataNotFoundError,
    SchemaError,
    UnknownCodeError,
    UnknownNameError,
)
from ontologies.schema import CodeSystemTables, make_concepts, make_relations


@pytest.fixture(scope="module")
def gem() -> pd.DataFrame:
    """GEM-like ICD-9 -> ICD-10 rows: 1:1 exact, 1:1 approximate, outside, 1:2."""
    return make_relations(
        ["ICD9CM:250.00", "ICD9CM:250.01", "ICD9CM:999.9", "ICD9CM:401.9", "ICD9CM:401.9"],
        "maps_to",
        ["ICD10CM:E11.9", "ICD10CM:E10", "ICD10CM:T88.9", "ICD10CM:E11", "ICD10CM:E10"],
        provenance="gem",
        approximate=[False, True, False, False, False])


def test_edges_keep_every_vocabulary(tiny_icd9, tiny_icd10, gem, caplog):
    with caplog.at_level(logging.INFO, logger="kg.build"):
        kg = build_kg(tiny_icd9, tiny_icd10, crossmaps=[gem])
    assert len(kg) == len(tiny_icd9.concepts) + len(tiny_icd10.concepts) - 0
    maps = kg.relations[kg.relations["relation"] == "maps_to"]
    assert len(maps) == 4  # the row pointing at ICD10CM:T88.9 (not loaded) is dropped
    assert "ICD9CM:999.9" not in set(maps["source"])
    assert "dropped 1 mapping row(s)" in caplog.text
    assert bool(maps["approximate"].iloc[1]) is True  # extra map columns survive
    assert kg.metadata["sources"] == {"icd9cm": {"version": "v32"},
                                      "icd10cm": {"version": "demo"}}
    assert kg.metadata["crossmaps"] == [{"name": "crossmap0", "rows": 4,
                                         "dropped_dangling": 1}]
    assert kg.metadata["link"] == "edges"
    # relations of the systems themselves are untouched
    assert (kg.relations["relation"] == "is_a").sum() == (
        len(tiny_icd9.relations) + len(tiny_icd10.relations))


def test_merge_collapses_only_exact_one_to_one(tiny_icd9, tiny_icd10, gem):
    kg = build_kg(tiny_icd9, tiny_icd10, crossmaps=[gem], link="merge")
    # 250.00 -> E11.9 is exact and 1:1: merged. 250.01 -> E10 is approximate and E10
    # also receives 401.9; 401.9 maps to two targets: those stay edges.
    assert "ICD9CM:250.00" not in kg and "ICD10CM:E11.9" in kg
    assert kg.concept("ICD10CM:E11.9")["merged_ids"] == "ICD9CM:250.00"
    assert kg.concept("ICD10CM:E11")["merged_ids"] is None
    assert "ICD9CM:250.01" in kg and "ICD9CM:401.9" in kg
    rel = kg.relations
    # the merged concept's own is_a edge now starts at its target
    assert ((rel["source"] == "ICD10CM:E11.9") & (rel["target"] == "ICD9CM:250")).any()
    assert not (rel["source"] == "ICD9CM:250.00").any()
    assert not (rel["target"] == "ICD9CM:250.00").any()
    maps = rel[rel["relation"] == "maps_to"]
    assert sorted(zip(maps["source"], maps["target"])) == [
        ("ICD9CM:250.01", "ICD10CM:E10"), ("ICD9CM:401.9", "ICD10CM:E10"),
        ("ICD9CM:401.9", "ICD10CM:E11")]
    assert kg.metadata["merged_concepts"] == 1
    assert len(kg) == len(tiny_icd9.concepts) + len(tiny_icd10.concepts) - 1


def test_exact_one_to_one_rules():
    m = make_relations(
        ["A:1", "A:2", "A:3", "A:4", "A:5", "A:6", "B:6", "C:1", "C:2", "A:7"],
        ["maps_to"] * 9 + ["is_a"],
        ["B:1", "B:2", "B:2", "B:4", "B:5", "B:6", "C:6", "C:2", "C:1", "B:7"],
        probability=[1.0, 1.0, 1.0, 0.5, None, 1.0, 1.0, 1.0, 1.0, 1.0])
    m["exact"] = pd.Series([True, True, True, True, False, True, True, True, True, True],
                           dtype="boolean")
    got = exact_one_to_one(m).tolist()
    assert got == [
        True,   # A:1 -> B:1 exact 1:1
        False,  # B:2 receives two maps
        False,
        False,  # probability 0.5
        False,  # exact=False
        False,  # A:6 -> B:6 but B:6 is itself merged into C:6 (chain): stays an edge
        True,   # B:6 -> C:6
        False,  # C:1 <-> C:2 cycle: neither merged
        False,
        False,  # is_a is not a mapping relation
    ]


def test_duplicate_concepts_keep_first_and_fill(tiny_icd10, caplog):
    again = make_concepts(["ICD10CM:E11", "ICD10CM:Z00"], ["Other label", "Exam"],
                          "disease", note=["from second", None], extra=["x", "y"])
    second = CodeSystemTables("second", again, make_relations([], "is_a", []))
    with caplog.at_level(logging.INFO, logger="kg.tables"):
        kg = build_kg(tiny_icd10, second)
    assert kg.concept("ICD10CM:E11")["label"] == "Type 2 diabetes mellitus"
    assert kg.concept("ICD10CM:E11")["note"] == "common"  # first non-missing wins
    assert kg.concept("ICD10CM:E11")["extra"] == "x"     # gap filled from later input
    assert kg.concept("ICD10CM:E10")["extra"] is None
    assert "1 id(s) occur more than once" in caplog.text
    assert len(kg) == len(tiny_icd10.concepts) + 1


def test_extra_relations_and_classmethod(tiny_icd9, tiny_icd10, gem):
    extra = make_relations(["ICD10CM:E11"], "comorbid_with", ["ICD9CM:401.9"],
                           probability=0.4)
    a = build_kg(tiny_icd9, tiny_icd10, crossmaps=[gem], relations=[extra],
                 metadata={"built_for": "test"})
    b = KnowledgeGraph.from_ontologies(tiny_icd9, tiny_icd10, crossmaps=[gem],
                                       relations=[extra], metadata={"built_for": "test"})
    assert a.equals(b, check_order=True)
    assert a.metadata["built_for"] == "test"
    assert "comorbid_with" in a.relation_types


def test_crossmap_as_code_system_fills_provenance(tiny_icd9, tiny_icd10):
    xref = CodeSystemTables("snomed_map", make_concepts([], [], "disease"),
                            make_relations(["ICD9CM:401.9"], "maps_to", ["ICD10CM:E11"]),
                            {"release": "invented"})
    kg = build_kg(tiny_icd9, tiny_icd10, crossmaps=[xref])
    maps = kg.relations[kg.relations["relation"] == "maps_to"]
    assert maps["provenance"].tolist() == ["snomed_map"]
    assert kg.metadata["crossmaps"][0]["metadata"] == {"release": "invented"}


def test_bad_inputs_are_named(tiny_icd9, tiny_icd10, gem):
    with pytest.raises(ConfigError, match="link='collapse'"):
        build_kg(tiny_icd10, link="collapse")
    with pytest.raises(SchemaError, match="input 1 is a DataFrame"):
        build_kg(tiny_icd10, gem)
    with pytest.raises(ConfigError, match="at least one code system"):
        build_kg()
    with pytest.raises(UnknownCodeError,
                       match=r"'ICD9CM:999.9'.*crossmap0 crossmap row 2 source, 1 such"):
        build_kg(tiny_icd9, tiny_icd10, crossmaps=[gem], crossmap_dangling="raise")
    bad = CodeSystemTables("broken", make_concepts(["X:1"], ["x"], "disease"),
                           make_relations(["X:1"], "is_a", ["X:2"]))
    with pytest.raises(UnknownCodeError, match="X:2"):
        build_kg(tiny_icd10, bad)
    typo = CodeSystemTables("typo", make_concepts(["X:1"], ["x"], "diseases"),
                            make_relations([], "is_a", []))
    with pytest.raises(SchemaError, match="typo concepts: semantic_type 'diseases'"):
        build_kg(typo)


def test_crossmap_dangling_keep(tiny_icd9, tiny_icd10, gem):
    kg = build_kg(tiny_icd9, tiny_icd10, crossmaps=[gem], crossmap_dangling="keep")
    assert ((kg.relations["target"] == "ICD10CM:T88.9")).sum() == 1
    assert kg.stats()["dangling"] == 1


@pytest.mark.slow
def test_real_icd10cm_if_available():
    """Integration: the real ICD-10-CM reader (skipped until it is implemented)."""
    import ontologies

    try:
        icd10 = ontologies.load("icd10cm")
    except (UnknownNameError, DataNotFoundError, NotImplementedError) as err:
        pytest.skip(f"icd10cm reader not available yet: {err}")
    kg = build_kg(icd10)
    assert len(kg) == len(icd10.concepts) > 10_000
    assert kg.stats()["dangling"] == 0
    code = "ICD10CM:E11.9" if "ICD10CM:E11.9" in kg else kg.ids[-1]
    parents = kg.ancestors(code)
    assert parents, f"{code} has no is_a ancestors"
    assert code in kg.descendants(parents[-1])
