"""Patients, encoders and the merged knowledge + patient graph.

Subpackages: :mod:`graphs.records` (patient-record model and readers),
:mod:`graphs.encoders` (modality encoders), :mod:`graphs.cohort` (the merged HeteroData),
:mod:`graphs.synthetic` (the planted-truth demo cohort); :mod:`graphs.patient` holds the
per-patient networkx view and :mod:`graphs.embed` turns records into modality embeddings.
"""

from graphs.cohort import CohortBuilder, CohortConfig, CohortGraph, ModalityFeatures
from graphs.embed import DEFAULT_ENCODERS, FAST_OPTIONS, embed_records
from graphs.patient import PatientGraph
from graphs.records import PatientRecords, read_records

__all__ = ["CohortBuilder", "CohortConfig", "CohortGraph", "ModalityFeatures", "PatientGraph",
           "PatientRecords", "read_records", "embed_records", "DEFAULT_ENCODERS", "FAST_OPTIONS"]
