"""CCSR reader and the ICD-10-CM -> CCSR helper on the shipped mapping."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ontologies.ccsr import BODY_SYSTEMS, load_ccsr, map_icd10_to_ccsr
from ontologies.errors import DataNotFoundError, ParseError, SchemaError


def test_ccsr_counts(ccsr):
    c, r = ccsr.concepts, ccsr.relations
    assert (c["level"] == "category").sum() == 515 == ccsr.metadata["categories"]
    assert (c["level"] == "body_system").sum() == 22 == len(BODY_SYSTEMS)
    assert (c["semantic_type"] == "category").all() and c["id"].is_unique
    in_group = r[r["relation"] == "in_group"]
    assert len(in_group) == 74_549 and in_group["source"].is_unique
    assert (r["relation"] == "is_a").sum() == 515
    ccsr.validate()


def test_ccsr_spot_checks(ccsr):
    r = ccsr.relations.set_index("source")
    assert r.loc["ICD10CM:E11.9", "target"] == "CCSR:END002"
    assert r.loc["ICD10CM:I10", "target"] == "CCSR:CIR007"
    assert r.loc["CCSR:END002", "target"] == "CCSR:END"
    c = ccsr.concepts.set_index("id")
    assert c.loc["CCSR:END", "label"] == "Endocrine, nutritional and metabolic diseases"
    assert c.loc["CCSR:END002", "label"] == \
        "Endocrine, nutritional and metabolic diseases, CCSR category END002"
    assert c.loc["CCSR:END002", ["body_system", "label_source"]].tolist() == \
        ["CCSR:END", "generated"]


def test_every_category_belongs_to_a_known_body_system(ccsr):
    c = ccsr.concepts
    categories = c[c["level"] == "category"]
    assert categories["body_system"].isin(c.loc[c["level"] == "body_system", "id"]).all()
    targets = set(ccsr.relations["target"])
    assert targets <= set(c["id"])


def test_ccsr_codes_are_mostly_in_fy2026(ccsr, icd10cm_ids):
    sources = ccsr.relations.loc[ccsr.relations["relation"] == "in_group", "source"]
    known = np.mean([s in icd10cm_ids for s in sources.to_numpy(dtype=object)])
    assert 0.98 < known < 1.0  # the mapping predates a few FY2026 changes


def test_map_icd10_to_ccsr():
    codes = pd.Series(["E119", "e11.9", "E11", None, "Z99.999"], index=[5, 4, 3, 2, 1])
    out = map_icd10_to_ccsr(codes)
    assert out.index.tolist() == [5, 4, 3, 2, 1] and list(out.columns) == ["icd10", "ccsr"]
    assert out["ccsr"].tolist() == ["CCSR:END002", "CCSR:END002", pd.NA, pd.NA, pd.NA]
    assert out["icd10"].iloc[0] == "ICD10CM:E11.9"
    with pytest.raises(SchemaError, match="'E1'"):
        map_icd10_to_ccsr(pd.Series(["E1"]))
    assert map_icd10_to_ccsr(pd.Series(["E1"]), errors="coerce")["ccsr"].isna().all()


def test_ccsr_bad_files(tmp_path):
    path = tmp_path / "ccsr.json"
    path.write_text(json.dumps({"E119": "END002", "I10": "XYZ001"}))
    with pytest.raises(ParseError, match="'XYZ001'"):
        load_ccsr(path)
    path.write_text(json.dumps({"E119": "END002", "nonsense": "END002"}))
    with pytest.raises(ParseError, match="'nonsense'"):
        load_ccsr(path)
    path.write_text('{"E119": "END002",\n')
    with pytest.raises(ParseError) as info:
        load_ccsr(path)
    assert info.value.line == 2
    path.write_text("[]")
    with pytest.raises(ParseError, match="non-empty object"):
        load_ccsr(path)
    with pytest.raises(DataNotFoundError):
        load_ccsr(tmp_path / "missing.json")


def test_small_valid_file(tmp_path):
    path = tmp_path / "ccsr.json"
    path.write_text(json.dumps({"E119": "END002", "I10": "CIR007", "I110": "CIR008"}))
    t = load_ccsr(path)
    assert sorted(t.concepts["code"]) == sorted(
        list(BODY_SYSTEMS) + ["CIR007", "CIR008", "END002"])
    assert t.relations["relation"].value_counts().to_dict() == {"in_group": 3, "is_a": 3}


def test_edited_file_is_reread(tmp_path):
    path = tmp_path / "ccsr.json"
    path.write_text(json.dumps({"E119": "END002"}))
    assert len(load_ccsr(path).relations) == 2
    path.write_text(json.dumps({"E119": "END002", "I10": "CIR007", "I110": "CIR008"}))
    assert len(load_ccsr(path).relations) == 6
