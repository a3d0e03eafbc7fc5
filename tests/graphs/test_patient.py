"""Per-patient subgraphs: networkx view, KG neighbourhood, paths, drawing, export."""

import networkx as nx
import pytest

from graphs.cohort.demo import tiny_kg, tiny_records
from graphs.patient import PatientGraph
from ontologies.errors import UnknownCodeError


@pytest.fixture(scope="module")
def pg():
    return PatientGraph.from_records(tiny_records(), "p1")


def test_nodes_and_time_ordered_visits(pg):
    G = pg.to_networkx()
    assert G.nodes["patient:p1"]["type"] == "patient"
    assert G.has_edge("visit:v1", "visit:v2", key="next_visit")
    assert not G.has_edge("visit:v2", "visit:v1")
    assert G.has_edge("visit:v1", "ICD10CM:E11.9", key="has_diagnosis")
    assert G.nodes["RXNORM:6809"]["label"] == "metformin"
    assert G.has_edge("visit:v2", "note:n1", key="has_note")
    assert "p2" not in " ".join(G.nodes)


def test_kg_neighbourhood_adds_ancestors_with_labels(pg):
    kg = tiny_kg()
    G = pg.to_networkx(kg)
    assert G.has_edge("ICD10CM:E11.9", "ICD10CM:E11", key="is_a")
    assert G.nodes["ICD10CM:CH04"]["type"] == "category"
    assert G.nodes["ICD10CM:E11.9"]["label"].startswith("Type 2 diabetes")


def test_paths_to_concept(pg):
    paths = pg.paths_to("ICD10CM:E11", tiny_kg())
    assert ["patient:p1", "visit:v1", "ICD10CM:E11.9", "ICD10CM:E11"] in paths
    assert ["patient:p1", "visit:v2", "ICD10CM:E11.65", "ICD10CM:E11"] in paths
    with pytest.raises(UnknownCodeError):
        pg.paths_to("ICD10CM:J45")


def test_draw_png_and_exports(pg, tmp_path):
    png = pg.draw(tmp_path / "p1.png", tiny_kg())
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    g1 = nx.read_graphml(pg.write_graphml(tmp_path / "p1.graphml", tiny_kg()))
    assert g1.number_of_nodes() == pg.to_networkx(tiny_kg()).number_of_nodes()
    g2 = nx.read_gexf(pg.write_gexf(tmp_path / "p1.gexf"))
    assert g2.number_of_edges() == pg.to_networkx().number_of_edges()


def test_unknown_patient_error_withholds_the_id():
    with pytest.raises(UnknownCodeError) as err:
        PatientGraph.from_records(tiny_records(), "secret-123")
    assert "secret-123" not in str(err.value)
