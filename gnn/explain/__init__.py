"""Explanations mapped back to clinical names: occlusion, attention, GNNExplainer, paths,
similar patients."""

from gnn.explain.attention import (
    AttentionRecord,
    attention_table,
    capture_attention,
    concept_attention,
    homogeneous_index,
)
from gnn.explain.explainer import LabelModel, PredictionExplanation, explain_prediction
from gnn.explain.lookup import label_map, record_table
from gnn.explain.occlusion import (
    ModalityImportance,
    modality_importance,
    modality_names,
    occlude_modality,
)
from gnn.explain.paths import ConceptPaths, Step, render_path
from gnn.explain.similar import patient_conditions, similar_patients

__all__ = [
    "modality_names", "occlude_modality", "modality_importance", "ModalityImportance",
    "AttentionRecord", "capture_attention", "attention_table", "concept_attention",
    "homogeneous_index",
    "LabelModel", "PredictionExplanation", "explain_prediction",
    "ConceptPaths", "Step", "render_path",
    "patient_conditions", "similar_patients",
    "label_map", "record_table",
]
