"""The rdflib-based OWL/RDF/SKOS reader: three serialisations of one vocabulary, XML safety."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pandas as pd
import pytest

import ontologies
from ontologies.errors import ConfigError, DataNotFoundError, ParseError
from ontologies.rdf import CurieMaker, guess_format, read_rdf

RDF = Path(__file__).resolve().parents[1] / "fixtures" / "rdf"
EXPECTED_IDS = ["MONDO:0000001", "MONDO:0005015", "MONDO:0005148", "UBERON:0000468",
                "UBERON:0001264", "demo:Cough", "demo:Fever", "demo:Symptom", "terms:Nausea"]
EXPECTED_EDGES = {
    ("MONDO:0005015", "is_a", "MONDO:0000001"), ("MONDO:0005148", "is_a", "MONDO:0005015"),
    ("MONDO:0005148", "has_finding_site", "UBERON:0001264"),
    ("UBERON:0001264", "part_of", "UBERON:0000468"), ("demo:Fever", "is_a", "demo:Symptom"),
    ("demo:Cough", "is_a", "demo:Symptom"), ("terms:Nausea", "is_a", "demo:Symptom"),
}


@pytest.fixture(scope="session")
def turtle():
    return ontologies.load("rdf", path=RDF / "mini.ttl")


def edges(tables):
    rel = tables.relations
    return set(zip(rel["source"], rel["relation"], rel["target"]))


@pytest.mark.parametrize("name", ["mini.ttl", "mini.owl", "mini.nt"])
def test_same_tables_from_every_serialisation(turtle, name):
    tables = read_rdf(RDF / name)
    assert tables.concepts["id"].tolist() == EXPECTED_IDS
    assert edges(tables) == EXPECTED_EDGES
    pd.testing.assert_frame_equal(tables.concepts, turtle.concepts)


def test_labels_prefer_language_and_preflabel(turtle):
    labels = dict(zip(turtle.concepts["id"], turtle.concepts["label"]))
    assert labels["MONDO:0000001"] == "disease"  # @en over @fr
    assert labels["demo:Cough"] == "Cough"  # skos:prefLabel@en-GB over rdfs:label
    assert pd.isna(labels["terms:Nausea"])
    french = read_rdf(RDF / "mini.ttl", language="fr").concepts.set_index("id")
    assert french.loc["MONDO:0000001", "label"] == "maladie"


def test_synonyms_and_definitions(turtle):
    rows = turtle.concepts.set_index("id")
    assert rows.loc["MONDO:0005148", "synonyms"] == "T2DM"  # the @fr altLabel is left out
    assert rows.loc["MONDO:0005015", "synonyms"] == "DM"  # oboInOwl:hasExactSynonym
    assert rows.loc["MONDO:0005015", "definition"].startswith("Invented definition")
    assert rows.loc["demo:Fever", "definition"] == "Invented: raised body temperature."


def test_semantic_types(turtle):
    kinds = dict(zip(turtle.concepts["id"], turtle.concepts["semantic_type"]))
    assert kinds["MONDO:0005148"] == "disease" and kinds["UBERON:0001264"] == "anatomy"
    assert kinds["demo:Fever"] == "other"
    fixed = read_rdf(RDF / "mini.ttl", semantic_type="phenotype")
    assert fixed.concepts["semantic_type"].eq("phenotype").all()
    with pytest.raises(ConfigError):
        read_rdf(RDF / "mini.ttl", semantic_type="thing")


def test_restrictions_thing_and_deprecated(turtle):
    assert turtle.metadata["n_blank_superclasses_skipped"] == 1  # the allValuesFrom one
    assert not turtle.concepts["iri"].str.endswith("owl#Thing").any()
    assert "demo:OldThing" not in set(turtle.concepts["id"])
    kept = read_rdf(RDF / "mini.ttl", keep_deprecated=True)
    assert ("demo:OldThing", "is_a", "MONDO:0000001") in edges(kept)


def test_curies_expand_back_to_iris(turtle):
    prefixes = turtle.metadata["prefixes"]
    rebuilt = turtle.concepts["system"].map(prefixes) + turtle.concepts["code"]
    assert rebuilt.tolist() == turtle.concepts["iri"].tolist()
    assert prefixes["demo"] == "http://example.org/medkg/demo#"  # the file's ':' prefix
    assert turtle.metadata["version"] == "2024-01-01"
    assert turtle.metadata["ontology"] == "http://example.org/medkg/demo"


def test_user_prefixes_win():
    tables = read_rdf(RDF / "mini.ttl", prefixes={"ex": "http://example.org/medkg/demo#"})
    assert "ex:Fever" in set(tables.concepts["id"])


def test_curie_maker_rules():
    make = CurieMaker(bindings={"": "http://example.org/base/onto#", "sk": "http://x.org/"})
    assert make("http://purl.obolibrary.org/obo/NCBITaxon_9606") == "NCBITaxon:9606"
    assert make("http://example.org/base/onto#A") == "onto:A"
    assert make("http://x.org/deeper/B") == "sk:deeper/B"
    assert make("urn:isbn:123") == "isbn:123"
    assert make("http://a.org/vocab/C") == "vocab:C"
    assert make("http://b.org/vocab/D") == "vocab2:D"
    assert make("http://a.org/vocab/C") == "vocab:C"  # stable


def test_billion_laughs_is_refused_quickly():
    start = time.perf_counter()
    with pytest.raises(ParseError, match="refused unsafe XML"):
        read_rdf(RDF / "billion_laughs.owl")
    assert time.perf_counter() - start < 2.0


def test_external_entity_is_refused():
    with pytest.raises(ParseError, match="refused unsafe XML"):
        read_rdf(RDF / "external_entity.owl")


def test_malformed_turtle_reports_line():
    with pytest.raises(ParseError, match="zz:") as err:
        read_rdf(RDF / "bad.ttl")
    assert err.value.line == 5 and err.value.path.endswith("bad.ttl")


def test_malformed_xml_reports_line(tmp_path):
    path = tmp_path / "broken.owl"
    path.write_text('<?xml version="1.0"?>\n<rdf:RDF xmlns:rdf="http://www.w3.org/1999/'
                    '02/22-rdf-syntax-ns#">\n  <rdf:Description>\n</rdf:RDF>\n')
    with pytest.raises(ParseError, match="malformed XML") as err:
        read_rdf(path)
    assert err.value.line == 4


def test_format_guess_and_override(tmp_path):
    assert guess_format("x.rdf") == "xml" and guess_format("x.nt") == "nt"
    copy = tmp_path / "vocab.txt"
    shutil.copy(RDF / "mini.ttl", copy)
    with pytest.raises(ConfigError, match="format="):
        read_rdf(copy)
    assert read_rdf(copy, format="turtle").concepts["id"].tolist() == EXPECTED_IDS
    with pytest.raises(DataNotFoundError, match="missing.ttl"):
        read_rdf(tmp_path / "missing.ttl")
