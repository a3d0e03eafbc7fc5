"""ATC-format tables: levels, parents, header variants and malformed input."""

from __future__ import annotations

from pathlib import Path

import pytest

import ontologies
from ontologies.atc import atc_level, read_atc
from ontologies.errors import ConfigError, DataNotFoundError, ParseError

ATC = Path(__file__).resolve().parents[1] / "fixtures" / "atc"


@pytest.fixture(scope="session")
def demo():
    with pytest.warns(UserWarning, match="1 ATC codes have no parent row"):
        return ontologies.load("atc", path=ATC / "atc_demo.csv")


def test_codes_levels_and_types(demo):
    rows = demo.concepts.set_index("id")
    assert len(rows) == 16  # 17 data rows, one repeated code merged
    assert rows.loc["ATC:X", "atc_level"] == 1
    assert rows.loc["ATC:X01AA", "atc_level"] == 4
    assert rows.loc["ATC:X01AA01", "atc_level"] == 5
    assert rows.loc["ATC:X01AA01", "semantic_type"] == "drug"
    assert set(rows.loc[rows["atc_level"] < 5, "semantic_type"]) == {"category"}
    assert rows.loc["ATC:X01AA02", "label"] == "demoformin, extended release"  # quoted comma
    assert demo.metadata["n_codes_per_level"] == {1: 2, 2: 3, 3: 3, 4: 3, 5: 5}


def test_is_a_to_parent_level(demo):
    parent = dict(zip(demo.relations["source"], demo.relations["target"]))
    assert parent["ATC:X01AA01"] == "ATC:X01AA"
    assert parent["ATC:X01AA"] == "ATC:X01A"
    assert parent["ATC:X01A"] == "ATC:X01"
    assert parent["ATC:X01"] == "ATC:X"
    assert parent["ATC:X02BA01"] == "ATC:X02B"  # level-4 row missing: nearest ancestor
    assert "ATC:X" not in parent and "ATC:Y" not in parent
    assert len(demo.relations) == 14
    assert set(demo.relations["relation"]) == {"is_a"}


def test_tsv_with_plain_headers_and_lower_case_codes():
    tables = read_atc(ATC / "atc_demo.tsv")
    assert tables.concepts["id"].tolist() == ["ATC:X", "ATC:X01", "ATC:X01A", "ATC:X01AA",
                                              "ATC:X01AA01"]
    assert len(tables.relations) == 4


def test_explicit_columns_and_semicolons(tmp_path):
    path = tmp_path / "atc.txt"
    path.write_text("Kode;Bezeichnung\nX;Gruppe\nX01;Untergruppe\n")
    tables = read_atc(path, code_column="Kode", name_column="Bezeichnung")
    assert tables.concepts["label"].tolist() == ["Gruppe", "Untergruppe"]


def test_atc_level():
    assert [atc_level(c) for c in ["A", "A10", "A10B", "A10BA", "A10BA02"]] == [1, 2, 3, 4, 5]
    with pytest.raises(ConfigError):
        atc_level("A1")


def _table(tmp_path: Path, text: str, name: str = "atc.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("code", ["X0", "X01AA0", "X01AA012", "101", "X1A"])
def test_bad_code_reports_line(tmp_path, code):
    path = _table(tmp_path, f"code,name\nX,Group\n{code},Bad\n")
    with pytest.raises(ParseError, match=f"code '{code}'") as err:
        read_atc(path)
    assert err.value.line == 3 and err.value.path == str(path)


def test_duplicate_code_with_two_names(tmp_path):
    path = _table(tmp_path, "code,name\nX,Group\nX01,One name\nX01,  one   NAME \nX01,Other\n")
    with pytest.raises(ParseError, match="two names: 'One name' \\(line 3\\) and 'Other'") as err:
        read_atc(path)
    assert err.value.line == 5


def test_missing_column(tmp_path):
    path = _table(tmp_path, "code,ddd\nX,1\n")
    with pytest.raises(ParseError, match="no name column.*'atc level name'") as err:
        read_atc(path)
    assert err.value.line == 1
    with pytest.raises(ParseError, match="no code column"):
        read_atc(_table(tmp_path, "label\nGroup\n"))


def test_other_malformed_tables(tmp_path):
    with pytest.raises(ParseError, match="empty name") as err:
        read_atc(_table(tmp_path, "code,name\nX,Group\nX01,\n"))
    assert err.value.line == 3
    with pytest.raises(ParseError, match="3 fields, expected 2") as err:
        read_atc(_table(tmp_path, "code,name\nX,Group\nX01,a,b\n"))
    assert err.value.line == 3
    with pytest.raises(ParseError, match="empty file"):
        read_atc(_table(tmp_path, "\n\n"))
    with pytest.raises(DataNotFoundError, match="nope.csv"):
        read_atc(tmp_path / "nope.csv")
    latin = tmp_path / "latin.csv"
    latin.write_bytes("code,name\nX,Caf\xe9\n".encode("latin-1"))
    with pytest.raises(ParseError, match="not UTF-8") as err:
        read_atc(latin)
    assert err.value.line == 2
