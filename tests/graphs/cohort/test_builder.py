"""The merged knowledge + patient graph: counts, options, incremental updates, storage."""

import pandas as pd
import pytest
import torch

from graphs.cohort import CohortBuilder, CohortConfig, CohortGraph, ModalityFeatures
from graphs.cohort.demo import tiny_features, tiny_kg, tiny_records
from ontologies.errors import ConfigError, DataNotFoundError, SchemaError, UnknownCodeError


@pytest.fixture(scope="module")
def kg():
    return tiny_kg()


def _edges(cohort, et):
    s, r, d = et
    ei = cohort.data[et].edge_index
    return sorted(zip(cohort.ids(s, ei[0].tolist()), cohort.ids(d, ei[1].tolist())))


def test_counts_and_validity(kg):
    cohort = CohortBuilder(kg).build(tiny_records(), tiny_features())
    data = cohort.data
    assert data.validate()
    assert data["patient"].num_nodes == 2
    assert data["visit"].num_nodes == 3
    # used codes E11.9, E11.65, I10 plus ancestors E11 (disease), E08-E13 and CH04 (category)
    assert sorted(cohort.node_ids["disease"]) == ["ICD10CM:E11", "ICD10CM:E11.65",
                                                  "ICD10CM:E11.9", "ICD10CM:I10"]
    assert sorted(cohort.node_ids["category"]) == ["ICD10CM:CH04", "ICD10CM:E08-E13"]
    assert data["visit", "has_diagnosis", "disease"].num_edges == 4
    assert _edges(cohort, ("visit", "next_visit", "visit")) == [("v1", "v2")]
    assert _edges(cohort, ("disease", "is_a", "disease")) == [
        ("ICD10CM:E11.65", "ICD10CM:E11"), ("ICD10CM:E11.9", "ICD10CM:E11")]
    assert _edges(cohort, ("disease", "is_a", "category")) == [("ICD10CM:E11", "ICD10CM:E08-E13")]
    # the drug is not in the KG: added as a drug node named from the record
    assert list(cohort.node_ids["drug"]) == ["RXNORM:6809"]
    assert _edges(cohort, ("visit", "takes_drug", "drug")) == [("v1", "RXNORM:6809")]
    # reverse edges mirror forward ones
    fwd = data["visit", "has_diagnosis", "disease"].edge_index
    assert torch.equal(data["disease", "rev_has_diagnosis", "visit"].edge_index, fwd.flip(0))
    # learnable concept features: node ids, not vectors
    assert torch.equal(data["disease"].node_id, torch.arange(4))


def test_patient_summaries_and_masks(kg):
    cohort = CohortBuilder(kg).build(tiny_records(), tiny_features())
    p = cohort.data["patient"]
    assert p.mask_note.tolist() == [True, False]
    assert torch.equal(p.x_note[0], torch.arange(4.0))
    assert torch.equal(p.x_note[1], torch.zeros(4))
    assert p.x.shape == (2, 5)
    age_p1 = p.x[0, 0].item() * 100
    assert 70.9 < age_p1 < 71.1  # born 1950-01-01, last visit 2021-01-01


@pytest.mark.parametrize("strategy", ["zero", "mean", "token"])
def test_placeholder_strategies(kg, strategy):
    feats = {"note": ModalityFeatures("note", pd.DataFrame(
        {"patient_id": ["p1", "p1"], "visit_id": ["v1", "v2"], "key": ["a", "b"]}),
        torch.tensor([[1.0, 3.0], [3.0, 5.0]]))}
    cohort = CohortBuilder(kg, CohortConfig(missing=strategy)).build(tiny_records(), feats)
    note = cohort.data["note"]
    assert note.num_nodes == 3 and note.missing.tolist() == [False, False, True]
    expected = [2.0, 4.0] if strategy == "mean" else [0.0, 0.0]
    assert note.x[2].tolist() == expected
    assert _edges(cohort, ("patient", "has_note", "note")) == [("p2", "missing:note:p2")]
    assert cohort.data["patient"].mask_note.tolist() == [True, False]


def test_drop_strategy_has_no_mask(kg):
    cohort = CohortBuilder(kg, CohortConfig(missing="drop")).build(tiny_records(), tiny_features())
    assert "mask_note" not in cohort.data["patient"]
    assert cohort.data["note"].num_nodes == 1


def test_unknown_code_policies(kg):
    with pytest.raises(UnknownCodeError, match="RXNORM:6809"):
        CohortBuilder(kg, CohortConfig(unknown_codes="raise")).build(tiny_records())
    cohort = CohortBuilder(kg, CohortConfig(unknown_codes="drop")).build(tiny_records())
    assert "drug" not in cohort.data.node_types


def test_full_scope_keeps_unused_concepts(kg):
    cohort = CohortBuilder(kg, CohortConfig(kg_scope="full")).build(tiny_records())
    total = sum(len(cohort.node_ids[t]) for t in ("disease", "category"))
    assert total == len(kg.concepts)


def test_knn_similarity_edges(kg):
    feats = {"note": ModalityFeatures("note", pd.DataFrame(
        {"patient_id": ["p1", "p2"], "visit_id": ["v1", "v3"], "key": ["a", "b"]}),
        torch.tensor([[1.0, 0.0], [1.0, 0.1]]))}
    cohort = CohortBuilder(kg, CohortConfig(knn=1)).build(tiny_records(), feats)
    assert _edges(cohort, ("patient", "similar_to", "patient")) == [("p1", "p2"), ("p2", "p1")]


def test_extend_equals_rebuild(kg):
    records, feats = tiny_records(), tiny_features()
    builder = CohortBuilder(kg, CohortConfig(missing="token", knn=1))
    full = builder.build(records, feats)
    first = builder.build(records.subset(["p1"]), {"note": feats["note"].subset(["p1"])})
    grown = builder.extend(first, records.subset(["p2"]), {"note": feats["note"].subset(["p2"])})
    assert grown.equals(full)
    assert not first.equals(full)


def test_extend_with_new_observation_of_known_patient(kg):
    records = tiny_records()
    builder = CohortBuilder(kg)
    base = builder.build(records)
    extra = records.subset(["p2"])
    extra.diagnoses = pd.DataFrame({"patient_id": ["p2"], "visit_id": ["v3"],
                                    "code": ["ICD10CM:E11.9"], "time": ["2020-05-01"],
                                    "seq_num": [2], "source_code": ["ICD10CM:E11.9"],
                                    "mapping": ["direct"]})
    grown = builder.extend(base, extra)
    assert grown.data["visit", "has_diagnosis", "disease"].num_edges == 5
    assert grown.data["patient"].num_nodes == 2  # no duplicate patient


def test_save_load_round_trip(kg, tmp_path):
    cohort = CohortBuilder(kg, CohortConfig(missing="mean")).build(tiny_records(), tiny_features())
    path = cohort.save(tmp_path / "cohort.pt")
    again = CohortGraph.load(path)
    assert again.equals(cohort)
    assert again.metadata["config"]["missing"] == "mean"
    assert again.data.validate()


def test_load_errors(tmp_path):
    with pytest.raises(DataNotFoundError):
        CohortGraph.load(tmp_path / "none.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a torch file")
    with pytest.raises(SchemaError, match="bad.pt"):
        CohortGraph.load(bad)


def test_bad_config():
    with pytest.raises(ConfigError, match="knn"):
        CohortConfig(knn=-1)


def test_features_must_match_rows():
    from ontologies.errors import InputError

    with pytest.raises(InputError, match="2 rows"):
        ModalityFeatures("note", pd.DataFrame({"patient_id": ["p"], "visit_id": ["v"],
                                               "key": ["k"]}), torch.zeros(2, 3))


def test_unknown_codes_in_a_table_without_labels(kg):
    records = tiny_records()
    records.procedures = pd.DataFrame({"patient_id": ["p1", "p1", "p2"],
                                       "visit_id": ["v1", "v2", "v3"],
                                       "code": ["ICD10PCS:BW03ZZZ", "ICD10PCS:BW03ZZZ",
                                                "ICD10PCS:4A02X4Z"],
                                       "time": ["2020-01-01", "2021-01-01", "2020-05-01"]})
    cohort = CohortBuilder(kg).build(records)
    assert list(cohort.node_ids["procedure"]) == ["ICD10PCS:BW03ZZZ", "ICD10PCS:4A02X4Z"]
    assert cohort.data["visit", "has_procedure", "procedure"].num_edges == 3
