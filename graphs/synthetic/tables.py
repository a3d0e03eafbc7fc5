"""Turns the simulated :class:`~graphs.synthetic.disease.CohortState` into the eight
:class:`~graphs.records.PatientRecords` tables, vectorised (index arrays -> columns).

Examples:
    >>> import numpy as np
    >>> from graphs.synthetic.disease import simulate
    >>> rng = np.random.default_rng(0)
    >>> s = simulate(rng, 50, (2, 3))
    >>> t = build_tables(rng, s, start="2100-01-01", missing_rates={"note": 0.2,
    ...     "image": 0.3, "signal": 0.3, "genomic": 0.5})
    >>> sorted(t.tables)[:3], len(t.tables["visits"]) == int(s.n_visits.sum())
    (['diagnoses', 'medications', 'modalities'], True)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from graphs.records.columns import TABLES
from graphs.synthetic.access import virtual_path, visit_id
from graphs.synthetic.catalog import CONDITION_KEYS, CONDITIONS
from graphs.synthetic.disease import CohortState
from graphs.synthetic.drugs import DRUG_KEYS, DRUGS, SHORT_COURSE
from graphs.synthetic.measures import MEASURES, measure

__all__ = ["BuiltTables", "build_tables", "MODALITY_NAMES", "PROCEDURES"]

#: Modalities the generator can mark present (notes live in the notes table).
MODALITY_NAMES = ("note", "image", "signal", "genomic")
#: Procedure rows recorded when an image / ECG was taken (ICD-10-PCS).
PROCEDURES = {"image": "ICD10PCS:BW03ZZZ",  # Plain Radiography of Chest
              "signal": "ICD10PCS:4A02X4Z"}  # Measurement of Cardiac Electrical Activity
_C = {k: i for i, k in enumerate(CONDITION_KEYS)}
_NS_PER_DAY = 86_400 * 10**9


@dataclass
class BuiltTables:
    """The tables plus arrays the renderers need.

    Attributes:
        tables: name -> DataFrame, in the :data:`graphs.records.columns.TABLES` layout.
        patient_ids: ``[P]`` object array of ids.
        visit_type: ``[P, V]`` object array (``None`` in padding slots).
        observed: modality -> ``[P, V]`` bool, the observation exists (genomic: one
            visit per sequenced patient).
    """

    tables: dict[str, pd.DataFrame]
    patient_ids: np.ndarray
    visit_type: np.ndarray
    observed: dict[str, np.ndarray]


def _col(values: np.ndarray | pa.Array, index: np.ndarray | None = None) -> pd.Series:
    # Strings are built in arrow: "take" from a small dictionary and element-wise joins
    # are ~5x faster than Python strings, which otherwise dominate a 100k-patient cohort.
    arr = values if isinstance(values, pa.Array) else pa.array(values, type=pa.string())
    if index is not None:
        arr = arr.take(pa.array(np.asarray(index, dtype=np.int64)))
    return pd.Series(arr.to_pandas(types_mapper={pa.string(): pd.StringDtype()}.get))


class _Ids:
    """Patient and visit ids as arrow arrays, looked up by (patient, visit) index."""

    def __init__(self, present: np.ndarray):
        P, V = present.shape
        width = max(6, len(str(P)))
        self.V = V
        self.patient_ids = np.array([f"P{i + 1:0{width}d}" for i in range(P)], dtype=object)
        self.pid = pa.array(self.patient_ids, type=pa.string())
        pp, vv = np.nonzero(present)
        suffix = pa.array([visit_id("", i)[2:] for i in range(V)], type=pa.string())
        # same format as access.visit_id: "<patient_id>-V<index:02d>"
        self.vid = pc.binary_join_element_wise(self.pid.take(pa.array(pp)),
                                               suffix.take(pa.array(vv)), "-V")
        self.pos = np.full(P * V, -1, dtype=np.int64)
        self.pos[pp * V + vv] = np.arange(len(pp))

    def patient(self, p: np.ndarray) -> pa.Array:
        return self.pid.take(pa.array(np.asarray(p, dtype=np.int64)))

    def visit(self, p: np.ndarray, v: np.ndarray) -> pa.Array:
        return self.vid.take(pa.array(self.pos[np.asarray(p) * self.V + np.asarray(v)]))


def _dates(ns: np.ndarray) -> pd.Series:
    return pd.Series(np.asarray(ns, dtype="int64").view("datetime64[ns]"))


def build_tables(rng: np.random.Generator, state: CohortState, start: str | pd.Timestamp,
                 missing_rates: dict[str, float]) -> BuiltTables:
    """Builds all tables.

    Args:
        rng: The cohort generator (continues after :func:`simulate`).
        state: The simulated cohort.
        start: Date of the earliest possible first visit.
        missing_rates: Per :data:`MODALITY_NAMES`, the fraction of observations absent.

    Returns:
        A :class:`BuiltTables`.
    """
    P, V = state.present.shape
    ids = _Ids(state.present)
    pp, vv = np.nonzero(state.present)  # row-major: patient, then visit

    # --- visit types and times
    act = state.active
    first = np.zeros_like(act)
    first[:, 0] = act[:, 0]
    first[:, 1:] = act[:, 1:] & ~act[:, :-1]
    u = rng.random((P, V, 4))
    inpatient = ((act[:, :, _C["pneumonia"]] & (u[..., 0] < 0.5))
                 | (act[:, :, _C["gi_bleed"]] & (u[..., 1] < 0.8))
                 | (first[:, :, _C["hf"]] & (u[..., 2] < 0.4)))
    vtype = np.where(inpatient, "inpatient", np.where(u[..., 3] < 0.05, "emergency", "outpatient"))
    vtype = np.where(state.present, vtype, None).astype(object)
    base = pd.Timestamp(start).value
    minute = np.floor(480 + 540 * rng.random((P, V)))  # clinic hours, whole minutes
    start_ns = base + (np.floor(state.days) * _NS_PER_DAY).astype(np.int64) \
        + (minute * 6e10).astype(np.int64)
    los = np.where(vtype == "inpatient", (1 + rng.poisson(3, (P, V))) * _NS_PER_DAY,
                   np.where(vtype == "emergency", rng.integers(120, 480, (P, V)) * 6e10, 1.8e12))
    end_ns = start_ns + los.astype(np.int64)

    visits = pd.DataFrame({"patient_id": _col(ids.pid, pp), "visit_id": _col(ids.vid),
                           "start": _dates(start_ns[pp, vv]), "end": _dates(end_ns[pp, vv]),
                           "visit_type": _col(vtype[pp, vv])})

    # --- patients (death after the last visit, more likely when old and sick)
    last = state.n_visits - 1
    rows = np.arange(P)
    age_last = (state.age0 + state.days[rows, last] / 365.25 - 55) / 15
    a_last = act[rows, last]
    logit = (-4.5 + age_last + 1.5 * a_last[:, _C["hf"]] + 0.7 * a_last[:, _C["ckd"]]
             + 0.7 * a_last[:, _C["copd"]] + 0.8 * a_last[:, _C["gi_bleed"]])
    dies = rng.random(P) < 1 / (1 + np.exp(-logit))
    death_ns = end_ns[rows, last] + (rng.uniform(7, 365, P) * _NS_PER_DAY).astype(np.int64)
    birth_ns = start_ns[:, 0] - (state.age0 * 365.25 * _NS_PER_DAY).astype(np.int64)
    patients = pd.DataFrame({
        "patient_id": _col(ids.pid), "sex": _col(state.sex.astype(object)),
        "birth_date": _dates(birth_ns).dt.floor("D"),
        "death_date": _dates(death_ns).dt.floor("D").where(dies)})

    def events(p, v):
        return {"patient_id": _col(ids.patient(p)), "visit_id": _col(ids.visit(p, v))}

    # --- diagnoses: acute episodes first (the reason for the visit), then catalogue order
    p, v, c = np.nonzero(state.coded)
    offsets = np.cumsum([0] + [len(CONDITIONS[k].leaves) for k in CONDITION_KEYS])
    all_leaves = np.array([leaf for k in CONDITION_KEYS for leaf in CONDITIONS[k].leaves],
                          dtype=object)
    code = all_leaves[offsets[c] + state.leaf[p, v, c]]
    chronic = np.array([CONDITIONS[k].chronic for k in CONDITION_KEYS])
    order = np.lexsort((c, chronic[c], v, p))
    p, v, c, code = p[order], v[order], c[order], code[order]
    flat = p * V + v
    group_start = np.r_[0, np.flatnonzero(np.diff(flat)) + 1]
    seq = np.arange(len(flat)) - np.repeat(group_start, np.diff(np.r_[group_start, len(flat)]))
    diagnoses = pd.DataFrame({**events(p, v), "code": _col(code),
                              "time": _dates(start_ns[p, v]),
                              "seq_num": pd.array(seq + 1, dtype="Int64"),
                              "source_code": _col(code),
                              "mapping": _col(np.full(len(p), "direct", dtype=object))})

    # --- medications
    p, v, d = np.nonzero(state.meds)
    supply = np.array([SHORT_COURSE.get(k, 90) for k in DRUG_KEYS])
    medications = pd.DataFrame({
        **events(p, v), "code": _col(np.array([DRUGS[k].curie for k in DRUG_KEYS], object), d),
        "label": _col(np.array([DRUGS[k].name for k in DRUG_KEYS], object), d),
        "start": _dates(start_ns[p, v]),
        "end": _dates(start_ns[p, v] + supply[d] * _NS_PER_DAY)})

    # --- observations
    values, measured = measure(rng, state)
    p, v, m = np.nonzero(measured)
    observations = pd.DataFrame({
        **events(p, v), "code": _col(np.array([x.code for x in MEASURES], object), m),
        "value": np.round(values[p, v, m], 2),
        "unit": _col(np.array([x.unit for x in MEASURES], object), m),
        "time": _dates(start_ns[p, v])})

    # --- which raw observations exist (missing completely at random)
    observed = {}
    for name in ("note", "image", "signal"):
        observed[name] = state.present & (rng.random((P, V)) >= missing_rates[name])
    genomic = np.zeros((P, V), bool)
    seq_visit = (rng.random(P) * state.n_visits).astype(int)
    genomic[rows, seq_visit] = rng.random(P) >= missing_rates["genomic"]
    observed["genomic"] = genomic

    p, v = np.nonzero(observed["note"])
    category = np.where(vtype[p, v] == "inpatient", "Discharge summary",
                        np.where(vtype[p, v] == "emergency", "Emergency note", "Progress note"))
    text = [None] * len(p)  # filled by generate_cohort, which owns the note renderer
    notes = pd.DataFrame({**events(p, v),
                          "note_id": _col(pc.binary_join_element_wise(
                              ids.visit(p, v), pa.scalar("N1"), "-")),
                          "category": _col(category.astype(object)),
                          "time": _dates(end_ns[p, v]), "text": _col(np.array(text, object))})

    # image, signal and genomic rows (and their procedures), ordered by patient and visit
    names = ("image", "signal", "genomic")
    idx = [np.nonzero(observed[name]) for name in names]
    p = np.concatenate([i[0] for i in idx])
    v = np.concatenate([i[1] for i in idx])
    kind = np.repeat(np.arange(len(names)), [len(i[0]) for i in idx])
    order = np.lexsort((kind, v, p))
    p, v, kind = p[order], v[order], kind[order]
    # same format as access.virtual_path
    heads = pa.array([virtual_path(name, "", "").rstrip("/") for name in names])
    paths = pc.binary_join_element_wise(heads.take(pa.array(kind)), ids.patient(p),
                                        ids.visit(p, v), "/")
    modalities = pd.DataFrame({**events(p, v), "modality": _col(np.array(names, object), kind),
                               "path": _col(paths),
                               "time": _dates(start_ns[p, v])})
    proc = np.array([PROCEDURES.get(name) for name in names], dtype=object)
    keep = proc[kind] != None  # noqa: E711 - elementwise comparison on an object array
    p, v, kind = p[keep], v[keep], kind[keep]
    procedures = pd.DataFrame({**events(p, v), "code": _col(proc, kind),
                               "time": _dates(start_ns[p, v])})

    tables = {"patients": patients, "visits": visits, "diagnoses": diagnoses,
              "medications": medications, "procedures": procedures,
              "observations": observations, "notes": notes, "modalities": modalities}
    for name, df in tables.items():
        tables[name] = df.astype(TABLES[name])
    return BuiltTables(tables, ids.patient_ids, vtype, observed)
