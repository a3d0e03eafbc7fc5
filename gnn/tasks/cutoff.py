"""Cut patient records at an index visit, so targets never reach the model's inputs.

Examples:
    >>> from graphs.cohort.demo import tiny_records
    >>> inputs, index = cut_at_last_visit(tiny_records())
    >>> index["visit_id"].tolist()  # p2 had one visit: no history, so left out
    ['v2']
    >>> sorted(inputs.visits["visit_id"]), sorted(inputs.diagnoses["visit_id"])
    (['v1'], ['v1', 'v1'])
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["cut_at_last_visit", "drop_rows", "EVENT_TABLES"]

#: Tables holding per-visit events.
EVENT_TABLES = ("diagnoses", "medications", "procedures", "observations", "notes", "modalities")


def cut_at_last_visit(records: Any, min_history: int = 1) -> tuple[Any, pd.DataFrame]:
    """Splits every patient's records into history and the last (index) visit.

    Args:
        records: Validated ``PatientRecords``.
        min_history: Visits required before the index visit; other patients are dropped.

    Returns:
        ``(inputs, index)``: records with the index visits and everything at or after their
        start removed (all tables), and a table ``patient_id, visit_id, start`` of the
        index visits of the kept patients.
    """
    v = records.visits.sort_values(["patient_id", "start", "visit_id"], kind="stable")
    rank = v.groupby("patient_id", sort=False).cumcount()
    count = v.groupby("patient_id", sort=False)["visit_id"].transform("size")
    last = v[(rank == count - 1) & (count > min_history)]
    index = last[["patient_id", "visit_id", "start"]].reset_index(drop=True)
    keep_patients = set(index["patient_id"])
    inputs = records.subset(sorted(keep_patients))
    cut = inputs.visits["patient_id"].map(index.set_index("patient_id")["start"])
    late_visits = inputs.visits.loc[(inputs.visits["start"] >= cut).to_numpy(), "visit_id"]
    inputs = drop_rows(inputs, set(late_visits), index.set_index("patient_id")["start"])
    return inputs, index


def drop_rows(records: Any, visit_ids: set[str], cutoff: pd.Series | None = None,
              tables: tuple[str, ...] = EVENT_TABLES, drop_visits: bool = True) -> Any:
    """Removes events of ``visit_ids`` (and, with ``cutoff``, events at/after it).

    Args:
        records: Records to filter (not modified).
        visit_ids: Visits whose events are removed.
        cutoff: Per patient id, a timestamp; events without a visit at or after it go too.
        tables: Event tables to filter.
        drop_visits: Also remove the visits themselves.

    Returns:
        A filtered copy.
    """
    out = copy.copy(records)
    if drop_visits:
        v = records.visits
        out.visits = v[~v["visit_id"].isin(list(visit_ids)).to_numpy()].reset_index(drop=True)
    for name in tables:
        t = getattr(records, name)
        drop = np.array(t["visit_id"].isin(list(visit_ids)).fillna(False), dtype=bool)
        if cutoff is not None:
            time_col = "time" if "time" in t.columns else "start"
            limit = t["patient_id"].map(cutoff)
            late = np.array((t[time_col] >= limit).fillna(False), dtype=bool)
            late &= np.array(t["visit_id"].isna(), dtype=bool)
            drop |= late
        setattr(out, name, t[~drop].reset_index(drop=True))
    return out
