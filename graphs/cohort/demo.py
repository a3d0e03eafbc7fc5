"""Tiny built-in inputs for docstring examples and quick experiments.

Examples:
    >>> tiny_records().summary()["diagnoses"]
    4
    >>> len(tiny_kg().concepts)
    6
"""

from __future__ import annotations

import pandas as pd
import torch

from graphs.cohort.features import ModalityFeatures
from ontologies.schema import make_concepts, make_relations

__all__ = ["tiny_kg", "tiny_records", "tiny_features"]


def tiny_kg():
    """A 6-concept ICD-10-CM-shaped knowledge graph (two diabetes codes, hypertension...)."""
    from kg.graph import KnowledgeGraph

    concepts = make_concepts(
        ["ICD10CM:CH04", "ICD10CM:E08-E13", "ICD10CM:E11", "ICD10CM:E11.9", "ICD10CM:E11.65",
         "ICD10CM:I10"],
        ["Endocrine diseases", "Diabetes mellitus", "Type 2 diabetes mellitus",
         "Type 2 diabetes mellitus without complications",
         "Type 2 diabetes mellitus with hyperglycemia", "Essential (primary) hypertension"],
        ["category", "category", "disease", "disease", "disease", "disease"])
    relations = make_relations(
        ["ICD10CM:E08-E13", "ICD10CM:E11", "ICD10CM:E11.9", "ICD10CM:E11.65"], "is_a",
        ["ICD10CM:CH04", "ICD10CM:E08-E13", "ICD10CM:E11", "ICD10CM:E11"], provenance="demo")
    return KnowledgeGraph(concepts, relations, {"source": "graphs.cohort.demo"})


def tiny_records():
    """Two patients, three visits, four diagnoses, one drug, one note."""
    from graphs.records import PatientRecords

    rec = PatientRecords.empty()
    rec.patients = pd.DataFrame({"patient_id": ["p1", "p2"], "sex": ["F", "M"],
                                 "birth_date": ["1950-01-01", "1960-06-01"],
                                 "death_date": [None, None]})
    rec.visits = pd.DataFrame({"patient_id": ["p1", "p1", "p2"], "visit_id": ["v1", "v2", "v3"],
                               "start": ["2020-01-01", "2021-01-01", "2020-05-01"],
                               "end": ["2020-01-03", "2021-01-02", "2020-05-01"],
                               "visit_type": ["inpatient", "outpatient", "outpatient"]})
    rec.diagnoses = pd.DataFrame({
        "patient_id": ["p1", "p1", "p1", "p2"], "visit_id": ["v1", "v1", "v2", "v3"],
        "code": ["ICD10CM:E11.9", "ICD10CM:I10", "ICD10CM:E11.65", "ICD10CM:I10"],
        "time": ["2020-01-01", "2020-01-01", "2021-01-01", "2020-05-01"],
        "seq_num": [1, 2, 1, 1], "source_code": ["ICD10CM:E11.9", "ICD10CM:I10",
                                                  "ICD10CM:E11.65", "ICD10CM:I10"],
        "mapping": "direct"})
    rec.medications = pd.DataFrame({"patient_id": ["p1"], "visit_id": ["v1"],
                                     "code": ["RXNORM:6809"], "label": ["metformin"],
                                     "start": ["2020-01-01"], "end": [None]})
    rec.notes = pd.DataFrame({"patient_id": ["p1"], "visit_id": ["v2"], "note_id": ["n1"],
                              "category": ["discharge"], "time": ["2021-01-02"],
                              "text": ["Polyuria; HbA1c 9.1%."]})
    return rec.validate()


def tiny_features(dim: int = 4) -> dict[str, ModalityFeatures]:
    """Deterministic note embeddings for :func:`tiny_records` (one note)."""
    table = pd.DataFrame({"patient_id": ["p1"], "visit_id": ["v2"], "key": ["n1"]})
    return {"note": ModalityFeatures("note", table, torch.arange(dim, dtype=torch.float32)[None])}
