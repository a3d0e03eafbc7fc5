"""``generate_cohort``: a seeded synthetic multimodal cohort with planted, documented truth.

The mechanisms (latent risk factors, comorbidity dependencies, under-coding, leaf-code
sparsity, prescribing rules, drug-interaction bleeding, prodromes and which modality
shows which condition) are described in ``graphs/synthetic/MECHANISMS.md``, also
available as ``cohort.mechanisms``.

Examples:
    >>> c = generate_cohort(200, seed=0)
    >>> c
    SyntheticCohort(patients=200, visits=..., seed=0)
    >>> c.truth.loc["P000001"].index.tolist()[:3]
    ['t2d', 'htn', 'hld']
    >>> history, labels = c.next_visit_task()
    >>> labels.shape[1] == len(c.conditions), len(history.visits) < len(c.records.visits)
    (True, True)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from graphs.records import PatientRecords
from graphs.synthetic.catalog import CONDITION_KEYS, conditions_table
from graphs.synthetic.disease import CohortState, simulate
from graphs.synthetic.drugs import ddi_table
from graphs.synthetic.notes import _render as _render_notes
from graphs.synthetic.tables import MODALITY_NAMES, build_tables
from ontologies.errors import ConfigError, UnknownCodeError

__all__ = ["SyntheticCohort", "generate_cohort", "DEFAULT_MISSING", "mechanisms_text"]

#: Default fraction of absent observations per modality.
DEFAULT_MISSING: dict[str, float] = {"note": 0.2, "image": 0.3, "signal": 0.3, "genomic": 0.5}
_MECHANISMS = Path(__file__).with_name("MECHANISMS.md")


def mechanisms_text() -> str:
    """The planted mechanisms, as documented in ``MECHANISMS.md``."""
    return _MECHANISMS.read_text(encoding="utf-8")


@dataclass
class SyntheticCohort:
    """A generated cohort: records, planted truth and what is needed to render raw data.

    Attributes:
        records: The patient records (``modalities.path`` holds ``synthetic://`` refs).
        truth: Index ``patient_id``; one ``Int64`` column per condition key holding the
            0-based visit index of the first onset (``<NA>``: never within the window).
        ddi: The drug-drug interaction table (:func:`graphs.synthetic.drugs.ddi_table`).
        conditions: The condition catalogue (:func:`graphs.synthetic.catalog.conditions_table`).
        mechanisms: Text of ``MECHANISMS.md``.
        seed: The seed; with ``config`` it regenerates the cohort exactly.
        config: The arguments of :func:`generate_cohort`.
        state: The simulated arrays (:class:`~graphs.synthetic.disease.CohortState`).
        patient_ids: ``[P]`` ids in row order.
        visit_type: ``[P, V]`` visit types.
        observed: modality -> ``[P, V]`` bool presence masks.
    """

    records: PatientRecords
    truth: pd.DataFrame
    ddi: pd.DataFrame
    conditions: pd.DataFrame
    mechanisms: str
    seed: int
    config: dict[str, Any]
    state: CohortState = field(repr=False)
    patient_ids: np.ndarray = field(repr=False)
    visit_type: np.ndarray = field(repr=False)
    observed: dict[str, np.ndarray] = field(repr=False)

    def __post_init__(self) -> None:
        self._index = pd.Index(self.patient_ids.astype(str))

    def __repr__(self) -> str:
        return (f"SyntheticCohort(patients={len(self.patient_ids)}, "
                f"visits={int(self.state.n_visits.sum())}, seed={self.seed})")

    def patient_index(self, patient_ids: Sequence[str]) -> np.ndarray:
        """Row indices of patient ids; raises :class:`UnknownCodeError` for unknown ids."""
        ids = [str(p) for p in patient_ids]
        idx = self._index.get_indexer(ids)
        if (idx < 0).any():
            bad = ids[int(np.flatnonzero(idx < 0)[0])]
            raise UnknownCodeError(bad, "a patient id of this synthetic cohort")
        return idx

    def active(self, visit: int = -1) -> pd.DataFrame:
        """Planted truth at one visit per patient: bool ``patient_id x condition``.

        Args:
            visit: Visit index (negative counts from each patient's last visit);
                patients without that visit are left out.
        """
        n = self.state.n_visits
        v = n + visit if visit < 0 else np.full_like(n, visit)
        ok = (v >= 0) & (v < n)
        rows = np.flatnonzero(ok)
        values = self.state.active[rows, v[ok]]
        return pd.DataFrame(values, columns=list(CONDITION_KEYS),
                            index=pd.Index(self.patient_ids[rows].astype(str), name="patient_id"))

    def visit_labels(self) -> pd.DataFrame:
        """Planted truth at every visit: patient_id, visit_id, visit_index + one bool
        column per condition."""
        p, v = np.nonzero(self.state.present)
        out = pd.DataFrame({"patient_id": pd.array(self.patient_ids[p].astype(str), "string"),
                            "visit_id": self.records.visits["visit_id"].to_numpy(),
                            "visit_index": v})
        labels = pd.DataFrame(self.state.active[p, v], columns=list(CONDITION_KEYS))
        return pd.concat([out, labels], axis=1)

    def next_visit_task(self, new_only: bool = False) -> tuple[PatientRecords, pd.DataFrame]:
        """History/label pairs for "predict the next visit's conditions".

        For every patient with at least two visits, the history is all records before
        the last visit (death dates removed: they lie in the future) and the labels
        are the planted conditions active at the last visit.

        Args:
            new_only: Label only conditions that are new at the last visit (chronic
                conditions not active at the previous visit; acute episodes).

        Returns:
            ``(history records, labels)``; labels are bool, index ``patient_id``.
        """
        n = self.state.n_visits
        rows = np.flatnonzero(n >= 2)
        last = self.state.active[rows, n[rows] - 1]
        if new_only:
            last = last & ~self.state.active[rows, n[rows] - 2]
        labels = pd.DataFrame(last, columns=list(CONDITION_KEYS),
                              index=pd.Index(self.patient_ids[rows].astype(str),
                                             name="patient_id"))
        hist = self.records.subset(labels.index.tolist())
        last_ids = set(hist.visits.groupby("patient_id")["visit_id"].max())
        for name in ("visits", "diagnoses", "medications", "procedures", "observations",
                     "notes", "modalities"):
            table = getattr(hist, name)
            setattr(hist, name, table[~table["visit_id"].isin(last_ids)].reset_index(drop=True))
        hist.patients = hist.patients.assign(death_date=pd.NaT).astype(
            {"death_date": "datetime64[ns]"})
        hist.metadata = dict(hist.metadata, task="next_visit", new_only=new_only)
        return hist, labels


def _check(n_patients, seed, n_visits, missing_rates, start_date) -> tuple[tuple, dict]:
    if isinstance(n_patients, bool) or not isinstance(n_patients, (int, np.integer)) \
            or n_patients < 1:
        raise ConfigError(f"n_patients={n_patients!r}: expected a positive integer")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"seed={seed!r}: expected a non-negative integer")
    try:
        lo, hi = (int(x) for x in n_visits)
    except (TypeError, ValueError):
        raise ConfigError(f"n_visits={n_visits!r}: expected (min, max) integers") from None
    if not 1 <= lo <= hi <= 100:
        raise ConfigError(f"n_visits={n_visits!r}: expected 1 <= min <= max <= 100")
    rates = dict(DEFAULT_MISSING)
    for key, value in dict(missing_rates or {}).items():
        if key not in MODALITY_NAMES:
            raise ConfigError(f"missing_rates key {key!r}: expected one of "
                              f"{', '.join(MODALITY_NAMES)}")
        if not isinstance(value, (int, float)) or not 0 <= value <= 1:
            raise ConfigError(f"missing_rates[{key!r}]={value!r}: expected a number in [0, 1]")
        rates[key] = float(value)
    try:
        pd.Timestamp(start_date)
    except (TypeError, ValueError):
        raise ConfigError(f"start_date={start_date!r}: expected a date such as "
                          "'2100-01-01'") from None
    return (lo, hi), rates


def generate_cohort(n_patients: int = 1000, seed: int = 0, n_visits: tuple[int, int] = (2, 6),
                    missing_rates: dict[str, float] | None = None,
                    start_date: str = "2100-01-01", note_text: bool = True,
                    validate: bool = False) -> SyntheticCohort:
    """Generates a synthetic cohort; the same arguments always give identical tables.

    Args:
        n_patients: Number of patients.
        seed: Random seed (also keys the lazily rendered raw observations).
        n_visits: Inclusive (min, max) number of visits per patient.
        missing_rates: Fraction of absent ``note``/``image``/``signal`` observations
            (per visit) and ``genomic`` (per patient); missing keys use
            :data:`DEFAULT_MISSING`.
        start_date: Earliest first visit (dates are deliberately in the future, so they
            cannot be mistaken for real ones).
        note_text: Render the text of present notes into ``records.notes.text``
            (otherwise ``<NA>``, rendered on demand by ``render_notes``).
        validate: Also run :meth:`PatientRecords.validate`. Off by default: the tables
            are built in the canonical dtypes and a test checks that validation leaves
            them unchanged, while validating 100k patients costs longer than generating.

    Returns:
        A :class:`SyntheticCohort`.

    Raises:
        ConfigError: An argument is out of range.
    """
    visits, rates = _check(n_patients, seed, n_visits, missing_rates, start_date)
    rng = np.random.default_rng(seed)
    state = simulate(rng, int(n_patients), visits)
    built = build_tables(rng, state, start_date, rates)
    config = {"n_patients": int(n_patients), "seed": int(seed), "n_visits": list(visits),
              "missing_rates": rates, "start_date": str(start_date)}
    records = PatientRecords(**built.tables, root=None, metadata={
        "source": "synthetic", "generator": "graphs.synthetic.generate_cohort", **config,
        "paths": "virtual: synthetic://<modality>/<patient_id>/<visit_id>, resolved by "
                 "graphs.synthetic.resolve"})
    truth = pd.DataFrame(
        {k: pd.array(np.where(state.onset[:, i] >= 0, state.onset[:, i], None), "Int64")
         for i, k in enumerate(CONDITION_KEYS)},
        index=pd.Index(built.patient_ids.astype(str), name="patient_id", dtype="string"))
    cohort = SyntheticCohort(records, truth, ddi_table(), conditions_table(), mechanisms_text(),
                             int(seed), config, state, built.patient_ids, built.visit_type,
                             built.observed)
    if note_text and len(records.notes):
        # rows of records.notes are in (patient, visit) order, as np.nonzero returns them
        p, v = np.nonzero(built.observed["note"])
        records.notes["text"] = pd.array(_render_notes(cohort, p, v), dtype="string")
    if validate:
        records.validate()
    return cohort
