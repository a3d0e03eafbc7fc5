"""ICD helpers: dotted CURIEs, malformed codes, and the GEM merge (with a stand-in GEM)."""

import pandas as pd
import pytest

import ontologies.icd9cm
from graphs.records.icd import drop_malformed, icd9_curies, icd10_curies, map_diagnoses


def test_curies_and_malformed_codes():
    assert icd9_curies(pd.Series(["4280", "428.0", " v1582 ", "ABC"])).tolist() == \
        ["ICD9CM:428.0", "ICD9CM:428.0", "ICD9CM:V15.82", pd.NA]
    assert icd10_curies(pd.Series(["0W9G3ZZ", "0W9G3Z"]), "ICD10PCS").tolist() == \
        ["ICD10PCS:0W9G3ZZ", pd.NA]
    df = pd.DataFrame({"code": icd9_curies(pd.Series(["4280", "ABC", None]))})
    dropped = {}
    out = drop_malformed(df, "code", pd.Series(["4280", "ABC", None]), "diagnoses", dropped)
    assert len(out) == 2 and dropped == {"diagnoses_malformed_code": 1}


def fake_gem(codes, **options):
    table = {"ICD9CM:250.00": [("ICD10CM:E11.9", "gem_exact")],
             "ICD9CM:073.0": [("A70", "gem_combination"), ("J17", "gem_combination")]}
    rows = [(c, *t) for c in codes for t in table.get(c, [(None, "no_map")])]
    return pd.DataFrame(rows, columns=["icd9", "icd10", "mapping"])


def test_map_diagnoses_expands_combinations_and_keeps_order(monkeypatch):
    monkeypatch.setattr(ontologies.icd9cm, "map_icd9_to_icd10", fake_gem, raising=False)
    dx = pd.DataFrame({"source_code": ["ICD9CM:073.0", "ICD10CM:I10", "ICD9CM:365.70",
                                       "ICD9CM:250.00"], "seq_num": [1, 2, 3, 4]})
    out, counts = map_diagnoses(dx)
    assert out["code"].tolist() == ["ICD10CM:A70", "ICD10CM:J17", "ICD10CM:I10",
                                    "ICD9CM:365.70", "ICD10CM:E11.9"]
    assert out["mapping"].tolist() == ["gem_combination", "gem_combination", "direct",
                                       "no_map", "gem_exact"]
    assert out["seq_num"].tolist() == [1, 1, 2, 3, 4]
    assert counts == {"gem_combination": 2, "direct": 1, "no_map": 1, "gem_exact": 1}
    kept, counts = map_diagnoses(dx, map_to_icd10=False)
    assert kept["code"].tolist() == dx["source_code"].tolist() and counts == {"direct": 4}


def test_gem_table_without_expected_columns_is_refused(monkeypatch):
    from ontologies.errors import ConfigError

    monkeypatch.setattr(ontologies.icd9cm, "map_icd9_to_icd10",
                        lambda codes: pd.DataFrame({"x": codes}), raising=False)
    with pytest.raises(ConfigError, match="expected icd9, icd10, mapping"):
        map_diagnoses(pd.DataFrame({"source_code": ["ICD9CM:250.00"]}))
