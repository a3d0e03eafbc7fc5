"""The streaming OBO 1.4 reader, on small MONDO- and HPO-shaped files."""

from __future__ import annotations

import types
from pathlib import Path

import pytest

import ontologies
from ontologies.errors import ConfigError, DataNotFoundError, ParseError
from ontologies.obo import (
    infer_semantic_type,
    iter_obo,
    normalize_xref,
    read_obo,
    relation_name,
    snake_case,
)

OBO = Path(__file__).resolve().parents[1] / "fixtures" / "obo"
MONDO = OBO / "mini_mondo.obo"


@pytest.fixture(scope="session")
def mondo():
    return ontologies.load("obo", path=MONDO)


def triples(tables, relation=None):
    rel = tables.relations
    if relation is not None:
        rel = rel[rel["relation"] == relation]
    return set(zip(rel["source"], rel["relation"], rel["target"], strict=True))


def test_terms_and_obsolete_dropped(mondo):
    assert mondo.concepts["id"].tolist() == ["MONDO:0000001", "MONDO:0005015", "MONDO:0005148"]
    assert mondo.concepts["semantic_type"].eq("disease").all()
    assert mondo.metadata["n_obsolete_dropped"] == 1
    assert mondo.metadata["ontology"] == "mondo"
    assert "obsolete" not in mondo.concepts.columns


def test_definition_keeps_quoted_bang_braces_and_quotes(mondo):
    definition = mondo.concepts.set_index("id").loc["MONDO:0005015", "definition"]
    assert definition == ('Invented: a metabolic disease ! with high glucose {not a qualifier}; '
                          'note the "quoted" word.')


def test_is_a_strips_qualifiers_and_comments(mondo):
    assert triples(mondo, "is_a") == {("MONDO:0005015", "is_a", "MONDO:0000001"),
                                      ("MONDO:0005148", "is_a", "MONDO:0005015")}


def test_synonyms_and_scopes(mondo):
    row = mondo.concepts.set_index("id").loc["MONDO:0005148"]
    assert row["synonyms"] == "T2DM|adult-onset diabetes|NIDDM"
    exact = read_obo(MONDO, synonym_scopes=["EXACT"]).concepts.set_index("id")
    assert exact.loc["MONDO:0005148", "synonyms"] == "T2DM"


def test_duplicate_stanzas_are_merged(mondo):
    row = mondo.concepts.set_index("id").loc["MONDO:0005148"]
    assert row["label"] == "type 2 diabetes mellitus"
    assert "ICD9CM:250.00" in row["xrefs"].split("|")  # from the second stanza


def test_xrefs_normalised_and_become_maps_to(mondo):
    maps = triples(mondo, "maps_to")
    assert ("MONDO:0005148", "maps_to", "ICD10CM:E11.9") in maps  # e119 -> E11.9
    assert ("MONDO:0005148", "maps_to", "SNOMEDCT:9000003000") in maps  # SCTID:
    assert ("MONDO:0005148", "maps_to", "ORPHA:1234") in maps  # Orphanet:
    assert ("MONDO:0005015", "maps_to", "UMLS:C0011849") in maps  # UMLS_CUI:
    assert ("MONDO:0005015", "maps_to", "ICD10CM:E08-E13") in maps  # range kept as is
    assert not any(t.startswith("https") for _, _, t in maps)
    source = mondo.relations.set_index("target").loc["ICD10CM:E08-E13", "xref_source"]
    assert source == "MONDO:equivalentTo"


def test_xref_options(mondo):
    none = read_obo(MONDO, xref_prefixes=None)
    assert "maps_to" not in set(none.relations["relation"])
    assert none.concepts["xrefs"].notna().sum() == 2  # the column still lists them
    icd = read_obo(MONDO, xref_prefixes=["ICD10CM"], xref_relation="xref")
    assert {t for _, _, t in triples(icd, "xref")} == {"ICD10CM:E08-E13", "ICD10CM:E11.9"}


def test_relationship_lines(mondo):
    rel = triples(mondo)
    assert ("MONDO:0005148", "disease_has_location", "UBERON:0001264") in rel
    assert ("MONDO:0005148", "has_material_basis_in_germline_mutation_in", "HGNC:1234") in rel


def test_keep_obsolete_adds_column_and_replaced_by():
    tables = read_obo(MONDO, keep_obsolete=True)
    rows = tables.concepts.set_index("id")
    assert bool(rows.loc["MONDO:0099999", "obsolete"]) is True
    assert ("MONDO:0099999", "replaced_by", "MONDO:0005148") in triples(tables)


def test_semantic_type_inference_and_override():
    hp = read_obo(OBO / "mini_hp.obo")
    assert hp.concepts["semantic_type"].eq("phenotype").all()
    assert read_obo(MONDO, semantic_type="other").concepts["semantic_type"].eq("other").all()
    with pytest.raises(ConfigError, match="illness"):
        read_obo(MONDO, semantic_type="illness")
    assert infer_semantic_type(["UBERON:1", "CHEBI:2", "NCBITaxon:9606"]).tolist() == [
        "anatomy", "substance", "organism"]


def test_header_metadata():
    meta = read_obo(OBO / "mini_hp.obo").metadata
    assert meta["version"] == "hp/releases/2025-01-16"
    assert meta["license"] == "https://hpo.jax.org/app/license"
    assert meta["title"] == "Human Phenotype Ontology"


def test_iter_obo_streams():
    stanzas = iter_obo(MONDO)
    assert isinstance(stanzas, types.GeneratorType)
    header = next(stanzas)
    assert header.kind == "header" and header.first("ontology") == "mondo"
    kinds = [s.kind for s in stanzas]
    assert kinds.count("Term") == 5 and kinds[-1] == "Typedef"


@pytest.mark.parametrize("raw, expected", [
    ("ICD10CM:E11.9", "ICD10CM:E11.9"), ("ICD10CM:E11", "ICD10CM:E11"),
    ("ICD10CM:e119", "ICD10CM:E11.9"), ("ICD-10-CM:E11.9", "ICD10CM:E11.9"),
    ("ICD10WHO:E11", "ICD10:E11"), ("ICD9:250.00", "ICD9CM:250.00"),
    ("ICD9CM:E8889", "ICD9CM:E888.9"), ("SNOMEDCT_US_2021_09_01:123", "SNOMEDCT:123"),
    ("SNOMED_CT:123", "SNOMEDCT:123"), ("MIM:100100", "OMIM:100100"),
    ("Orphanet:558", "ORPHA:558"), ("NCI:C2985", "NCIT:C2985"), ("GARD:1", "GARD:1"),
    ("Wikipedia:Seizure", "Wikipedia:Seizure"), ("no colon", None), ("ICD10CM:", None),
    ("http://example.org/x", None)])
def test_normalize_xref(raw, expected):
    assert normalize_xref(raw) == expected


def test_relation_names():
    assert relation_name("part_of") == "part_of"
    assert relation_name("BFO:0000051") == "has_part"
    assert relation_name("XX:1") == "xx_1"
    assert snake_case("123abc") == "r_123abc"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bad.obo"
    path.write_text(text, encoding="utf-8")
    return path


def test_stanza_without_id(tmp_path):
    path = _write(tmp_path, "format-version: 1.4\n\n[Term]\nid: X:1\nname: a\n\n"
                            "[Term]\nname: no id here\n")
    with pytest.raises(ParseError, match="without an 'id:'") as err:
        read_obo(path)
    assert err.value.line == 7 and err.value.path == str(path)


def test_bad_line_reports_line_number(tmp_path):
    path = _write(tmp_path, "format-version: 1.4\n[Term]\nid: X:1\nthis line has no tag\n")
    with pytest.raises(ParseError, match="no tag") as err:
        read_obo(path)
    assert err.value.line == 4


@pytest.mark.parametrize("line, message", [
    ("def: unquoted definition []", "def: value"),
    ('synonym: missing quote" EXACT []', "synonym: value"),
    ("relationship: part_of", "relationship"),
    ("is_a:", "is_a target ''"),
    ("is_a: parent", "is_a target 'parent'"),
    ("relationship: part_of UBERON", "relationship target 'UBERON'"),
])
def test_malformed_values(tmp_path, line, message):
    path = _write(tmp_path, f"[Term]\nid: X:1\nname: a\n{line}\n")
    with pytest.raises(ParseError, match=message) as err:
        read_obo(path)
    assert err.value.line == 4


def test_term_id_must_be_prefixed_and_terms_must_exist(tmp_path):
    path = _write(tmp_path, "format-version: 1.4\n\n[Term]\nid: seizure\nname: a\n")
    with pytest.raises(ParseError, match="id 'seizure'") as err:
        read_obo(path)
    assert err.value.line == 3  # the stanza's line
    path = _write(tmp_path, "format-version: 1.4\n\n[Typedef]\nid: part_of\n")
    with pytest.raises(ParseError, match=r"no \[Term\] stanza"):
        read_obo(path)


def test_missing_and_non_utf8_files(tmp_path):
    with pytest.raises(DataNotFoundError, match="nope.obo"):
        read_obo(tmp_path / "nope.obo")
    path = tmp_path / "latin1.obo"
    path.write_bytes("[Term]\nid: X:1\nname: caf\xe9\n".encode("latin-1"))
    with pytest.raises(ParseError, match="not UTF-8"):
        read_obo(path)
