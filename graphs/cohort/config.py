"""Settings of the cohort-graph builder.

Examples:
    >>> CohortConfig(missing="zero").missing
    'zero'
    >>> CohortConfig(missing="guess")
    Traceback (most recent call last):
    ...
    ontologies.errors.ConfigError: missing='guess': expected one of mask, zero, mean, token, drop
"""

from __future__ import annotations

from dataclasses import dataclass

from ontologies.errors import ConfigError

__all__ = ["CohortConfig", "MISSING_STRATEGIES", "KG_SCOPES"]

#: How an absent modality is represented (see :mod:`graphs.cohort.builder`).
MISSING_STRATEGIES = ("mask", "zero", "mean", "token", "drop")
#: Which knowledge-graph concepts enter the cohort graph.
KG_SCOPES = ("used+ancestors", "used", "full")


@dataclass
class CohortConfig:
    """What the cohort graph contains and how gaps are filled.

    Attributes:
        kg_scope: Concepts to include; ``used+ancestors`` keeps the codes patients carry
            plus their is_a ancestors (the hierarchy that lets models share evidence
            between sibling codes) without the ~100k unused ICD codes.
        concept_features: ``learnable`` stores ``node_id`` for an ``nn.Embedding``;
            ``text`` embeds concept labels with the text encoder.
        missing: ``mask``: no node, ``mask_<m>`` exposed; ``drop``: no node, no mask;
            ``zero``/``mean``: a placeholder node with zero/mean features; ``token``: a
            placeholder node flagged ``missing`` for a learned mask token.
        unknown_codes: Codes absent from the KG are ``add``-ed as new concept nodes,
            ``drop``-ped, or ``raise`` an error.
        knn: Patient-similarity edges per patient (0 = none).
        reverse_edges: Add ``rev_<relation>`` edges so messages flow both ways.
    """

    kg_scope: str = "used+ancestors"  # small graph that still carries the hierarchy
    concept_features: str = "learnable"  # no encoder needed; "text" for label embeddings
    missing: str = "mask"  # the least invasive default: nothing invented
    unknown_codes: str = "add"  # records often carry drugs the KG lacks
    knn: int = 0  # similarity edges are opt-in: they cost a dense cosine pass
    reverse_edges: bool = True  # PyG message passing is directed

    def __post_init__(self) -> None:
        _choice("kg_scope", self.kg_scope, KG_SCOPES)
        _choice("concept_features", self.concept_features, ("learnable", "text"))
        _choice("missing", self.missing, MISSING_STRATEGIES)
        _choice("unknown_codes", self.unknown_codes, ("add", "drop", "raise"))
        if not isinstance(self.knn, int) or self.knn < 0:
            raise ConfigError(f"knn={self.knn!r}: expected a non-negative integer")


def _choice(name: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{name}={value!r}: expected one of {', '.join(choices)}")
