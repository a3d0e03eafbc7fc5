"""Comorbidity prediction: from a patient's history, predict the conditions of a visit.

Two cut-offs:

- ``last_visit`` (default): the index visit is each patient's last visit; the model sees
  only earlier visits (every table, notes and modalities included) and predicts the
  condition groups diagnosed at the index visit. ``only_new=True`` keeps only groups the
  history does not already contain (new onsets), the harder, clinically sharper target.
- ``heldout``: for every patient a random ``heldout_fraction`` of their condition groups
  is hidden; all diagnosis rows of those groups are removed from the inputs and become the
  targets; the rest of the record stays visible.

Targets never reach ``TaskData.inputs``; ``tests/gnn/test_tasks.py`` checks it.

Examples:
    >>> from graphs.cohort.demo import tiny_records
    >>> t = comorbidity_task(tiny_records(), min_count=1)
    >>> t.label_ids, t.y.tolist(), t.history.tolist()
    (['ICD10CM:E11'], [[1.0]], [[1.0]])
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch

from gnn.tasks.base import TASKS, TaskData, patient_split
from gnn.tasks.cutoff import cut_at_last_visit, drop_rows
from gnn.tasks.labels import group_codes
from ontologies.errors import ConfigError, InputError

__all__ = ["comorbidity_task"]


@TASKS.register("comorbidity")
def comorbidity_task(records: Any, kg: Any = None, granularity: str = "category",
                     cutoff: str = "last_visit", only_new: bool = False, min_count: int = 10,
                     max_labels: int | None = None, heldout_fraction: float = 0.3,
                     fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
                     seed: int = 0) -> TaskData:
    """Builds the comorbidity task.

    Args:
        records: Validated ``PatientRecords`` with ICD-10-CM diagnoses.
        kg: Knowledge graph (for ``granularity="block"``).
        granularity: ``code``, ``category``, ``block`` or ``ccsr``.
        cutoff: ``last_visit`` or ``heldout`` (see module docstring).
        only_new: With ``last_visit``, predict only groups absent from the history.
        min_count: Keep labels with at least this many positive patients.
        max_labels: Keep at most this many most frequent labels.
        heldout_fraction: Share of a patient's groups hidden with ``heldout``.
        fractions: Train/validation/test fractions of the patient-level split.
        seed: Seed of the held-out choice and of the split.

    Returns:
        The task; patients without any kept label at the index are still included (an
        all-zero row is a valid answer).
    """
    records = records.validate()
    dx = records.diagnoses
    groups = group_codes(dx["code"], granularity, kg)
    if cutoff == "last_visit":
        inputs, index = cut_at_last_visit(records)
        target_rows = dx["visit_id"].isin(list(index["visit_id"])).fillna(False).to_numpy()
        targets = pd.DataFrame({"patient_id": dx["patient_id"][target_rows].to_numpy(),
                                "group": groups[target_rows].to_numpy()})
        hist_dx = inputs.diagnoses
        history = pd.DataFrame({"patient_id": hist_dx["patient_id"].to_numpy(),
                                "group": group_codes(hist_dx["code"], granularity, kg).to_numpy()})
        patients = index["patient_id"].astype(str).tolist()
    elif cutoff == "heldout":
        inputs, targets, history, patients = _heldout(records, groups, heldout_fraction, seed)
    else:
        raise ConfigError(f"cutoff={cutoff!r}: expected 'last_visit' or 'heldout'")
    targets = targets.dropna().drop_duplicates()
    history = history.dropna().drop_duplicates()
    if only_new:
        if cutoff != "last_visit":
            raise ConfigError("only_new applies to cutoff='last_visit'")
        seen = targets.merge(history, on=["patient_id", "group"], how="left", indicator=True)
        targets = seen[seen["_merge"] == "left_only"][["patient_id", "group"]]
    counts = targets["group"].value_counts()
    vocab = counts[counts >= min_count]
    if max_labels is not None:
        vocab = vocab.iloc[:max_labels]
    if vocab.empty:
        raise InputError(f"no condition group reaches min_count={min_count} positive patients "
                         f"({len(patients)} patients with history); lower min_count or use a "
                         "coarser granularity")
    label_ids = sorted(vocab.index.astype(str))
    y = _multi_hot(targets, patients, label_ids)
    hist = _multi_hot(history, patients, label_ids)
    names = _names(label_ids, kg)
    return TaskData("comorbidity", inputs, patients, y, label_ids, names,
                    patient_split(y, fractions, seed), hist,
                    {"granularity": granularity, "cutoff": cutoff, "only_new": only_new,
                     "min_count": min_count, "seed": seed})


def _heldout(records: Any, groups: pd.Series, fraction: float, seed: int):
    if not 0 < fraction < 1:
        raise ConfigError(f"heldout_fraction={fraction!r}: expected a number in (0, 1)")
    dx = records.diagnoses
    pairs = pd.DataFrame({"patient_id": dx["patient_id"].to_numpy(),
                          "group": groups.to_numpy()}).dropna().drop_duplicates()
    rng = np.random.default_rng(seed)
    pairs["u"] = rng.random(len(pairs))
    pairs["rank"] = pairs.groupby("patient_id")["u"].rank(method="first")
    pairs["n"] = pairs.groupby("patient_id")["group"].transform("size")
    hidden = pairs[(pairs["n"] >= 2) & (pairs["rank"] <= np.maximum(1, (pairs["n"] * fraction)
                                                                     .round()))]
    key = dx["patient_id"].astype(str) + "\x1f" + groups.fillna("").astype(str)
    hidden_keys = set(hidden["patient_id"].astype(str) + "\x1f" + hidden["group"].astype(str))
    drop = key.isin(hidden_keys).to_numpy()
    inputs = drop_rows(records, set(), None, tables=(), drop_visits=False)
    inputs.diagnoses = dx[~drop].reset_index(drop=True)
    patients = sorted(pairs.loc[pairs["n"] >= 2, "patient_id"].astype(str).unique())
    inputs = inputs.subset(patients)
    history = pd.DataFrame({"patient_id": inputs.diagnoses["patient_id"].to_numpy(),
                            "group": groups[~drop].to_numpy()[
                                dx[~drop]["patient_id"].isin(patients).to_numpy()]})
    return inputs, hidden[["patient_id", "group"]], history, patients


def _multi_hot(pairs: pd.DataFrame, patients: list[str], labels: list[str]) -> torch.Tensor:
    rows = pd.Index(patients).get_indexer(pairs["patient_id"].astype(str))
    cols = pd.Index(labels).get_indexer(pairs["group"].astype(str))
    ok = (rows >= 0) & (cols >= 0)
    y = torch.zeros(len(patients), len(labels))
    y[torch.from_numpy(rows[ok]), torch.from_numpy(cols[ok])] = 1.0
    return y


def _names(label_ids: list[str], kg: Any) -> list[str]:
    if kg is None:
        return list(label_ids)
    table = kg.concepts.set_index("id")["label"]
    return [str(table.get(i, i)) for i in label_ids]
