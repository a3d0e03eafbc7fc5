"""Clinical notes: ``render_notes(cohort, ...) -> list[str]``.

A note mentions the symptoms and findings of the patient's active (and about-to-start)
conditions, in varied phrasings and synonyms, together with things that make naive
keyword matching fail:

* **negations** of symptoms the patient does not have ("Denies chest pain.",
  "No wheezing."), drawn from the same vocabulary as real mentions;
* **distractors**: social history, unrelated family history, exam boilerplate;
* **overlapping symptoms** across conditions (wheezing: asthma and COPD; ankle swelling:
  heart failure and CKD; fatigue: CKD and haemochromatosis);
* a past-medical-history line naming conditions already **coded**, under abbreviations
  (``T2DM``, ``CHF``, ``AFib``, ``MDD``...).

Each condition is described with probability ``NOTE_STRENGTH[c] * intensity`` (and
named in the history line with probability ``NOTE_STRENGTH[c]`` once coded), so mental
health conditions (0.85) are far more visible in notes than hyperlipidaemia (0.15).
Text is deterministic per (seed, patient, visit).

Examples:
    >>> from graphs.synthetic.cohort import generate_cohort
    >>> c = generate_cohort(5, seed=4, note_text=False)
    >>> text = render_notes(c, c.patient_ids[:1])[0]
    >>> text == render_notes(c, c.patient_ids[:1])[0], "year-old" in text
    (True, True)
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from graphs.synthetic import _rng
from graphs.synthetic.access import select
from graphs.synthetic.catalog import CONDITION_KEYS
from graphs.synthetic.disease import intensity
from graphs.synthetic.drugs import DRUG_KEYS, DRUGS

if TYPE_CHECKING:  # pragma: no cover
    from graphs.synthetic.cohort import SyntheticCohort

__all__ = ["render_notes", "NOTE_STRENGTH", "SYMPTOMS", "NAMES"]

#: Probability that an active condition (intensity 1) is described in a note.
NOTE_STRENGTH: dict[str, float] = {
    "t2d": 0.2, "htn": 0.2, "hld": 0.15, "ckd": 0.2, "ihd": 0.5, "hf": 0.5, "af": 0.45,
    "copd": 0.5, "asthma": 0.6, "pneumonia": 0.85, "depression": 0.85, "anxiety": 0.85,
    "fh": 0.25, "cf": 0.85, "hh": 0.2, "gi_bleed": 0.8,
}

#: Symptom/finding phrases per condition (noun phrases, usable after "reports"/"denies").
SYMPTOMS: dict[str, tuple[str, ...]] = {
    "t2d": ("polyuria", "frequent urination", "excessive thirst", "polydipsia",
            "blurred vision", "tingling in both feet"),
    "htn": ("morning headaches", "elevated home blood pressure readings"),
    "hld": ("xanthelasma", "elevated cholesterol on the last lipid panel"),
    "ckd": ("foamy urine", "nocturia", "fatigue", "ankle swelling"),
    "ihd": ("chest pain on exertion", "exertional chest tightness", "angina",
            "chest pressure climbing stairs"),
    "hf": ("dyspnea on exertion", "orthopnea", "paroxysmal nocturnal dyspnea",
           "bilateral leg edema", "ankle swelling", "recent weight gain"),
    "af": ("palpitations", "fluttering in the chest", "episodes of a racing heart",
           "irregularly irregular pulse"),
    "copd": ("chronic productive cough", "morning sputum", "breathlessness walking uphill",
             "wheezing"),
    "asthma": ("wheezing", "nocturnal cough", "chest tightness with exercise",
               "symptoms triggered by cold air", "frequent rescue inhaler use"),
    "pneumonia": ("fever", "productive cough with purulent sputum", "pleuritic chest pain",
                  "chills", "crackles at the lung base"),
    "depression": ("low mood", "feeling down most days", "anhedonia",
                   "loss of interest in usual activities", "early morning waking",
                   "feelings of worthlessness"),
    "anxiety": ("constant worry", "feeling on edge", "restlessness", "panic attacks",
                "difficulty relaxing"),
    "fh": ("tendon xanthomas", "markedly elevated LDL since youth"),
    "cf": ("chronic sputum production", "recurrent chest infections",
           "pancreatic enzyme use with meals"),
    "hh": ("joint pain in the hands", "fatigue", "bronze skin discoloration"),
    "gi_bleed": ("black tarry stools", "melena", "coffee-ground emesis",
                 "dizziness on standing"),
}

#: How a known condition is named in the past-medical-history line.
NAMES: dict[str, tuple[str, ...]] = {
    "t2d": ("type 2 diabetes", "T2DM", "DM2", "diabetes mellitus type 2"),
    "htn": ("hypertension", "HTN", "high blood pressure"),
    "hld": ("hyperlipidemia", "HLD", "high cholesterol"),
    "ckd": ("chronic kidney disease", "CKD"),
    "ihd": ("coronary artery disease", "CAD", "ischemic heart disease"),
    "hf": ("heart failure", "CHF", "congestive heart failure"),
    "af": ("atrial fibrillation", "AFib", "AF"),
    "copd": ("COPD", "emphysema"),
    "asthma": ("asthma", "reactive airway disease"),
    "pneumonia": ("recent pneumonia",),
    "depression": ("depression", "MDD", "major depressive disorder"),
    "anxiety": ("anxiety", "GAD", "generalized anxiety disorder"),
    "fh": ("familial hypercholesterolemia", "FH"),
    "cf": ("cystic fibrosis", "CF"),
    "hh": ("hemochromatosis", "hereditary hemochromatosis"),
    "gi_bleed": ("prior GI bleed",),
}

_REPORT = ("Reports {}.", "Complains of {}.", "Endorses {}.", "Notes {}.", "{} noted.",
           "Patient describes {}.", "Positive for {}.")
_DENY = ("Denies {}.", "No {}.", "Negative for {}.", "Patient denies {}.")
_DISTRACT = ("Lives with family.", "Works as a teacher.", "Retired.", "Walks daily.",
             "Flu vaccine up to date.", "No known drug allergies.", "Alert and oriented.",
             "Drinks alcohol socially.", "Mother had breast cancer.",
             "Father had prostate cancer.", "Vitals reviewed.", "Abdomen soft, non-tender.",
             "Skin warm and dry.", "Discussed diet and exercise.")
_REASON_OUT = ("routine follow-up", "an annual physical", "medication review",
               "follow-up of chronic conditions", "a check-up")
_REASON_IN = {"pneumonia": "fever and cough", "hf": "worsening shortness of breath",
              "gi_bleed": "melena", "ihd": "chest pain"}
_HEADER = {"inpatient": "Discharge summary.", "emergency": "Emergency department note.",
           "outpatient": "Clinic progress note."}
_C = {k: i for i, k in enumerate(CONDITION_KEYS)}
_NEGATE = 0.08  # per absent condition: chance a symptom of it is explicitly denied


def render_notes(cohort: SyntheticCohort, patient_ids: str | Sequence[str] | None = None,
                 visits: int | Sequence[int] | Sequence[str] | None = None) -> list[str]:
    """Renders the note of each selected (patient, visit) pair.

    Args:
        cohort: A :class:`~graphs.synthetic.cohort.SyntheticCohort`.
        patient_ids: Patients (``None``: all); see :func:`graphs.synthetic.access.select`.
        visits: Visits (``None``: each patient's last).

    Returns:
        One string per pair (rendered whether or not the note is "present" in
        ``records.notes``; that table says which notes were written).
    """
    pidx, vidx = select(cohort, patient_ids, visits)
    return _render(cohort, pidx, vidx)


def _render(cohort, pidx: np.ndarray, vidx: np.ndarray) -> list[str]:
    state = cohort.state
    lvl = intensity(state, pidx, vidx)
    known = np.logical_or.accumulate(state.coded[pidx], axis=1)[np.arange(len(pidx)), vidx]
    meds = state.meds[pidx, vidx]
    age = (state.age0[pidx] + state.days[pidx, vidx] / 365.25).astype(int)
    sex = state.sex[pidx]
    smoker = state.latent["smoker"][pidx] > 0
    fh = state.genotype["fh"][pidx]
    vtype = cohort.visit_type[pidx, vidx]
    seeds = _rng.python_seeds(_rng.keys(cohort.seed, "note", pidx, vidx))
    out = []
    for i, seed in enumerate(seeds):
        r = random.Random(seed)
        who = {"F": "woman", "M": "man"}.get(sex[i], "patient")
        active = [k for k in CONDITION_KEYS if lvl[i, _C[k]] > 0]
        reason = next((_REASON_IN[k] for k in ("pneumonia", "gi_bleed", "hf", "ihd")
                       if k in active and vtype[i] != "outpatient"), r.choice(_REASON_OUT))
        parts = [_HEADER.get(vtype[i], "Progress note."),
                 f"{age[i]}-year-old {who} seen for {reason}."]
        # known conditions make the history line as often as they make the note at all
        history = [r.choice(NAMES[k]) for k in CONDITION_KEYS
                   if known[i, _C[k]] and r.random() < NOTE_STRENGTH[k]]
        if history:
            parts.append(r.choice(("PMH: {}.", "Past history notable for {}.",
                                   "History of {}.")).format(", ".join(history)))
        elif r.random() < 0.5:
            parts.append("No significant past medical history.")
        body = []
        for k in CONDITION_KEYS:
            level = lvl[i, _C[k]]
            if level > 0 and r.random() < NOTE_STRENGTH[k] * level:
                for phrase in r.sample(SYMPTOMS[k], min(len(SYMPTOMS[k]), r.randint(1, 3))):
                    body.append(r.choice(_REPORT).format(phrase))
            elif level == 0 and r.random() < _NEGATE:
                body.append(r.choice(_DENY).format(r.choice(SYMPTOMS[k])))
        body.extend(r.sample(_DISTRACT, r.randint(1, 3)))
        if smoker[i] and r.random() < 0.7:
            body.append(r.choice(("Current smoker, {} pack-years.",
                                  "Smokes about {} cigarettes a day.")).format(r.randint(10, 40)))
        elif not smoker[i] and r.random() < 0.3:
            body.append(r.choice(("Never smoker.", "No tobacco use.")))
        if fh[i] and r.random() < 0.5:
            body.append(r.choice(("Father had a heart attack at 45.",
                                  "Strong family history of early heart disease.")))
        r.shuffle(body)
        parts.extend(body)
        drugs = [DRUGS[d].name for d, on in zip(DRUG_KEYS, meds[i], strict=True) if on]
        if drugs and r.random() < 0.8:
            parts.append("Medications: " + ", ".join(drugs) + ".")
        parts.append(r.choice(("Plan: continue current management.",
                               "Follow up in {} months.".format(r.randint(1, 6)),
                               "Return if symptoms worsen.")))
        out.append(" ".join(p[0].upper() + p[1:] for p in parts))
    return out
