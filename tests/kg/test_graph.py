"""KnowledgeGraph: validation errors, lookups, immutability, new graphs, equality."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
from kg_tables import IDS, tiny_concepts, tiny_relations

from kg.compare import assert_kg_equal, kg_differences, kg_equal
from kg.graph import KnowledgeGraph
from ontologies.errors import (
    ConfigError,
    DuplicateIdError,
    MedKGError,
    SchemaError,
    UnknownCodeError,
)
from ontologies.schema import make_concepts, make_relations


def test_tables_are_canonical(tiny_kg):
    assert len(tiny_kg) == len(IDS)
    assert tiny_kg.n_relations == 11
    assert list(tiny_kg.concepts.columns[:5]) == ["id", "code", "label", "semantic_type",
                                                  "system"]
    assert str(tiny_kg.concepts["depth"].dtype) == "Int64"  # extra columns keep dtypes
    assert str(tiny_kg.relations["probability"].dtype) == "float64"
    assert tiny_kg.node_types == ["category", "disease", "other", "phenotype"]
    assert tiny_kg.relation_types == ["has_phenotype", "is_a", "maps_to", "related_to"]
    assert tiny_kg.systems == ["HP", "ICD10CM", "ICD9CM", "LOCAL"]


def test_object_id_columns_are_cast_to_string():
    df = pd.DataFrame({"id": ["A:1"], "code": ["1"], "label": ["a"],
                       "semantic_type": ["disease"], "system": ["A"]}).astype(object)
    kg = KnowledgeGraph(df)
    assert str(kg.concepts["id"].dtype) == "string"
    assert kg.n_relations == 0 and list(kg.relations.columns)[:3] == ["source", "relation",
                                                                      "target"]


def test_duplicate_id_names_the_id():
    c = make_concepts(["A:1", "A:2", "A:1"], ["a", "b", "c"], "disease")
    with pytest.raises(DuplicateIdError, match=r"'A:1' \(rows 0, 2\)"):
        KnowledgeGraph(c)


def test_dangling_relation_names_ids_and_rows():
    c = make_concepts(["A:1", "A:2"], ["a", "b"], "disease")
    r = make_relations(["A:1", "A:1", "A:9"], "is_a", ["A:2", "B:7", "A:1"])
    with pytest.raises(UnknownCodeError) as err:
        KnowledgeGraph(c, r)
    message = str(err.value)
    assert "'B:7'" in message and "row 1 target" in message
    assert "row 2 source 'A:9'" in message and "2 relation(s)" in message
    assert isinstance(err.value, KeyError) and isinstance(err.value, MedKGError)


def test_dangling_drop_logs_and_keep_keeps(caplog):
    c = make_concepts(["A:1", "A:2"], ["a", "b"], "disease")
    r = make_relations(["A:1", "A:1", "A:9"], "is_a", ["A:2", "B:7", "A:1"])
    with caplog.at_level(logging.INFO, logger="kg.graph"):
        dropped = KnowledgeGraph(c, r, on_dangling="drop")
    assert dropped.n_relations == 1
    assert "dropped 2 relation(s)" in caplog.text
    kept = KnowledgeGraph(c, r, on_dangling="keep")
    assert kept.n_relations == 3
    src, tgt = kept.edge_index()
    assert src.tolist() == [0, 0, -1] and tgt.tolist() == [1, -1, 0]


def test_bad_policy_is_a_config_error():
    with pytest.raises(ConfigError, match="on_dangling='ignore'"):
        KnowledgeGraph(tiny_concepts(), on_dangling="ignore")


def test_unknown_semantic_type_named():
    c = make_concepts(["A:1"], ["a"], "illness")
    with pytest.raises(SchemaError, match="semantic_type 'illness' at row 0"):
        KnowledgeGraph(c)


def test_attribute_out_of_range_named():
    c = make_concepts(["A:1", "A:2"], ["a", "b"], "disease")
    r = make_relations(["A:1"], "is_a", ["A:2"], severity=1.5)
    with pytest.raises(SchemaError, match="severity 1.5 at row 0"):
        KnowledgeGraph(c, r)


def test_non_numeric_attribute_named():
    c = make_concepts(["A:1", "A:2"], ["a", "b"], "disease")
    r = make_relations(["A:1"], "is_a", ["A:2"])
    r["frequency"] = pd.Series(["often"], dtype=object)
    with pytest.raises(SchemaError, match="frequency 'often' at row 0"):
        KnowledgeGraph(c, r)


def test_missing_column_and_bad_predicate():
    c = tiny_concepts().drop(columns="label")
    with pytest.raises(SchemaError, match=r"missing columns \['label'\]"):
        KnowledgeGraph(c)
    c = make_concepts(["A:1", "A:2"], ["a", "b"], "disease")
    with pytest.raises(SchemaError, match="relation 'Is-A'"):
        KnowledgeGraph(c, make_relations(["A:1"], "Is-A", ["A:2"]))
    with pytest.raises(SchemaError, match="expected a pandas DataFrame"):
        KnowledgeGraph([("A:1", "a")])


def test_index_of_is_vectorised_and_lists_unknown(tiny_kg):
    ids = ["ICD10CM:E11.9", "HP:0003074", "ICD10CM:E00-E89"]
    idx = tiny_kg.index_of(ids)
    assert idx.dtype == np.int64
    assert tiny_kg.ids_of(idx).tolist() == ids
    assert tiny_kg.index_of(pd.Series(ids)).tolist() == idx.tolist()
    assert tiny_kg.index_of("ICD10CM:E10").tolist() == [2]
    with pytest.raises(UnknownCodeError, match=r"2 unknown: 'X:1', 'Y:2'"):
        tiny_kg.index_of(["ICD10CM:E11", "X:1", "Y:2", "X:1"])
    with pytest.raises(UnknownCodeError, match=r"row index in \[0, 13\)"):
        tiny_kg.ids_of([0, 13])


def test_concept_contains_len_repr(tiny_kg):
    row = tiny_kg.concept("ICD10CM:E11")
    assert row["label"] == "Type 2 diabetes mellitus"
    assert row["depth"] == 3 and row["billable"] is False and row["note"] == "common"
    assert tiny_kg.concept("ICD10CM:E08-E13")["note"] is None  # missing -> None
    assert "ICD10CM:E11" in tiny_kg and "ICD10CM:E99" not in tiny_kg and 5 not in tiny_kg
    assert repr(tiny_kg).startswith("KnowledgeGraph(concepts=13, relations=11,")
    with pytest.raises(UnknownCodeError):
        tiny_kg.concept("ICD10CM:E99")


def test_tables_handed_out_do_not_alias(tiny_kg):
    concepts = tiny_kg.concepts
    concepts.loc[0, "label"] = "changed"
    concepts["new"] = 1
    meta = tiny_kg.metadata
    meta["note"] = "changed"
    assert tiny_kg.concepts.loc[0, "label"] == "Endocrine diseases"
    assert "new" not in tiny_kg.concepts.columns
    assert tiny_kg.metadata["note"] == "unit-test graph"


def test_metadata_is_json_normalised():
    from pathlib import PurePosixPath
    kg = KnowledgeGraph(tiny_concepts(), metadata={"files": (PurePosixPath("x.txt"),),
                                                   "n": np.int64(2)})
    assert kg.metadata == {"files": ["x.txt"], "n": 2}


def test_add_concepts_and_relations_return_new_graphs(tiny_kg):
    more = make_concepts(["NEW:1"], ["new"], "drug", depth=pd.Series([9], dtype="Int64"))
    bigger = tiny_kg.add_concepts(more)
    assert len(bigger) == len(tiny_kg) + 1 and len(tiny_kg) == len(IDS)
    assert bigger.concept("NEW:1")["billable"] is None  # absent column -> missing
    assert str(bigger.concepts["billable"].dtype) == "boolean"
    linked = bigger.add_relations(make_relations(["NEW:1"], "treats", ["ICD10CM:E11"]))
    assert linked.n_relations == tiny_kg.n_relations + 1
    assert "treats" not in tiny_kg.relation_types
    with pytest.raises(DuplicateIdError, match="ICD10CM:E11"):
        tiny_kg.add_concepts(make_concepts(["ICD10CM:E11"], ["again"], "disease"))
    with pytest.raises(UnknownCodeError, match="NOPE:1"):
        tiny_kg.add_relations(make_relations(["NOPE:1"], "is_a", ["ICD10CM:E11"]))


def test_merge_keeps_first_fills_gaps_and_dedupes(caplog):
    a = KnowledgeGraph(make_concepts(["A:1", "A:2"], ["a", None], "disease"),
                       make_relations(["A:1"], "is_a", ["A:2"]),
                       {"sources": {"a": 1}, "who": "a"})
    b = KnowledgeGraph(make_concepts(["A:2", "B:1"], ["two", "b"], "disease",
                                     rank=[5, 6]),
                       make_relations(["B:1"], "is_a", ["A:2"]),
                       {"sources": {"b": 2}, "who": "b"})
    b2 = b.add_relations(make_relations(["A:2"], "is_a", ["B:1"]))
    with caplog.at_level(logging.INFO):
        m = a.merge(b2).merge(a)
    assert m.ids.tolist() == ["A:1", "A:2", "B:1"]
    assert m.concept("A:2")["label"] == "two"  # gap filled from the later graph
    assert m.concept("A:2")["rank"] == 5
    assert m.n_relations == 3  # A:1 is_a A:2 appears twice but is kept once
    assert m.metadata == {"sources": {"a": 1, "b": 2}, "who": "a"}
    assert "duplicate relation" in caplog.text


def test_equality_options(tiny_kg):
    same = KnowledgeGraph(tiny_concepts().iloc[::-1], tiny_relations().iloc[::-1],
                          tiny_kg.metadata)
    assert kg_equal(tiny_kg, same) and tiny_kg.equals(same)
    assert not kg_equal(tiny_kg, same, check_order=True)
    assert not tiny_kg.equals("not a graph")
    other = tiny_concepts()
    other.loc[3, "weight"] = 0.3  # 0.30000000000000004 before: exact comparison
    diffs = kg_differences(tiny_kg, KnowledgeGraph(other, tiny_relations(),
                                                   tiny_kg.metadata))
    assert len(diffs) == 1 and "weight" in diffs[0]
    retyped = KnowledgeGraph(tiny_concepts().astype({"note": "str"}), tiny_relations(),
                             tiny_kg.metadata)
    assert "dtype string vs str" in " ".join(kg_differences(tiny_kg, retyped))
    assert kg_equal(tiny_kg, retyped, check_dtype=False)
    with pytest.raises(AssertionError, match="metadata"):
        assert_kg_equal(tiny_kg, KnowledgeGraph(tiny_concepts(), tiny_relations()))
