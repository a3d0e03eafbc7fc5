"""What a prediction task hands to training: inputs without targets, labels, splits.

A task turns patient records into a :class:`TaskData`: the records the model may see
(``inputs``, with every target removed so nothing leaks), a label matrix ``y``, the label
vocabulary, and seeded patient-level train/validation/test splits shared by every model and
baseline.

Examples:
    >>> import torch
    >>> y = torch.tensor([[1., 0.], [0., 1.], [1., 0.], [0., 1.], [1., 1.], [0., 0.]] * 5)
    >>> s = patient_split(y, fractions=(0.6, 0.2, 0.2), seed=0)
    >>> sorted(len(v) for v in s.values())
    [6, 6, 18]
    >>> set(s["train"]) & set(s["test"])
    set()
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ontologies.errors import ConfigError
from ontologies.registry import Registry

__all__ = ["TaskData", "TASKS", "get", "patient_split"]

#: Task builders by name ("comorbidity", "treatment").
TASKS: Registry = Registry("task")


def get(name: str, **options: Any) -> TaskData:
    """Builds the task registered as ``name``."""
    return TASKS.get(name)(**options)


@dataclass
class TaskData:
    """Inputs, labels and splits of one task.

    Attributes:
        task: Task name.
        inputs: ``PatientRecords`` the model may see (targets removed).
        patient_ids: Patients with a label row, in the order of ``y``.
        y: Float label matrix ``[patients, labels]``.
        label_ids: Label vocabulary (CURIEs).
        label_names: Human names of the labels.
        splits: ``train``/``val``/``test`` -> indices into ``patient_ids``.
        history: ``[patients, labels]`` multi-hot of labels already present in ``inputs``
            (the "copy the history" baseline); zeros when not meaningful.
        metadata: Settings and counts.
    """

    task: str
    inputs: Any
    patient_ids: list[str]
    y: torch.Tensor
    label_ids: list[str]
    label_names: list[str]
    splits: dict[str, np.ndarray]
    history: torch.Tensor
    metadata: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        sizes = ", ".join(f"{k}={len(v)}" for k, v in self.splits.items())
        return (f"TaskData({self.task!r}, patients={len(self.patient_ids)}, "
                f"labels={len(self.label_ids)}, {sizes})")


def patient_split(y: torch.Tensor, fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
                  seed: int = 0) -> dict[str, np.ndarray]:
    """Seeded patient-level split, stratified by each patient's rarest positive label.

    Multi-label stratification has no exact solution; grouping patients by their rarest
    label and splitting every group in the same proportions keeps rare labels present in
    all three parts, which plain random splits often do not.

    Args:
        y: Label matrix ``[patients, labels]``.
        fractions: Train, validation, test fractions (sum to 1).
        seed: Random seed.

    Returns:
        ``{"train", "val", "test"}`` -> sorted row indices, disjoint and covering all rows.
    """
    if len(fractions) != 3 or min(fractions) < 0 or abs(sum(fractions) - 1) > 1e-6:
        raise ConfigError(f"fractions={fractions!r}: expected three non-negative numbers "
                          "summing to 1")
    y = torch.as_tensor(y).float()
    n = y.shape[0]
    prevalence = y.sum(0)
    weight = torch.where(y > 0, prevalence.unsqueeze(0), torch.full_like(y, float("inf")))
    key = torch.where(y.sum(1) > 0, weight.argmin(1), torch.full((n,), -1)).numpy()
    rng = np.random.default_rng(seed)
    parts: dict[str, list[np.ndarray]] = {"train": [], "val": [], "test": []}
    carry = 0.0
    for k in np.unique(key):
        members = rng.permutation(np.flatnonzero(key == k))
        n_val = int(round(len(members) * fractions[1] + carry))
        carry += len(members) * fractions[1] - n_val
        n_test = int(round(len(members) * fractions[2]))
        parts["val"].append(members[:n_val])
        parts["test"].append(members[n_val:n_val + n_test])
        parts["train"].append(members[n_val + n_test:])
    return {name: np.sort(np.concatenate(p)) if p else np.array([], dtype=np.int64)
            for name, p in parts.items()}
