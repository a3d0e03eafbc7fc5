"""Sharded cohort build: split -> per-shard parts -> merge equals one CohortBuilder.build."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import torch

from graphs.cohort import CohortBuilder, CohortConfig, CohortGraph, ModalityFeatures
from graphs.cohort.demo import tiny_kg
from graphs.cohort.parts import union_parts
from graphs.cohort.shards import (
    build_shard,
    build_shards,
    load_features,
    main,
    merge_parts,
    read_manifest,
    save_features,
    split_cohort,
    split_records,
    write_manifest,
    write_shard,
)
from graphs.records import PatientRecords
from kg.graph import KnowledgeGraph
from ontologies.errors import (
    ConfigError,
    DataNotFoundError,
    DuplicateIdError,
    ParseError,
    SchemaError,
    UnknownCodeError,
)
from ontologies.schema import make_concepts


@pytest.fixture(scope="module")
def kg():
    return tiny_kg()


def _records():
    """Six patients. LOCAL:X1 is a drug of p2 and a diagnosis of p3 (a disease in a full
    build); E11.9 (p1) and E11 (p3) meet only across shards."""
    rec = PatientRecords.empty()
    rec.patients = pd.DataFrame({
        "patient_id": [f"p{i}" for i in range(1, 7)], "sex": ["F", "M", "F", "U", "M", "F"],
        "birth_date": ["1950-01-01", "1960-06-01", "1970-02-03", None, "1980-01-01",
                       "1990-09-09"], "death_date": None})
    rec.visits = pd.DataFrame({
        "patient_id": ["p1", "p1", "p2", "p3", "p3", "p4", "p5", "p6", "p6"],
        "visit_id": [f"v{i}" for i in range(1, 10)],
        "start": ["2021-01-01", "2020-01-01", "2020-05-01", "2019-03-01", "2019-04-01",
                  "2022-01-01", "2020-07-07", "2021-02-02", "2021-01-01"],
        "end": None, "visit_type": "outpatient"})
    rec.diagnoses = pd.DataFrame({
        "patient_id": ["p1", "p1", "p2", "p3", "p3", "p4", "p5", "p6"],
        "visit_id": ["v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8"],
        "code": ["ICD10CM:E11.9", "ICD10CM:I10", "ICD10CM:I10", "ICD10CM:E11", "LOCAL:X1",
                 "ICD10CM:E11.65", "ICD10CM:I10", "ICD10CM:E11.9"],
        "time": "2020-01-01", "seq_num": 1, "source_code": None, "mapping": "direct"})
    rec.medications = pd.DataFrame({
        "patient_id": ["p1", "p2", "p5"], "visit_id": ["v1", "v3", "v7"],
        "code": ["RXNORM:6809", "LOCAL:X1", "RXNORM:6809"],
        "label": ["metformin", "x-drug", "metformin"], "start": "2020-01-01", "end": None})
    rec.procedures = pd.DataFrame({"patient_id": ["p6"], "visit_id": ["v9"],
                                   "code": ["ICD10PCS:BW03ZZZ"], "time": ["2021-01-01"]})
    return rec.validate()


def _features():
    """Notes of p1, p3, p6; patient-level images of p2, p5; no signal at all (0 rows)."""
    g = torch.Generator().manual_seed(0)
    notes = pd.DataFrame({"patient_id": ["p1", "p3", "p3", "p6"],
                          "visit_id": ["v2", "v4", "v5", "v9"], "key": ["n1", "n2", "n3", "n4"],
                          "time": ["2020-01-02", None, "2019-04-02", "2021-01-01"]})
    images = pd.DataFrame({"patient_id": ["p2", "p5"], "visit_id": [None, None],
                           "key": ["i1", "i2"]})
    signals = pd.DataFrame({"patient_id": [], "visit_id": [], "key": []})
    return {"note": ModalityFeatures("note", notes, torch.randn(4, 4, generator=g)),
            "image": ModalityFeatures("image", images, torch.randn(2, 3, generator=g)),
            "signal": ModalityFeatures("signal", signals, torch.zeros(0, 2))}


def _edges(cohort, et):
    ei = cohort.data[et].edge_index
    return sorted(zip(cohort.ids(et[0], ei[0].tolist()), cohort.ids(et[2], ei[1].tolist()),
                      strict=True))


def _sharded(kg, tmp_path, n_shards, config=None, workers=1):
    shards = split_cohort(_records(), kg, tmp_path / "shards", n_shards, _features(), config)
    parts = build_shards(shards, kg, workers=workers)
    assert [p.name for p in parts] == [f"shard-{k:05d}.pt" for k in range(n_shards)]
    return merge_parts(shards, kg)


CONFIGS = {
    "default": CohortConfig(),
    "used-mean-knn": CohortConfig(kg_scope="used", missing="mean", knn=2),
    "full-token": CohortConfig(kg_scope="full", missing="token"),
    "zero-drop-codes": CohortConfig(missing="zero", unknown_codes="drop", reverse_edges=False),
    "drop": CohortConfig(missing="drop"),
}


@pytest.mark.parametrize(("name", "n_shards"), [
    ("default", 1), ("default", 2), ("default", 3), ("used-mean-knn", 2), ("used-mean-knn", 3),
    ("full-token", 3), ("zero-drop-codes", 2), ("drop", 3)])
def test_merged_equals_single_build(kg, tmp_path, name, n_shards):
    config = CONFIGS[name]
    merged = _sharded(kg, tmp_path, n_shards, config)
    single = CohortBuilder(kg, config).build(_records(), _features())
    assert merged.equals(single)
    assert merged.data.validate()
    # patients keep the records' order, so patient-indexed tensors line up row by row
    assert merged.node_ids["patient"].tolist() == single.node_ids["patient"].tolist()
    assert torch.equal(merged.data["patient"].x, single.data["patient"].x)
    assert merged.metadata["config"] == vars(config)
    assert merged.metadata["shards"]["count"] == n_shards


def test_whole_cohort_parts_are_computed_in_the_merge(kg, tmp_path):
    merged = _sharded(kg, tmp_path, 3, CohortConfig(kg_scope="used", missing="mean", knn=1))
    pieces = [rec.patient_ids for rec, _ in split_records(_records(), 3, _features())]
    assert pieces == [["p1", "p2"], ["p3", "p4"], ["p5", "p6"]]
    # E11.9 (shard 0) and E11 (shard 1) are linked though no shard holds both
    assert ("ICD10CM:E11.9", "ICD10CM:E11") in _edges(merged, ("disease", "is_a", "disease"))
    # LOCAL:X1 is a drug in shard 0 but a diagnosis in shard 1: one disease node, as in
    # a full build, and p2's medication edge points at it
    assert "LOCAL:X1" in merged.node_ids["disease"].tolist()
    assert "drug" not in merged.node_ids or "LOCAL:X1" not in merged.node_ids["drug"].tolist()
    assert _edges(merged, ("visit", "takes_drug", "disease")) == [("v3", "LOCAL:X1")]
    # the mean placeholder of a note-less patient is the cohort mean of all shards' notes
    feats = _features()["note"]
    note = merged.data["note"]
    placeholder = merged.index("note", ["missing:note:p2"])[0]
    assert torch.allclose(note.x[placeholder], feats.x.mean(dim=0))
    # signal has no rows anywhere: masked for everyone, with its width kept
    assert merged.data["patient"].mask_signal.sum() == 0
    assert merged.data["patient"].x_signal.shape == (6, 2)
    assert merged.data["patient", "similar_to", "patient"].num_edges > 0


def test_worker_processes(kg, tmp_path):
    config = CohortConfig(missing="zero", knn=1)
    merged = _sharded(kg, tmp_path, 3, config, workers=2)
    assert merged.equals(CohortBuilder(kg, config).build(_records(), _features()))


def test_shards_are_balanced_and_ordered():
    rec = _records()
    heavy = pd.DataFrame({"patient_id": "p1", "visit_id": "v1", "code": "ICD10CM:I10",
                          "time": "2020-01-01", "seq_num": 1, "source_code": None,
                          "mapping": "direct"}, index=range(50))
    rec.diagnoses = pd.concat([rec.diagnoses, heavy], ignore_index=True)
    pieces = split_records(rec, 3)
    # p1 carries most rows and is alone; every shard still gets a patient
    assert [r.patient_ids for r, _ in pieces] == [["p1"], ["p2", "p3", "p4"], ["p5", "p6"]]
    assert sum(len(r.diagnoses) for r, _ in pieces) == len(rec.diagnoses)
    assert [len(r.visits) for r, _ in pieces] == [2, 4, 3]


def test_split_rejects_bad_input(kg, tmp_path):
    with pytest.raises(ConfigError, match="n_shards=7"):
        split_records(_records(), 7)
    with pytest.raises(ConfigError, match="n_shards=0"):
        split_records(_records(), 0)
    feats = _features()
    table = feats["note"].table.copy()
    table.loc[2, "visit_id"] = "v1"  # p3's row on p1's visit
    feats["note"] = ModalityFeatures("note", table, feats["note"].x)
    with pytest.raises(SchemaError, match="note features: row 2 .* another patient"):
        split_cohort(_records(), kg, tmp_path / "s", 2, feats)
    table.loc[2, ["patient_id", "visit_id"]] = ["p99", None]
    feats["note"] = ModalityFeatures("note", table, feats["note"].x)
    with pytest.raises(SchemaError, match="row 2 refers to a patient that is not"):
        split_cohort(_records(), kg, tmp_path / "s", 2, feats)
    assert not (tmp_path / "s").exists()  # nothing half-written


def test_manifest_and_layout(kg, tmp_path):
    shards = split_cohort(_records(), kg, tmp_path / "shards", 2, _features())
    manifest = read_manifest(shards)
    assert manifest["patients"] == 6 and len(manifest["shards"]) == 2
    assert manifest["modalities"] == {"note": 4, "image": 3, "signal": 2}
    assert manifest["config"] == vars(CohortConfig())
    first = manifest["shards"][0]
    assert first["path"] == "shard-00000" and len(first["sha256"]) == 64
    assert first["rows"]["patients"] + manifest["shards"][1]["rows"]["patients"] == 6
    assert sorted(p.name for p in (shards / "shard-00000" / "features").iterdir()) == [
        "image.parquet", "note.parquet", "signal.parquet"]


def test_features_round_trip(tmp_path):
    feats = _features()
    back = load_features(save_features(feats, tmp_path / "f"))
    assert list(back) == ["note", "image", "signal"]
    for m, f in feats.items():
        assert torch.equal(back[m].x, f.x)
        assert back[m].table["key"].tolist() == f.table["key"].tolist()
    assert back["note"].table["time"].isna().tolist() == [False, True, False, False]
    assert back["signal"].dim == 2 and len(back["signal"].table) == 0


def test_missing_shard_and_part(kg, tmp_path):
    shards = split_cohort(_records(), kg, tmp_path / "shards", 2, _features())
    build_shard(shards, 0, kg)
    with pytest.raises(DataNotFoundError, match=r"shard-00001\.pt: missing part"):
        merge_parts(shards, kg)
    shutil.rmtree(shards / "shard-00001")
    with pytest.raises(DataNotFoundError, match="shard-00001: shard shard-00001 is missing"):
        build_shard(shards, 1, kg)
    with pytest.raises(ConfigError, match="shard 2: expected 0 to 1"):
        build_shard(shards, 2, kg)
    with pytest.raises(DataNotFoundError, match="manifest.json"):
        build_shard(tmp_path / "nowhere", 0, kg)


def test_changed_shard_content_is_refused(kg, tmp_path):
    shards = split_cohort(_records(), kg, tmp_path / "shards", 2, _features())
    path = shards / "shard-00001" / "records" / "diagnoses.parquet"
    table = pd.read_parquet(path)
    table.iloc[:1].to_parquet(path, index=False)
    with pytest.raises(SchemaError, match="shard-00001: content hash .* differs"):
        build_shard(shards, 1, kg)


def _other_kg(kg):
    extra = make_concepts(["ICD10CM:Z00"], ["General examination"], "disease")
    return KnowledgeGraph(pd.concat([kg.concepts, extra], ignore_index=True), kg.relations)


def test_other_kg_is_refused(kg, tmp_path):
    other = _other_kg(kg)
    shards = split_cohort(_records(), kg, tmp_path / "shards", 2, _features())
    with pytest.raises(ConfigError, match="shard-00000: split against knowledge graph"):
        build_shard(shards, 0, other)
    build_shards(shards, kg, workers=1)
    with pytest.raises(ConfigError, match="manifest.json: split against knowledge graph"):
        merge_parts(shards, other)
    # same records split against another KG: identical shard files, parts from the first
    again = split_cohort(_records(), other, tmp_path / "again", 2, _features())
    with pytest.raises(ConfigError, match=r"shard-00000\.pt: built against knowledge graph"):
        merge_parts(again, other, parts=shards / "parts")


def test_other_config_is_refused(kg, tmp_path):
    shards = split_cohort(_records(), kg, tmp_path / "shards", 2, _features())
    build_shards(shards, kg, parts=tmp_path / "parts", workers=1)
    shards = split_cohort(_records(), kg, tmp_path / "shards", 2, _features(),
                          CohortConfig(missing="zero"))
    with pytest.raises(ConfigError, match=r"shard-00000\.pt: built with another config "
                                          r"\(differs in \['missing'\]\)"):
        merge_parts(shards, kg, parts=tmp_path / "parts")


def test_part_of_another_shard_is_refused(kg, tmp_path):
    shards = split_cohort(_records(), kg, tmp_path / "shards", 2, _features())
    parts = build_shards(shards, kg, workers=1)
    shutil.copy(parts[1], parts[0])
    with pytest.raises(SchemaError, match=r"shard-00000\.pt: built from shard 'shard-00001'"):
        merge_parts(shards, kg)


def test_patient_in_two_shards(kg, tmp_path):
    rec = _records()
    folder = tmp_path / "own"
    entries = [write_shard(folder / "site-a", rec.subset(["p1", "p2"])),
               write_shard(folder / "site-b", rec.subset(["p2", "p3"]))]
    write_manifest(folder, entries, kg)
    build_shards(folder, kg, workers=1)
    with pytest.raises(DuplicateIdError) as err:
        merge_parts(folder, kg)
    message = str(err.value)
    assert "patient at row 0 of" in message and "site-b.pt" in message and "site-a.pt" in message
    assert "p2" not in message.replace(str(tmp_path), "")  # no patient identifier


def test_hand_written_shards_equal_single_build(kg, tmp_path):
    rec, feats = _records(), _features()
    groups = [["p4", "p5", "p6"], ["p1", "p2", "p3"]]
    entries = [write_shard(tmp_path / f"site-{k}", rec.subset(g),
                           {m: f.subset(g) for m, f in feats.items()})
               for k, g in enumerate(groups)]
    write_manifest(tmp_path, entries, kg, CohortConfig(missing="token"))
    build_shards(tmp_path, kg, workers=1)
    merged = merge_parts(tmp_path, kg)
    # patients come shard by shard here, so the graphs agree up to row order: every id,
    # edge and feature keyed by ids, except visit.patient, which holds patient row numbers
    assert merged.node_ids["patient"].tolist() == ["p4", "p5", "p6", "p1", "p2", "p3"]
    canon = merged.canonical()
    expected = CohortBuilder(kg, CohortConfig(missing="token")).build(rec, feats).canonical()
    assert canon.keys() == expected.keys()
    for key in canon:
        if key == "node:visit:patient":
            continue
        if torch.is_tensor(canon[key]):
            assert torch.allclose(canon[key].double(), expected[key].double(), equal_nan=True)
        else:
            assert canon[key] == expected[key], key


def test_bad_manifest(kg, tmp_path):
    shards = split_cohort(_records(), kg, tmp_path / "shards", 2)
    (shards / "manifest.json").write_text('{"format": "medkg-cohort-shards/1",\n "shards": [}')
    with pytest.raises(ParseError, match=r"manifest.json:2: not valid JSON"):
        read_manifest(shards)
    (shards / "manifest.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(SchemaError, match="format 'other'"):
        read_manifest(shards)


def test_cli_split_build_merge(kg, tmp_path, capsys):
    rec_dir = _records().save(tmp_path / "rec")
    feat_dir = save_features(_features(), tmp_path / "feats")
    kg_dir = kg.save(tmp_path / "kg")
    config = tmp_path / "cohort.json"
    config.write_text(json.dumps({"missing": "mean", "knn": 1}))
    shards = str(tmp_path / "shards")
    assert main(["split", "--records", str(rec_dir), "--features", str(feat_dir), "--kg",
                 str(kg_dir), "--shards", "3", "--out", shards, "--config", str(config)]) == 0
    assert main(["build", shards, "--kg", str(kg_dir), "--shard", "2"]) == 0
    code = main(["merge", shards, "--kg", str(kg_dir), "--out", str(tmp_path / "c.pt")])
    err = capsys.readouterr().err
    assert code == 2 and "shard-00000.pt: missing part" in err and "Traceback" not in err
    assert main(["build", shards, "--kg", str(kg_dir), "--workers", "2"]) == 0
    assert main(["merge", shards, "--kg", str(kg_dir), "--out", str(tmp_path / "c.pt")]) == 0
    merged = CohortGraph.load(tmp_path / "c.pt")
    single = CohortBuilder(kg, CohortConfig(missing="mean", knn=1)).build(_records(), _features())
    assert merged.equals(single)
    config.write_text(json.dumps({"misssing": "mean"}))
    assert main(["split", "--records", str(rec_dir), "--kg", str(kg_dir), "--shards", "2",
                 "--out", shards, "--config", str(config)]) == 2
    assert "unknown field(s) ['misssing']" in capsys.readouterr().err
    assert np.all(np.isfinite(merged.data["patient"].x.numpy()))


def test_corrupt_part_and_misuse(kg, tmp_path):
    shards = split_cohort(_records(), kg, tmp_path / "shards", 2)
    parts = build_shards(shards, kg, workers=1)
    parts[1].write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(SchemaError, match=r"shard-00001\.pt: not a readable medkg cohort part"):
        merge_parts(shards, kg)
    builder = CohortBuilder(kg)
    full = builder.build(_records())
    with pytest.raises(ConfigError, match="expects a graph from build_part"):
        builder.finish(full)
    with pytest.raises(SchemaError, match="b.pt: not a graph part"):
        union_parts([builder.build_part(_records()), full], ["a.pt", "b.pt"])
    with pytest.raises(ConfigError, match="part built with config"):
        CohortBuilder(kg, CohortConfig(missing="zero")).finish(builder.build_part(_records()))


def test_worker_errors_name_the_shard(kg, tmp_path):
    known = make_concepts(["RXNORM:6809", "ICD10PCS:BW03ZZZ"], ["metformin", "x-ray"],
                          ["drug", "procedure"])
    kg_plus = KnowledgeGraph(pd.concat([kg.concepts, known], ignore_index=True), kg.relations)
    config = CohortConfig(unknown_codes="raise")
    shards = split_cohort(_records(), kg_plus, tmp_path / "shards", 3, config=config)
    # only shard 1 (p3, p4) holds a code the KG lacks; the error survives the trip back
    with pytest.raises(UnknownCodeError) as err:
        build_shards(shards, kg_plus, workers=2, indices=[1, 2])
    assert "LOCAL:X1" in str(err.value) and "shard-00001" in str(err.value)
    assert "set unknown_codes" in str(err.value)
