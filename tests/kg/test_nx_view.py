"""networkx view: attributes, keys, exact round trips, GraphML/GEXF files."""

from __future__ import annotations

import math

import networkx as nx
import pandas as pd
import pytest
from kg_tables import tiny_concepts

import kg.nx_view as nx_view
from kg.compare import assert_kg_equal
from kg.graph import KnowledgeGraph
from kg.nx_view import from_networkx, read_graphml, to_networkx, write_gexf, write_graphml
from ontologies.errors import DataNotFoundError, ParseError, SchemaError
from ontologies.schema import make_relations


def test_nodes_and_edges_carry_all_columns(tiny_kg):
    G = to_networkx(tiny_kg)
    assert isinstance(G, nx.MultiDiGraph)
    assert G.number_of_nodes() == 13 and G.number_of_edges() == 11
    e11 = G.nodes["ICD10CM:E11"]
    assert e11 == {"code": "E11", "label": "Type 2 diabetes mellitus",
                   "semantic_type": "disease", "system": "ICD10CM", "depth": 3,
                   "billable": False, "weight": 0.1 + 0.2, "note": "common"}
    assert type(e11["depth"]) is int and type(e11["billable"]) is bool
    assert "note" not in G.nodes["ICD10CM:E08-E13"]  # missing values are omitted
    assert "depth" not in G.nodes["HP:0003074"]
    assert math.isinf(G.nodes["ICD10CM:E11.9"]["weight"])


def test_edge_keys_are_relations_and_duplicates_survive(tiny_kg):
    G = to_networkx(tiny_kg)
    edges = G.get_edge_data("ICD10CM:E11.65", "HP:0003074")
    assert set(edges) == {"has_phenotype", "has_phenotype#1"}
    first = edges["has_phenotype"]
    assert first == {"relation": "has_phenotype", "probability": 0.3, "frequency": 0.8,
                     "severity": 0.5, "provenance": "hpo", "evidence": "PMID:1"}
    assert edges["has_phenotype#1"] == {"relation": "has_phenotype", "frequency": 0.75,
                                        "provenance": "curated"}
    assert G.graph["medkg_metadata"] == tiny_kg.metadata
    assert G.graph["medkg_dangling_nodes"] == []


def test_round_trip_is_exact(tiny_kg):
    back = from_networkx(to_networkx(tiny_kg))
    assert_kg_equal(back, tiny_kg)
    # concepts keep their order; relations may be regrouped by source
    assert back.ids.tolist() == tiny_kg.ids.tolist()
    assert tiny_kg.from_networkx(tiny_kg.to_networkx()).equals(tiny_kg)


def test_round_trip_with_dangling_kept():
    r = make_relations(["ICD10CM:E11", "ICD10CM:E11"], "is_a", ["ICD10CM:E08-E13", "X:1"])
    kg = KnowledgeGraph(tiny_concepts(), r, on_dangling="keep")
    G = to_networkx(kg)
    assert G.graph["medkg_dangling_nodes"] == ["X:1"]
    assert_kg_equal(from_networkx(G, on_dangling="keep"), kg)


def test_hand_made_graph():
    G = nx.DiGraph()
    G.add_node("HP:0001250", label="Seizure", semantic_type="phenotype", onset=3)
    G.add_node("HP:0000118", label="Phenotypic abnormality", semantic_type="phenotype")
    G.add_edge("HP:0001250", "HP:0000118", relation="is_a", frequency="0.5")
    kg = from_networkx(G)
    assert kg.concept("HP:0001250") == {"id": "HP:0001250", "code": "0001250",
                                        "label": "Seizure", "semantic_type": "phenotype",
                                        "system": "HP", "onset": 3}
    assert str(kg.concepts["onset"].dtype) == "Int64"
    assert kg.relations["frequency"].tolist() == [0.5]
    G.add_edge("HP:0000118", "HP:0001250")  # no relation name anywhere
    with pytest.raises(SchemaError, match="'HP:0000118' -> 'HP:0001250' has no 'relation'"):
        from_networkx(G)


def test_graphml_round_trip(tiny_kg, tmp_path):
    path = tmp_path / "kg.graphml"
    write_graphml(tiny_kg, path)
    text = path.read_text()
    assert 'attr.name="probability" attr.type="double"' in text
    assert_kg_equal(read_graphml(path), tiny_kg)


def test_graphml_stringifies_object_columns(tmp_path):
    c = tiny_concepts()
    c["tags"] = pd.Series([["a", "b"]] + [None] * (len(c) - 1), dtype=object)
    kg = KnowledgeGraph(c)
    write_graphml(kg, tmp_path / "kg.graphml")
    back = read_graphml(tmp_path / "kg.graphml")
    assert back.concept("ICD10CM:E00-E89")["tags"] == '["a", "b"]'


def test_graphml_errors(tmp_path):
    with pytest.raises(DataNotFoundError, match="no-such.graphml"):
        read_graphml(tmp_path / "no-such.graphml")
    bad = tmp_path / "bad.graphml"
    bad.write_text("<graphml><graph><node id='x'></graph>")
    with pytest.raises(ParseError, match="bad.graphml"):
        read_graphml(bad)


def test_gexf_export(tiny_kg, tmp_path):
    path = tmp_path / "kg.gexf"
    write_gexf(tiny_kg, path)
    G = nx.read_gexf(path)
    assert G.number_of_nodes() == 13 and G.number_of_edges() == 11
    assert G.nodes["ICD10CM:E11"]["label"] == "Type 2 diabetes mellitus"


def test_graphml_write_is_atomic(tiny_kg, tmp_path, monkeypatch):
    path = tmp_path / "kg.graphml"
    write_graphml(tiny_kg, path)
    before = path.read_bytes()

    def broken(G, handle, **kwargs):
        handle.write(b"<graphml>half")
        raise OSError("disk full")

    monkeypatch.setattr(nx_view.nx, "write_graphml", broken)
    with pytest.raises(OSError, match="disk full"):
        write_graphml(tiny_kg, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["kg.graphml"]
