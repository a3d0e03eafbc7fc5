"""RDF view: IRIs, the triple layout, lossless Turtle round trips, SPARQL."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kg_tables import tiny_concepts
from rdflib import RDF, RDFS, XSD, Graph, Literal, URIRef
from rdflib.compare import isomorphic

from kg.compare import assert_kg_equal
from kg.graph import KnowledgeGraph
from kg.iri import (
    MEDKG,
    MEDKG_REL,
    curie_to_iri,
    curies_to_iris,
    iri_to_curie,
    iris_to_curies,
)
from kg.rdf_view import from_rdf, sparql, to_rdf, write_turtle
from ontologies.errors import (
    DataNotFoundError,
    InputError,
    ParseError,
    SchemaError,
    UnknownCodeError,
)
from ontologies.schema import make_relations

ICD10 = "http://purl.bioontology.org/ontology/ICD10CM/"


@pytest.mark.parametrize("curie, iri", [
    ("ICD10CM:S00.00XA", ICD10 + "S00.00XA"),
    ("ICD10CM:E08-E13", ICD10 + "E08-E13"),
    ("ICD9CM:250.00", "http://purl.bioontology.org/ontology/ICD9CM/250.00"),
    ("SNOMEDCT:44054006", "http://snomed.info/id/44054006"),
    ("HP:0001250", "http://purl.obolibrary.org/obo/HP_0001250"),
    ("MONDO:0005148", "http://purl.obolibrary.org/obo/MONDO_0005148"),
    ("CCSR:END002", "https://w3id.org/medkg/id/CCSR/END002"),
    ("LOCAL:a b/c", "https://w3id.org/medkg/id/LOCAL/a%20b%2Fc"),
    ("LOCAL:x#y?z", "https://w3id.org/medkg/id/LOCAL/x%23y%3Fz"),
    ("LOCAL:50%", "https://w3id.org/medkg/id/LOCAL/50%25"),
])
def test_curie_iri_both_ways(curie, iri):
    assert curie_to_iri(curie) == iri
    assert iri_to_curie(iri) == curie
    assert curies_to_iris([curie]).tolist() == [iri]


@settings(max_examples=50, deadline=None)
@given(st.text(st.characters(blacklist_categories=("Cs",)), min_size=1))
def test_any_local_part_round_trips(local):
    curie = "LOCAL:" + local
    iri = curie_to_iri(curie)
    assert all(ch.isalnum() or ch in "-._%/:" for ch in iri)
    assert iris_to_curies([iri]).tolist() == [curie]


_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)


@settings(max_examples=10, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(codes=st.lists(st.text(st.characters(blacklist_categories=("Cs", "Zs", "Zl", "Zp", "Cc")),
                              min_size=1, max_size=10), min_size=1, max_size=4, unique=True),
       labels=st.lists(_TEXT, min_size=4, max_size=4))
def test_turtle_round_trip_of_arbitrary_codes_and_labels(codes, labels, tmp_path):
    ids = [f"X:{c}" for c in codes]
    from ontologies.schema import make_concepts
    kg = KnowledgeGraph(make_concepts(ids, labels[:len(ids)], "disease"),
                        make_relations(ids[:-1], "is_a", ids[1:], provenance=labels[-1]))
    path = write_turtle(kg, tmp_path / "any.ttl")
    assert_kg_equal(from_rdf(path), kg)


def test_unknown_namespace_and_bad_curie():
    assert iris_to_curies(["http://example.org/x"]).tolist() == [None]
    with pytest.raises(SchemaError, match="http://example.org/x"):
        iri_to_curie("http://example.org/x")
    with pytest.raises(SchemaError, match="'nocolon'"):
        curie_to_iri("nocolon")


def test_triples_layout(tiny_kg):
    g = to_rdf(tiny_kg)
    e11 = URIRef(ICD10 + "E11")
    e1165 = URIRef(ICD10 + "E11.65")
    assert (e11, RDF.type, URIRef(MEDKG + "Disease")) in g
    assert (e11, RDFS.label, Literal("Type 2 diabetes mellitus")) in g
    assert (e11, URIRef(MEDKG + "code"), Literal("E11")) in g
    assert (e11, URIRef("https://w3id.org/medkg/attribute/depth"), Literal(3)) in g
    assert (e11, URIRef("https://w3id.org/medkg/attribute/billable"), Literal(False)) in g
    weight = g.value(e11, URIRef("https://w3id.org/medkg/attribute/weight"))
    assert weight.datatype == XSD.double and weight.toPython() == 0.1 + 0.2
    hp = URIRef("http://purl.obolibrary.org/obo/HP_0003074")
    assert (e1165, URIRef(MEDKG_REL + "has_phenotype"), hp) in g  # direct triple
    statements = list(g.subjects(URIRef(MEDKG + "source"), e1165))
    statements = [s for s in statements
                  if g.value(s, URIRef(MEDKG + "target")) == hp]
    assert len(statements) == 2  # one reified statement per row, duplicates kept apart
    freq = sorted(g.value(s, URIRef(MEDKG + "frequency")).toPython() for s in statements)
    assert freq == [0.75, 0.8]
    severities = [g.value(s, URIRef(MEDKG + "severity")) for s in statements]
    assert sorted(map(str, filter(None, severities))) == ["0.5"]  # NaN: no triple at all
    assert all((s, RDF.type, URIRef(MEDKG + "Relation")) in g for s in statements)
    assert g.namespace_manager.store.namespace("ICD10CM") == URIRef(ICD10)


def test_rdflib_graph_round_trip(tiny_kg):
    assert_kg_equal(from_rdf(to_rdf(tiny_kg)), tiny_kg)
    assert KnowledgeGraph.from_rdf(tiny_kg.to_rdf(store="default")).equals(tiny_kg)


def test_turtle_round_trip_loses_nothing(tiny_kg, tmp_path):
    path = write_turtle(tiny_kg, tmp_path / "kg.ttl")
    text = path.read_text()
    assert "ICD10CM:S00.00XA a medkg:Disease" in text
    assert "<https://w3id.org/medkg/id/LOCAL/a%2Fb%23c>" in text
    assert '"0.30000000000000004"^^xsd:double' in text  # full double precision
    back = from_rdf(path)
    assert_kg_equal(back, tiny_kg)
    assert back.concept("LOCAL:a/b#c")["label"] == tiny_concepts()["label"].iloc[11]
    # the file holds exactly the triples of to_rdf
    assert isomorphic(Graph().parse(path, format="turtle"), to_rdf(tiny_kg))


def test_ntriples_via_rdflib(tiny_kg, tmp_path):
    # rdflib's Turtle serializer rounds xsd:double to 7 digits (RDFLib/rdflib#1852);
    # its N-Triples serializer keeps them, so it round-trips too.
    path = tmp_path / "kg.nt"
    to_rdf(tiny_kg).serialize(destination=str(path), format="nt", encoding="utf-8")
    assert_kg_equal(from_rdf(path), tiny_kg)


def test_rdf_xml_round_trip_passes_the_safety_check(tiny_kg, tmp_path):
    # rdflib's RDF/XML writer declares no entities, so defusedxml lets it through.
    path = tmp_path / "kg.rdf"
    to_rdf(tiny_kg).serialize(destination=str(path), format="xml", encoding="utf-8")
    assert_kg_equal(from_rdf(path), tiny_kg)
    bomb = tmp_path / "bomb.rdf"
    text = path.read_text()
    bomb.write_text(text.replace("?>", '?><!DOCTYPE rdf:RDF [<!ENTITY a "aaaa">]>', 1))
    with pytest.raises(ParseError, match="bomb.rdf: refused unsafe XML"):
        from_rdf(bomb)


def test_dangling_relations_round_trip(tmp_path):
    r = make_relations(["ICD10CM:E11"], "is_a", ["ICD10CM:E99"], provenance="x")
    kg = KnowledgeGraph(tiny_concepts(), r, on_dangling="keep")
    write_turtle(kg, tmp_path / "kg.ttl")
    assert_kg_equal(from_rdf(tmp_path / "kg.ttl", on_dangling="keep"), kg)


def test_hand_written_turtle(tmp_path):
    path = tmp_path / "hand.ttl"
    path.write_text("""
@prefix medkg: <https://w3id.org/medkg/schema#> .
@prefix rel: <https://w3id.org/medkg/relation/> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
@prefix hp: <http://purl.obolibrary.org/obo/HP_> .
hp:0001250 a medkg:Phenotype ; rdfs:label "Seizure" .
hp:0000118 a medkg:Phenotype ; rdfs:label "Phenotypic abnormality"@en ;
    <https://w3id.org/medkg/attribute/rank> 2 .
hp:0001250 rel:is_a hp:0000118 .
""")
    kg = from_rdf(path)
    assert kg.ids.tolist() == ["HP:0000118", "HP:0001250"]
    assert kg.concept("HP:0001250")["code"] == "0001250"
    assert kg.concept("HP:0000118")["label"] == "Phenotypic abnormality"
    assert str(kg.concepts["rank"].dtype) == "Int64"
    assert kg.relations[["source", "relation", "target"]].values.tolist() == [
        ["HP:0001250", "is_a", "HP:0000118"]]


def test_read_errors(tmp_path):
    with pytest.raises(DataNotFoundError, match="missing.ttl"):
        from_rdf(tmp_path / "missing.ttl")
    bad = tmp_path / "bad.ttl"
    bad.write_text("<http://a> <http://b> .")
    with pytest.raises(ParseError, match="bad.ttl"):
        from_rdf(bad)
    foreign = tmp_path / "foreign.ttl"
    foreign.write_text("<http://example.org/x> a <https://w3id.org/medkg/schema#Disease> .")
    with pytest.raises(ParseError, match="'http://example.org/x' is not an IRI in a known"):
        from_rdf(foreign)
    assert from_rdf(foreign, prefixes={"EX": "http://example.org/"}).ids.tolist() == ["EX:x"]
    # errors found in the tables read, not by the parser, also name the file
    dangling = tmp_path / "dangling.ttl"
    dangling.write_text("@prefix hp: <http://purl.obolibrary.org/obo/HP_> .\n"
                        "hp:1 a <https://w3id.org/medkg/schema#Phenotype> .\n"
                        "hp:1 <https://w3id.org/medkg/relation/is_a> hp:2 .\n")
    with pytest.raises(UnknownCodeError, match="'HP:2'.*dangling.ttl"):
        from_rdf(dangling)
    assert len(from_rdf(dangling, on_dangling="keep").relations) == 1


def test_sparql_select_ask_construct(tiny_kg):
    children = sparql(tiny_kg, "SELECT ?c WHERE { ?c medkg-rel:is_a ICD10CM:E11 } ORDER BY ?c")
    assert children["c"].tolist() == ["ICD10CM:E11.65", "ICD10CM:E11.9"]
    rows = sparql(tiny_kg, """
        SELECT ?target ?freq ?prov WHERE {
            ?s a medkg:Relation ; medkg:source ICD10CM:E11.65 ;
               medkg:relation medkg-rel:has_phenotype ; medkg:target ?target ;
               medkg:frequency ?freq ; medkg:provenance ?prov .
        } ORDER BY ?freq""")
    assert rows.values.tolist() == [["HP:0003074", 0.75, "curated"],
                                    ["HP:0003074", 0.8, "hpo"]]
    labels = sparql(tiny_kg, "SELECT ?l ?note WHERE { ICD10CM:E11 rdfs:label ?l "
                             "OPTIONAL { ICD10CM:E11 medkg-attr:missing ?note } }")
    assert labels.values.tolist() == [["Type 2 diabetes mellitus", None]]
    raw = sparql(tiny_kg, "SELECT ?c WHERE { ?c medkg-rel:is_a ICD10CM:E11.9 }", curies=False)
    assert raw.empty and list(raw.columns) == ["c"]
    assert sparql(tiny_kg, "ASK { HP:0003074 a medkg:Phenotype }")["ask"].tolist() == [True]
    built = sparql(to_rdf(tiny_kg), "CONSTRUCT { ?a <urn:up> ?b } WHERE "
                                    "{ ?a medkg-rel:is_a ?b }")
    assert len(built) == 7 and list(built.columns) == ["subject", "predicate", "object"]
    with pytest.raises(InputError, match="SPARQL query failed"):
        sparql(tiny_kg, "SELEC ?x WHERE {")
    with pytest.raises(InputError, match="expected a KnowledgeGraph or rdflib.Graph"):
        sparql("graph.ttl", "ASK {}")
