"""Code normalisation: scalar and vectorised forms agree and reject malformed codes."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ontologies.codes import (
    SYSTEMS,
    icd9cm_curie,
    icd10cm_curie,
    normalize_icd9cm,
    normalize_icd10cm,
    normalize_series,
)
from ontologies.errors import ConfigError, MedKGError, SchemaError, UnknownCodeError


@pytest.mark.parametrize("raw, expected", [
    ("E119", "E11.9"), (" e11.9 ", "E11.9"), ("E11", "E11"), ("I10", "I10"),
    ("S0000XA", "S00.00XA"), ("S00.00XA", "S00.00XA"), ("T66XXXA", "T66.XXXA"),
    ("C7A010", "C7A.010"), ("ICD10CM:E11.9", "E11.9"), ("icd10cm:e119", "E11.9"),
    ("E11.", "E11"), ("M1A.0110", "M1A.0110"),
])
def test_normalize_icd10cm_accepts_common_spellings(raw, expected):
    assert normalize_icd10cm(raw) == expected


@pytest.mark.parametrize("raw", [
    "", "E1", "11.9", "E11..9", "E1.19", "EE11", "E11-9", "E119999X", "E11.99999",
    "ICD9CM:E11.9", "E 11.9", "E11.9.", "É11",
])
def test_normalize_icd10cm_rejects_malformed_codes_naming_them(raw):
    with pytest.raises(UnknownCodeError) as info:
        normalize_icd10cm(raw)
    assert repr(raw) in str(info.value) and "ICD-10-CM" in str(info.value)
    assert isinstance(info.value, MedKGError) and isinstance(info.value, KeyError)


@pytest.mark.parametrize("raw", [None, 4280, 11.9, b"E119"])
def test_normalize_rejects_non_strings(raw):
    with pytest.raises(UnknownCodeError, match="a string"):
        normalize_icd10cm(raw)
    with pytest.raises(UnknownCodeError, match="a string"):
        normalize_icd9cm(raw)


@pytest.mark.parametrize("raw, expected", [
    ("4280", "428.0"), ("428", "428"), ("428.0", "428.0"), ("25000", "250.00"),
    ("0389", "038.9"), ("V1052", "V10.52"), ("v10.52", "V10.52"), ("V10", "V10"),
    ("E8889", "E888.9"), ("E888", "E888"), ("E800", "E800"), ("ICD9CM:4280", "428.0"),
])
def test_normalize_icd9cm_diagnoses(raw, expected):
    assert normalize_icd9cm(raw) == expected


@pytest.mark.parametrize("raw", [
    "42", "4280000", "42.80", "V1", "V1052X", "E88891", "E88.89", "A123", "E11.9", "-428",
])
def test_normalize_icd9cm_rejects_malformed_diagnoses(raw):
    with pytest.raises(UnknownCodeError, match="ICD-9-CM diagnosis"):
        normalize_icd9cm(raw)


@pytest.mark.parametrize("raw, expected", [("3893", "38.93"), ("38", "38"), ("389", "38.9"),
                                           ("38.93", "38.93"), ("ICD9PROC:3893", "38.93")])
def test_normalize_icd9cm_procedures_dot_after_two_digits(raw, expected):
    assert normalize_icd9cm(raw, kind="sg") == expected


@pytest.mark.parametrize("raw", ["3893X", "V105", "38938", "389.3"])
def test_normalize_icd9cm_rejects_malformed_procedures(raw):
    with pytest.raises(UnknownCodeError, match="procedure"):
        normalize_icd9cm(raw, kind="sg")


def test_unknown_kind_and_system_raise_config_errors():
    with pytest.raises(ConfigError, match="'px'"):
        normalize_icd9cm("4280", kind="px")
    with pytest.raises(ConfigError, match="icd10cm"):
        normalize_series(pd.Series(["E119"]), "icd11")
    with pytest.raises(ConfigError, match="coerce"):
        normalize_series(pd.Series(["E119"]), "icd10cm", errors="ignore")


def test_curie_helpers():
    assert icd10cm_curie(" e119") == "ICD10CM:E11.9"
    assert icd9cm_curie("4280") == "ICD9CM:428.0"
    assert icd9cm_curie("3893", kind="sg") == "ICD9PROC:38.93"
    with pytest.raises(UnknownCodeError):
        icd10cm_curie("nonsense")


def test_normalize_series_keeps_index_name_and_missing_values():
    s = pd.Series(["e119", None, "S0000XA", pd.NA], index=[7, 3, 9, 1], name="dx")
    out = normalize_series(s, "icd10cm")
    assert out.index.tolist() == [7, 3, 9, 1] and out.name == "dx"
    assert out.tolist() == ["E11.9", pd.NA, "S00.00XA", pd.NA]
    assert str(out.dtype) == "string"


def test_normalize_series_error_lists_first_bad_values_with_row_labels():
    s = pd.Series(["E11.9"] + [f"bad{i}" for i in range(7)], index=list("abcdefgh"), name="code")
    with pytest.raises(SchemaError) as info:
        normalize_series(s, "icd10cm")
    message = str(info.value)
    assert "column 'code'" in message and "7 value(s)" in message
    assert "row 'b': 'bad0'" in message and "row 'f': 'bad4'" in message
    assert "bad5" not in message and "and 2 more" in message


def test_normalize_series_coerce_turns_bad_values_into_na():
    out = normalize_series(pd.Series(["4280", "oops", "E88891"]), "icd9cm", errors="coerce")
    assert out.tolist() == ["428.0", pd.NA, pd.NA]


def test_normalize_series_curies_and_numeric_input():
    assert normalize_series(pd.Series(["3893"]), "icd9cm_sg", curie=True).tolist() == \
        ["ICD9PROC:38.93"]
    with pytest.raises(SchemaError, match="leading zeros"):
        normalize_series(pd.Series([4280, 389]), "icd9cm")
    assert normalize_series(pd.Series([], dtype=object), "icd9cm").tolist() == []


def test_normalize_series_accepts_lists():
    assert normalize_series(["V1052", "E8889"], "icd9cm").tolist() == ["V10.52", "E888.9"]


_SCALAR = {"icd10cm": normalize_icd10cm,
           "icd9cm": normalize_icd9cm,
           "icd9cm_sg": lambda c: normalize_icd9cm(c, kind="sg")}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(alphabet="0123456789EVXASZ.: i", max_size=9), max_size=20),
       st.sampled_from(SYSTEMS))
def test_vectorised_and_scalar_forms_agree(values, system):
    out = normalize_series(pd.Series(values, dtype=object), system, errors="coerce")
    for value, got in zip(values, out):
        try:
            expected = _SCALAR[system](value)
        except UnknownCodeError:
            expected = None
        assert (None if got is pd.NA else got) == expected, (system, value)
