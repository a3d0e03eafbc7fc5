"""Parquet folder storage: exact dtypes, atomic replacement, errors naming the path."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from kg_tables import tiny_concepts, tiny_relations

import kg.storage as storage
from kg.compare import assert_kg_equal
from kg.graph import KnowledgeGraph
from kg.storage import load, save
from ontologies.errors import DataNotFoundError, ParseError, SchemaError
from ontologies.schema import make_relations


def test_round_trip_is_exact_including_order(tiny_kg, tmp_path):
    folder = save(tiny_kg, tmp_path / "kg")
    back = load(folder)
    assert_kg_equal(back, tiny_kg, check_order=True)
    dtypes = back.concepts.dtypes.astype(str).to_dict()
    assert dtypes["label"] == "string" and dtypes["depth"] == "Int64"
    assert dtypes["billable"] == "bool" and dtypes["weight"] == "float64"
    assert back.relations["severity"].isna().sum() == 10  # NaN preserved
    manifest = json.loads((folder / "metadata.json").read_text())
    assert manifest["format_version"] == storage.FORMAT_VERSION
    assert manifest["metadata"] == tiny_kg.metadata
    assert KnowledgeGraph.load(tiny_kg.save(tmp_path / "again")).equals(tiny_kg)


def test_str_dtype_and_dangling_survive(tmp_path):
    c = tiny_concepts().astype({"note": "str"})
    r = make_relations(["ICD10CM:E11"], "is_a", ["ICD10CM:E99"])
    kg = KnowledgeGraph(c, r, on_dangling="keep")
    back = load(save(kg, tmp_path / "kg"))
    assert str(back.concepts["note"].dtype) == "str"
    assert_kg_equal(back, kg, check_order=True)


def test_failed_save_leaves_previous_folder(tiny_kg, tmp_path, monkeypatch):
    folder = save(tiny_kg, tmp_path / "kg")
    smaller = tiny_kg.subgraph("ICD10CM:E11")
    real = storage._write_table
    calls = []

    def fail_on_relations(df, path, name):
        calls.append(name)
        if name == "relations":
            raise OSError("disk full while writing relations")
        real(df, path, name)

    monkeypatch.setattr(storage, "_write_table", fail_on_relations)
    with pytest.raises(OSError, match="disk full"):
        save(smaller, folder)
    assert calls == ["concepts", "relations"]  # it did fail mid-way
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kg"]  # no temp folder left
    assert_kg_equal(load(folder), tiny_kg, check_order=True)


def test_missing_and_corrupt_files(tiny_kg, tmp_path):
    with pytest.raises(DataNotFoundError, match="nowhere"):
        load(tmp_path / "nowhere")
    folder = save(tiny_kg, tmp_path / "kg")
    (folder / "relations.parquet").unlink()
    with pytest.raises(DataNotFoundError, match="relations.parquet"):
        load(folder)
    folder = save(tiny_kg, tmp_path / "kg")
    (folder / "concepts.parquet").write_bytes(b"not parquet")
    with pytest.raises(ParseError, match="concepts.parquet"):
        load(folder)
    folder = save(tiny_kg, tmp_path / "kg")
    (folder / "metadata.json").unlink()
    with pytest.raises(DataNotFoundError, match="metadata.json"):
        load(folder)
    (folder / "metadata.json").write_text("{not json")
    with pytest.raises(ParseError, match="metadata.json"):
        load(folder)


def test_format_version_and_row_counts_checked(tiny_kg, tmp_path):
    folder = save(tiny_kg, tmp_path / "kg")
    manifest = json.loads((folder / "metadata.json").read_text())
    (folder / "metadata.json").write_text(json.dumps({**manifest, "format_version": 99}))
    with pytest.raises(SchemaError, match=r"metadata.json: format_version 99"):
        load(folder)
    (folder / "metadata.json").write_text(json.dumps({**manifest, "format": "other"}))
    with pytest.raises(SchemaError, match="format 'other'"):
        load(folder)
    (folder / "metadata.json").write_text(json.dumps({**manifest, "n_relations": 3}))
    with pytest.raises(SchemaError, match="relations.parquet: 11 rows; metadata.json says 3"):
        load(folder)


def test_unstorable_object_column(tmp_path):
    c = tiny_concepts()
    c["mixed"] = pd.Series([1, "a"] + [None] * (len(c) - 2), dtype=object)
    kg = KnowledgeGraph(c, tiny_relations())
    with pytest.raises(SchemaError, match="concepts: cannot be stored as parquet"):
        save(kg, tmp_path / "kg")
    assert not (tmp_path / "kg").exists()
