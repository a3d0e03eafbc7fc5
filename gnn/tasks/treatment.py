"""Treatment prediction: recommend the drugs of a visit (multi-label), GAMENet-style.

The index visit is each patient's last visit. The model sees the history plus the index
visit's diagnoses and procedures (known when prescribing) and predicts the drugs ordered at
the index visit. The index visit's medications, notes and modality observations are
removed from the inputs (notes often name the drugs started). A drug-drug interaction
table, when given, turns into label-index pairs for the DDI-rate metric.

Examples:
    >>> from graphs.cohort.demo import tiny_records
    >>> rec = tiny_records()
    >>> t = treatment_task(rec, min_count=1, include_history_drugs=True)
    >>> t.label_ids, t.y.tolist()
    (['RXNORM:6809'], [[0.0]])
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import torch

from gnn.tasks.base import TASKS, TaskData, patient_split
from gnn.tasks.comorbidity import _multi_hot
from gnn.tasks.cutoff import cut_at_last_visit, drop_rows
from ontologies.errors import InputError

__all__ = ["treatment_task"]


@TASKS.register("treatment")
def treatment_task(records: Any, ddi: pd.DataFrame | None = None, min_count: int = 10,
                   max_labels: int | None = None, include_history_drugs: bool = False,
                   fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
                   seed: int = 0) -> TaskData:
    """Builds the medication-recommendation task.

    Args:
        records: Validated ``PatientRecords`` with medications.
        ddi: Optional table with columns ``drug_a``, ``drug_b`` (CURIEs).
        min_count: Keep drugs given to at least this many patients at the index visit.
        max_labels: Keep at most this many most frequent drugs.
        include_history_drugs: Also keep drugs seen only in histories in the vocabulary.
        fractions: Patient-level split fractions.
        seed: Split seed.

    Returns:
        The task; ``metadata["ddi_pairs"]`` holds interacting label-index pairs.
    """
    records = records.validate()
    _, index = cut_at_last_visit(records)
    patients = index["patient_id"].astype(str).tolist()
    index_visits = set(index["visit_id"])
    keep = records.subset(patients)
    visits = keep.visits
    later = visits["start"] > visits["patient_id"].map(index.set_index("patient_id")["start"])
    inputs = drop_rows(keep, set(visits.loc[later.to_numpy(), "visit_id"]))
    inputs = drop_rows(inputs, index_visits, tables=("medications", "notes", "modalities"),
                       drop_visits=False)
    med = records.medications
    at_index = med["visit_id"].isin(list(index_visits)).fillna(False).to_numpy()
    targets = pd.DataFrame({"patient_id": med["patient_id"][at_index].to_numpy(),
                            "group": med["code"][at_index].to_numpy()}).drop_duplicates()
    history = pd.DataFrame({"patient_id": inputs.medications["patient_id"].to_numpy(),
                            "group": inputs.medications["code"].to_numpy()}).drop_duplicates()
    counts = targets["group"].value_counts()
    if include_history_drugs:
        counts = counts.add(history["group"].value_counts(), fill_value=0)
    vocab = counts[counts >= min_count].sort_values(ascending=False)
    if max_labels is not None:
        vocab = vocab.iloc[:max_labels]
    if vocab.empty:
        raise InputError(f"no drug reaches min_count={min_count} patients at the index visit")
    label_ids = sorted(vocab.index.astype(str))
    y = _multi_hot(targets, patients, label_ids)
    hist = _multi_hot(history, patients, label_ids)
    names_table = med.drop_duplicates("code").set_index("code")["label"]
    names = [str(names_table.get(code, code)) for code in label_ids]
    pairs: list[tuple[int, int]] = []
    if ddi is not None:
        missing = [c for c in ("drug_a", "drug_b") if c not in ddi.columns]
        if missing:
            raise InputError(f"ddi table: missing columns {missing}; expected drug_a, drug_b")
        pos = {c: i for i, c in enumerate(label_ids)}
        for a, b in ddi[["drug_a", "drug_b"]].astype(str).itertuples(index=False):
            if a in pos and b in pos:
                pairs.append((min(pos[a], pos[b]), max(pos[a], pos[b])))
    return TaskData("treatment", inputs, patients, y, label_ids, names,
                    patient_split(y, fractions, seed), hist,
                    {"min_count": min_count, "seed": seed, "ddi_pairs": sorted(set(pairs)),
                     "ddi_pairs_tensor": torch.tensor(sorted(set(pairs)), dtype=torch.long)
                     .reshape(-1, 2)})
