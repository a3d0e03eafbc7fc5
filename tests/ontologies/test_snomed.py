"""SNOMED CT RF2 snapshot and ICD-10 map readers, on an invented RF2 release."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import pandas as pd
import pytest

import ontologies
from ontologies.errors import ConfigError, DataNotFoundError, ParseError
from ontologies.snomed import read_snomedct, read_snomedct_icd10_map, sctid_is_valid

# The fixture has superseded rows on purpose; tests that care use pytest.warns.
pytestmark = pytest.mark.filterwarnings("ignore:.*latest effectiveTime:UserWarning")

RELEASE = (Path(__file__).resolve().parents[1] / "fixtures" / "snomed"
           / "SnomedCT_InventedRF2_PRODUCTION_20240101T120000Z")
TERMINOLOGY = RELEASE / "Snapshot" / "Terminology"
CONCEPT_FILE = TERMINOLOGY / "sct2_Concept_Snapshot_INT_20240101.txt"
DESCRIPTION_FILE = TERMINOLOGY / "sct2_Description_Snapshot-en_INT_20240101.txt"
RELATIONSHIP_FILE = TERMINOLOGY / "sct2_Relationship_Snapshot_INT_20240101.txt"
MAP_FILE = (RELEASE / "Snapshot" / "Refset" / "Map"
            / "der2_iisssccRefset_ExtendedMapSnapshot_INT_20240101.txt")


def sct(n: int) -> str:
    """Invented concept ids of the fixture, by item number."""
    return {1: "9000001003", 2: "9000002005", 3: "9000003000", 4: "9000004006",
            5: "9000005007", 6: "9000006008", 7: "9000007004", 8: "9000008009",
            9: "9000009001", 10: "9000010006", 11: "9000011005", 12: "9000012003",
            13: "9000013008", 14: "9000014002", 15: "9000015001", 16: "9000016000"}[n]


@pytest.fixture(scope="session")
def snomed():
    with pytest.warns(UserWarning, match="latest effectiveTime"):
        return ontologies.load("snomedct", path=RELEASE.parent)


@pytest.fixture(scope="session")
def icd_map():
    with pytest.warns(UserWarning, match="map refset"):
        return read_snomedct_icd10_map(RELEASE)


def concept(tables, n: int) -> pd.Series:
    rows = tables.concepts.set_index("id")
    return rows.loc[f"SNOMEDCT:{sct(n)}"]


def test_fixture_ids_are_valid_sctids(snomed):
    codes = snomed.concepts["code"].tolist()
    assert all(sctid_is_valid(c) for c in codes)
    assert not sctid_is_valid("9000001004")  # wrong check digit


def test_only_active_concepts_latest_row_wins(snomed):
    assert len(snomed.concepts) == 15
    assert f"SNOMEDCT:{sct(6)}" not in set(snomed.concepts["id"])  # inactive concept
    # concept 4 has an older 'primitive' row and a newer 'defined' row
    assert concept(snomed, 4)["definition_status"] == "defined"
    assert snomed.concepts["code"].map(type).eq(str).all()


def test_labels_strip_the_semantic_tag(snomed):
    assert concept(snomed, 2)["label"] == "Zorblax disorder"
    assert concept(snomed, 2)["fsn"] == "Zorblax disorder (disorder)"
    assert concept(snomed, 4)["label"] == "Zorblax (type 2) disorder"  # inner parens kept
    assert concept(snomed, 4)["semantic_tag"] == "disorder"


@pytest.mark.parametrize("n, tag, kind", [
    (1, "finding", "phenotype"), (2, "disorder", "disease"), (12, "procedure", "procedure"),
    (14, "regime/therapy", "procedure"), (10, "substance", "substance"),
    (11, "medicinal product", "drug"), (7, "body structure", "anatomy"),
    (9, "organism", "organism"), (8, "morphologic abnormality", "other"),
    (13, "qualifier value", "other")])
def test_semantic_tag_maps_to_semantic_type(snomed, n, tag, kind):
    assert concept(snomed, n)["semantic_tag"] == tag
    assert concept(snomed, n)["semantic_type"] == kind


def test_synonyms_active_only_and_utf8(snomed):
    assert concept(snomed, 3)["synonyms"] == "Acute zorblax|Zorblax, acute"
    assert "retired name" not in concept(snomed, 2)["synonyms"]
    assert "Zorblax–Müller disease" in concept(snomed, 15)["synonyms"].split("|")
    assert pd.isna(concept(snomed, 8)["synonyms"])


def test_relations_names_groups_and_inactive_ends(snomed):
    rel = snomed.relations
    triples = set(zip(rel["source"].str[9:], rel["relation"], rel["target"].str[9:],
                      strict=True))
    assert (sct(3), "finding_site", sct(7)) in triples
    assert (sct(3), "associated_morphology", sct(8)) in triples
    assert (sct(15), "causative_agent", sct(9)) in triples
    assert (sct(15), "pathological_process", sct(16)) in triples
    assert (sct(4), "due_to", sct(5)) in triples
    assert (sct(11), "has_active_ingredient", sct(10)) in triples
    assert (sct(12), "procedure_site", sct(7)) in triples
    assert (sct(12), "method", sct(13)) in triples
    assert (sct(14), "snomed_9000301005", sct(2)) in triples  # unknown attribute type
    assert (sct(5), "is_a", sct(2)) not in triples  # inactive relationship
    assert not rel["source"].eq(f"SNOMEDCT:{sct(6)}").any()  # inactive source concept
    assert (rel["relation"] == "is_a").sum() == 5
    assert snomed.metadata["n_relationships_dropped_inactive_ends"] == 1
    group = rel.set_index(["relation"]).loc["pathological_process", "relationship_group"]
    assert group == 2
    assert set(rel["characteristic_type"]) == {"inferred"}


def test_snapshot_glob_ignores_full_release(snomed):
    sources = snomed.metadata["source"]
    assert len(sources) == 3 and all("Snapshot" in s for s in sources)


def test_explicit_paths_give_same_tables():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        by_folder = read_snomedct(RELEASE)
        by_file = read_snomedct(concept_path=str(CONCEPT_FILE), description_path=DESCRIPTION_FILE,
                                relationship_path=[RELATIONSHIP_FILE])
    pd.testing.assert_frame_equal(by_folder.concepts, by_file.concepts)
    pd.testing.assert_frame_equal(by_folder.relations, by_file.relations)


def _copy_release(tmp_path: Path) -> Path:
    target = tmp_path / "release"
    shutil.copytree(RELEASE, target)
    return target / "Snapshot" / "Terminology"


def _edit(path: Path, edit) -> None:
    lines = path.read_bytes().decode("utf-8").split("\r\n")
    path.write_bytes("\r\n".join(edit(lines)).encode("utf-8"))


def test_missing_column_names_the_column(tmp_path):
    folder = _copy_release(tmp_path)
    file = folder / CONCEPT_FILE.name
    _edit(file, lambda ls: ["\t".join(line.split("\t")[:4]) for line in ls])
    with pytest.raises(ParseError, match="definitionStatusId") as err:
        read_snomedct(folder)
    assert err.value.line == 1 and err.value.path.endswith(CONCEPT_FILE.name)


def test_wrong_header_is_rejected(tmp_path):
    folder = _copy_release(tmp_path)
    _edit(folder / RELATIONSHIP_FILE.name, lambda ls: ls[1:])  # first data row as header
    with pytest.raises(ParseError, match="missing column"):
        read_snomedct(folder)


def test_truncated_row_reports_file_and_line(tmp_path):
    folder = _copy_release(tmp_path)
    file = folder / RELATIONSHIP_FILE.name
    _edit(file, lambda ls: ls[:3] + ["\t".join(ls[3].split("\t")[:-2])] + ls[4:])
    with pytest.raises(ParseError, match="8 fields, expected 10") as err:
        read_snomedct(folder)
    assert err.value.line == 4
    assert err.value.path == str(file)


def test_float_looking_id_is_rejected(tmp_path):
    folder = _copy_release(tmp_path)
    file = folder / CONCEPT_FILE.name
    _edit(file, lambda ls: ls[:2] + ["9.000002e9" + ls[2][10:]] + ls[3:])
    with pytest.raises(ParseError, match="9.000002e9") as err:
        read_snomedct(folder)
    assert err.value.line == 3


def test_empty_file_is_a_parse_error(tmp_path):
    folder = _copy_release(tmp_path)
    (folder / DESCRIPTION_FILE.name).write_bytes(b"")
    with pytest.raises(ParseError, match="empty file"):
        read_snomedct(folder)


def test_not_utf8_reports_the_line(tmp_path):
    folder = _copy_release(tmp_path)
    file = folder / DESCRIPTION_FILE.name
    file.write_bytes(file.read_bytes().replace("Müller".encode(), b"M\xfcller"))
    with pytest.raises(ParseError, match="not UTF-8") as err:
        read_snomedct(folder)
    text = DESCRIPTION_FILE.read_bytes().decode("utf-8").split("\r\n")
    assert err.value.line == next(i for i, t in enumerate(text, 1) if "Müller" in t)


def test_missing_files_raise_data_not_found(tmp_path):
    folder = _copy_release(tmp_path)
    (folder / DESCRIPTION_FILE.name).unlink()
    with pytest.raises(DataNotFoundError, match="sct2_Description_Snapshot"):
        read_snomedct(folder)
    with pytest.raises(DataNotFoundError, match="no-such-folder"):
        read_snomedct(tmp_path / "no-such-folder")
    with pytest.raises(DataNotFoundError, match="missing.txt"):
        read_snomedct(concept_path=tmp_path / "missing.txt", description_path=DESCRIPTION_FILE,
                      relationship_path=RELATIONSHIP_FILE)
    with pytest.raises(ConfigError):
        read_snomedct()
    with pytest.raises(ConfigError, match="is a file"):
        read_snomedct(CONCEPT_FILE)


def test_map_rows(icd_map):
    rel = icd_map.relations
    assert len(icd_map.concepts) == 0
    assert rel["target"].tolist() == ["ICD10:U98.0", "ICD10:U98.1", "ICD10:U98.9",
                                      "ICD10:U97.2", "ICD10:U98.8"]
    assert set(rel["relation"]) == {"maps_to"}
    assert f"SNOMEDCT:{sct(5)}" not in set(rel["source"])  # empty target skipped
    assert f"SNOMEDCT:{sct(4)}" not in set(rel["source"])  # inactive row
    second = rel[rel["target"] == "ICD10:U98.9"].iloc[0]
    assert (second["map_group"], second["map_priority"]) == (1, 2)
    assert second["map_rule"] == "OTHERWISE TRUE"
    assert rel["map_advice"].iloc[0] == "ALWAYS U98.0"


def test_map_prefix_choice_and_us_refset(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        cm = read_snomedct_icd10_map(MAP_FILE, target_prefix="ICD10CM")
        assert cm.relations["target"].str.startswith("ICD10CM:").all()
        assert len(read_snomedct_icd10_map(MAP_FILE, refset_id="123456001").relations) == 0
    us = tmp_path / "der2_iisssccRefset_ExtendedMapSnapshot_US1000124_20240301.txt"
    us.write_bytes(MAP_FILE.read_bytes().replace(b"\t447562003\t", b"\t6011000124106\t"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        auto = read_snomedct_icd10_map(tmp_path)
    assert auto.relations["target"].str.startswith("ICD10CM:").all()
    with pytest.raises(ConfigError):
        read_snomedct_icd10_map(MAP_FILE, target_prefix="ICD 10")


def test_map_errors(tmp_path):
    with pytest.raises(DataNotFoundError, match="ExtendedMapSnapshot"):
        read_snomedct_icd10_map(tmp_path)
    bad = tmp_path / "der2_iisssccRefset_ExtendedMapSnapshot_X.txt"
    lines = MAP_FILE.read_bytes().decode().split("\r\n")
    fields = lines[2].split("\t")
    fields[6] = "one"
    lines[2] = "\t".join(fields)
    bad.write_bytes("\r\n".join(lines).encode())
    with pytest.raises(ParseError, match="mapGroup 'one'") as err:
        read_snomedct_icd10_map(bad)
    assert err.value.line == 3


def test_registered_names():
    assert {"snomedct", "snomedct_icd10_map"} <= set(ontologies.available())
