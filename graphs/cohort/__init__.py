"""The merged knowledge + patient graph (PyG HeteroData with id maps)."""

from graphs.cohort.builder import EVENT_TABLES, CohortBuilder, build_cohort_graph
from graphs.cohort.config import KG_SCOPES, MISSING_STRATEGIES, CohortConfig
from graphs.cohort.features import MODALITY_TYPES, ModalityFeatures
from graphs.cohort.graph import CohortGraph
from graphs.cohort.similarity import knn_edges

__all__ = [
    "CohortBuilder", "build_cohort_graph", "EVENT_TABLES", "CohortConfig", "KG_SCOPES",
    "MISSING_STRATEGIES", "ModalityFeatures", "MODALITY_TYPES", "CohortGraph", "knn_edges",
]
