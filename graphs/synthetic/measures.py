"""Vital signs and laboratory results (the ``observations`` table) of the synthetic cohort.

Each measure is a LOINC-coded value driven by the planted state: the latent factors,
the :func:`~graphs.synthetic.disease.intensity` of related conditions (so a lab starts
drifting one or two visits *before* the condition is diagnosed), genotype, and treatment
(statins lower LDL, antidiabetics lower HbA1c, antihypertensives lower blood pressure,
so a treated patient's labs look less abnormal: a real confounder). Whether a lab is
measured depends on whether a related condition is already known (clinicians test
diabetics for HbA1c): informative missingness, as in real records.

Examples:
    >>> import numpy as np
    >>> from graphs.synthetic.disease import simulate
    >>> s = simulate(np.random.default_rng(0), 300, (2, 3))
    >>> values, measured = measure(np.random.default_rng(1), s)
    >>> values.shape == measured.shape == (300, 3, len(MEASURES))
    True
    >>> t2d = s.active[:, 0, 0]
    >>> bool(values[t2d, 0, 0].mean() > values[~t2d, 0, 0].mean() + 1)  # HbA1c
    True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from graphs.synthetic.catalog import CONDITION_KEYS
from graphs.synthetic.disease import CohortState, intensity
from graphs.synthetic.drugs import DRUG_KEYS

__all__ = ["Measure", "MEASURES", "measure"]


@dataclass(frozen=True)
class Measure:
    """A vital sign or lab: key, LOINC CURIE, label, UCUM unit, the conditions whose
    being known makes a clinician order it (empty = always taken), base order rate."""

    key: str
    code: str
    label: str
    unit: str
    related: tuple[str, ...]
    rate: float


#: The measures, in the order of the last axis of :func:`measure`'s arrays.
MEASURES: tuple[Measure, ...] = (
    Measure("hba1c", "LOINC:4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", "%",
            ("t2d",), 0.3),
    Measure("glucose", "LOINC:2345-7", "Glucose [Mass/volume] in Serum or Plasma", "mg/dL",
            ("t2d",), 0.45),
    Measure("sbp", "LOINC:8480-6", "Systolic blood pressure", "mm[Hg]", (), 0.95),
    Measure("dbp", "LOINC:8462-4", "Diastolic blood pressure", "mm[Hg]", (), 0.95),
    Measure("hr", "LOINC:8867-4", "Heart rate", "/min", (), 0.95),
    Measure("bmi", "LOINC:39156-5", "Body mass index (BMI) [Ratio]", "kg/m2", (), 0.8),
    Measure("ldl", "LOINC:13457-7", "Cholesterol in LDL [Mass/volume] in Serum or Plasma "
            "by calculation", "mg/dL", ("hld", "fh", "ihd"), 0.3),
    Measure("creatinine", "LOINC:2160-0", "Creatinine [Mass/volume] in Serum or Plasma",
            "mg/dL", ("ckd", "t2d", "htn"), 0.4),
    Measure("egfr", "LOINC:33914-3", "Glomerular filtration rate/1.73 sq M.predicted "
            "[Volume Rate/Area] in Serum or Plasma by Creatinine-based formula (MDRD)",
            "mL/min/{1.73_m2}", ("ckd", "t2d", "htn"), 0.4),
    Measure("bnp", "LOINC:30934-4", "Natriuretic peptide B [Mass/volume] in Serum or Plasma",
            "pg/mL", ("hf",), 0.1),
    Measure("wbc", "LOINC:6690-2", "Leukocytes [#/volume] in Blood by Automated count",
            "10*3/uL", ("pneumonia",), 0.3),
    Measure("ferritin", "LOINC:2276-4", "Ferritin [Mass/volume] in Serum or Plasma", "ng/mL",
            ("hh",), 0.08),
    Measure("spo2", "LOINC:59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry",
            "%", (), 0.7),
)

_C = {k: i for i, k in enumerate(CONDITION_KEYS)}
_D = {k: i for i, k in enumerate(DRUG_KEYS)}
_ORDERED_WHEN_KNOWN = 0.85


def measure(rng: np.random.Generator, state: CohortState) -> tuple[np.ndarray, np.ndarray]:
    """Values and measured-flags of every measure at every visit slot.

    Args:
        rng: The cohort generator.
        state: The simulated cohort.

    Returns:
        ``(values, measured)``, both ``[P, V, len(MEASURES)]`` (float64, bool); padding
        visit slots are never measured.
    """
    P, V = state.present.shape
    pp, vv = np.divmod(np.arange(P * V), V)
    lvl = intensity(state, pp, vv).reshape(P, V, -1)

    def I(key: str) -> np.ndarray:  # noqa: E743 - reads like the formulas in the docs
        return lvl[:, :, _C[key]]

    def on(*drugs: str) -> np.ndarray:
        return np.any([state.meds[:, :, _D[d]] for d in drugs], axis=0).astype(float)

    def noise(sd: float) -> np.ndarray:
        return rng.normal(0.0, sd, (P, V))

    age = (state.age0[:, None] + state.days / 365.25 - 55) / 15
    met = state.latent["met"][:, None]
    male = (state.sex == "M")[:, None].astype(float)
    fh = state.genotype["fh"][:, None].astype(float)
    hh = state.genotype["hh"][:, None].astype(float)
    on_dm, on_bp = on("metformin", "insulin_glargine"), on("lisinopril", "amlodipine")
    creat = (0.8 + 0.15 * male) * np.exp(1.0 * I("ckd") + 0.05 * age + noise(0.1))
    columns = {
        "hba1c": np.clip(5.3 + 0.25 * met + 2.2 * I("t2d") - 0.8 * on_dm + noise(0.3), 4, 14),
        "glucose": np.clip(92 + 6 * met + 70 * I("t2d") - 20 * on_dm + noise(12), 50, 500),
        "sbp": 120 + 6 * age + 4 * met + 24 * I("htn") - 10 * on_bp + noise(9),
        "dbp": 76 + 2 * met + 11 * I("htn") - 5 * on_bp + noise(6),
        "hr": 72 + 14 * I("hf") + 12 * I("af") - 6 * on("metoprolol") + noise(7),
        "bmi": 27 + 3.5 * met + noise(0.8),
        "ldl": np.clip((105 + 8 * met + 40 * I("hld") + 95 * fh)
                       * (1 - 0.35 * on("atorvastatin", "simvastatin")) + noise(18), 20, 600),
        "creatinine": creat,
        "egfr": np.clip(100 * (creat / (0.8 + 0.15 * male)) ** -1.15 * (1 - 0.08 * age)
                        + noise(3), 4, 140),
        "bnp": np.exp(3.6 + 2.0 * I("hf") + 0.6 * I("af") + 0.3 * age + noise(0.45)),
        "wbc": np.clip(7 + 7 * I("pneumonia") + noise(1.6), 2, 40),
        "ferritin": np.exp(4.6 + 1.5 * hh + 0.3 * male + noise(0.45)),
        "spo2": np.minimum(100, 97.5 - 4 * I("copd") - 6 * I("pneumonia") - 2 * I("hf")
                           - 1.5 * I("cf") + noise(1.0)),
    }
    values = np.stack([columns[m.key] for m in MEASURES], axis=2)

    known = np.logical_or.accumulate(state.coded, axis=1)
    rates = np.empty_like(values)
    for j, m in enumerate(MEASURES):
        rel = [_C[k] for k in m.related]
        hit = known[:, :, rel].any(axis=2) if rel else np.zeros((P, V), bool)
        rates[:, :, j] = np.where(hit, max(m.rate, _ORDERED_WHEN_KNOWN), m.rate)
    measured = (rng.random(values.shape) < rates) & state.present[:, :, None]
    return values, measured
