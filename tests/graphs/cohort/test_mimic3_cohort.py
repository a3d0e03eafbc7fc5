"""Done-when of the patient-graph issue: MIMIC-III fixture + ICD-10-CM KG + real encoders.

The cohort graph built from the written MIMIC-III-format fixture, the full ICD-10-CM
knowledge graph and the MiniLM text encoder must pass PyG's validate() with the node and
edge counts worked out from the fixture by hand.
"""

from pathlib import Path

import pytest
import torch

import ontologies
from graphs.cohort import CohortBuilder, CohortConfig
from graphs.embed import embed_records
from graphs.records import read_records
from kg import KnowledgeGraph

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "mimic3"


@pytest.fixture(scope="module")
def built():
    kg = KnowledgeGraph.from_ontologies(ontologies.load("icd10cm"))
    records = read_records("mimic3", FIXTURE)
    features = embed_records(records, progress=False)  # notes -> MiniLM, 384-d
    cohort = CohortBuilder(kg, CohortConfig(missing="mask")).build(records, features)
    return kg, records, cohort


def test_validates_with_expected_counts(built):
    kg, records, cohort = built
    data = cohort.data
    assert data.validate()
    counts = {t: data[t].num_nodes for t in data.node_types}
    assert counts["patient"] == 4 and counts["visit"] == 6
    assert counts["note"] == 3 and counts["drug"] == 5 and counts["procedure"] == 5
    edges = {et: data[et].num_edges for et in data.edge_types}
    assert edges["patient", "has_visit", "visit"] == 6
    assert edges["visit", "next_visit", "visit"] == 2      # 1001->1002, 1004->1005
    assert edges["visit", "has_diagnosis", "disease"] == 17
    assert edges["visit", "takes_drug", "drug"] == 5
    assert edges["visit", "has_procedure", "procedure"] == 5
    assert edges["visit", "has_note", "note"] == 2
    assert edges["patient", "has_note", "note"] == 1        # note 403 has no admission
    # 13 ICD-10-CM codes after GEM mapping, their is_a ancestors, and the unmapped ICD-9 code
    codes = sorted(set(records.diagnoses["code"]) - {"ICD9CM:365.70"})
    assert len(codes) == 13
    closure = set(kg.ancestors(codes, include_self=True))
    types = kg.concepts.set_index("id")["semantic_type"]
    n_disease = sum(types[c] == "disease" for c in closure)
    assert counts["disease"] == n_disease + 1
    assert counts["category"] == sum(types[c] == "category" for c in closure)
    is_a = sum(n for (s, r, d), n in edges.items() if r == "is_a")
    chapters = sum(c.startswith("ICD10CM:CH") for c in closure)
    assert is_a == len(closure) - chapters  # every concept but the chapter roots: one parent
    # real text embeddings: unit-norm 384-d rows
    assert data["note"].x.shape == (3, 384)
    assert torch.allclose(data["note"].x.norm(dim=1), torch.ones(3), atol=1e-4)
    assert data["patient"].mask_note.tolist() == [True, False, True, False]


def test_ids_map_both_ways(built):
    _, _, cohort = built
    row = cohort.index("disease", ["ICD10CM:E11.9"])[0]
    assert cohort.ids("disease", [row]) == ["ICD10CM:E11.9"]
    assert set(cohort.node_ids["patient"]) == {"101", "102", "103", "104"}
