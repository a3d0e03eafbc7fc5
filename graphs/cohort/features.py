"""Modality features attached to patients: one row per observation plus its embedding.

A :class:`ModalityFeatures` pairs a small table (``patient_id``, ``visit_id``, ``key``,
``time``) with a float tensor ``x`` of shape ``[rows, dim]``, where ``key`` identifies the
observation (a note id, an image path). The cohort graph turns each row into a modality
node linked to its visit.

Examples:
    >>> import pandas as pd, torch
    >>> table = pd.DataFrame({"patient_id": ["p1", "p2"], "visit_id": ["v1", "v2"],
    ...                       "key": ["n1", "n2"]})
    >>> f = ModalityFeatures("note", table, torch.zeros(2, 4))
    >>> f
    ModalityFeatures('note', rows=2, dim=4)
    >>> f.subset(["p2"]).table["key"].tolist()
    ['n2']
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from ontologies.errors import InputError, SchemaError

__all__ = ["ModalityFeatures", "MODALITY_TYPES"]

#: Modality node types the cohort graph knows; each may be absent.
MODALITY_TYPES = ("note", "image", "volume", "slide", "signal", "audio", "genomic", "video")

_REQUIRED = ["patient_id", "visit_id", "key"]


@dataclass
class ModalityFeatures:
    """Embeddings of one modality's observations.

    Attributes:
        modality: One of :data:`MODALITY_TYPES`.
        table: Columns ``patient_id``, ``visit_id``, ``key`` and optionally ``time``.
        x: Float tensor ``[len(table), dim]``.
    """

    modality: str
    table: pd.DataFrame
    x: torch.Tensor

    def __post_init__(self) -> None:
        if self.modality not in MODALITY_TYPES:
            raise SchemaError(f"modality {self.modality!r}: expected one of "
                              f"{', '.join(MODALITY_TYPES)}")
        missing = [c for c in _REQUIRED if c not in self.table.columns]
        if missing:
            raise SchemaError(f"{self.modality} features: missing columns {missing}; "
                              f"expected {_REQUIRED} (+ optional time)")
        if not torch.is_tensor(self.x) or self.x.dim() != 2:
            raise InputError(f"{self.modality} features: x must be a 2-D tensor [rows, dim], "
                             f"got {type(self.x).__name__} of shape "
                             f"{tuple(getattr(self.x, 'shape', ()))}")
        if self.x.shape[0] != len(self.table):
            raise InputError(f"{self.modality} features: x has {self.x.shape[0]} rows but the "
                             f"table has {len(self.table)}; expected one embedding per row")
        if not torch.isfinite(self.x).all():
            row = int(torch.nonzero(~torch.isfinite(self.x).all(dim=1))[0, 0])
            raise InputError(f"{self.modality} features: non-finite value in row {row}")
        self.table = self.table.reset_index(drop=True).copy()
        for col in _REQUIRED:
            self.table[col] = self.table[col].astype("string")
        if "time" not in self.table.columns:
            self.table["time"] = pd.Series(pd.NaT, index=self.table.index, dtype="datetime64[ns]")
        self.x = self.x.float()
        dup = self.table["key"].duplicated()
        if dup.any():
            row = int(np.flatnonzero(dup.to_numpy())[0])
            raise SchemaError(f"{self.modality} features: duplicate key at row {row}; "
                              "each observation needs a unique key")

    @property
    def dim(self) -> int:
        """Embedding size."""
        return int(self.x.shape[1])

    def subset(self, patient_ids: Iterable[str]) -> ModalityFeatures:
        """Rows of the given patients, in the original order."""
        keep = self.table["patient_id"].isin(list(patient_ids)).to_numpy()
        return ModalityFeatures(self.modality, self.table[keep], self.x[torch.from_numpy(np.array(keep, dtype=bool))])

    @staticmethod
    def concat(parts: list[ModalityFeatures]) -> ModalityFeatures:
        """Stacks features of the same modality."""
        if not parts:
            raise InputError("concat needs at least one ModalityFeatures")
        mods = {p.modality for p in parts}
        if len(mods) != 1:
            raise SchemaError(f"cannot concat different modalities {sorted(mods)}")
        return ModalityFeatures(parts[0].modality,
                                pd.concat([p.table for p in parts], ignore_index=True),
                                torch.cat([p.x for p in parts]))

    def __repr__(self) -> str:
        return f"ModalityFeatures({self.modality!r}, rows={len(self.table)}, dim={self.dim})"
