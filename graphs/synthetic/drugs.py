"""Drugs, prescribing rules and drug-drug interactions of the synthetic cohort.

RxNorm ingredient concept ids (RxCUIs) are given from the RxNorm ingredient list as the
author knows it (metformin 6809, lisinopril 29046, atorvastatin 83367, ...); they were
not re-checked against a live RxNav service (no network here). Treat them as correct
to the best of our knowledge, and verify before any use outside this demo.

The DDI table is **illustrative, not clinical advice**: a dozen well-known interaction
pairs summarised in our own words from general pharmacology knowledge, with a severity on
the project's scale (mild 0.25, moderate 0.5, severe 0.75, profound 1.0).

Examples:
    >>> DRUGS["metformin"].curie
    'RXNORM:6809'
    >>> [line.options for line in TREATMENTS["t2d"]]
    [('metformin',), ('insulin_glargine',)]
    >>> t = ddi_table()
    >>> t.loc[(t.label_a == "warfarin") & (t.label_b == "aspirin"), "severity"].item()
    0.75
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

__all__ = [
    "Drug",
    "TreatmentLine",
    "DRUGS",
    "DRUG_KEYS",
    "TREATMENTS",
    "DDI",
    "DDI_SOURCE",
    "BLEEDING_RISK",
    "DDI_BLEED_LOGODDS",
    "SHORT_COURSE",
    "drugs_table",
    "ddi_table",
]


@dataclass(frozen=True)
class Drug:
    """An ingredient: RxCUI, name and drug class."""

    rxcui: str
    name: str
    drug_class: str

    @property
    def curie(self) -> str:
        """``RXNORM:<rxcui>``."""
        return f"RXNORM:{self.rxcui}"


@dataclass(frozen=True)
class TreatmentLine:
    """One line of therapy for a condition.

    A patient whose condition is known (coded at this or an earlier visit) receives one
    of ``options`` with probability ``prob`` per visit (``prob_if`` instead when the
    condition ``if_known`` is also known). The option is chosen once per patient with
    ``weights``, so patients stay on "their" drug from visit to visit.
    """

    options: tuple[str, ...]
    weights: tuple[float, ...]
    prob: float
    if_known: str | None = None
    prob_if: float | None = None


_D = Drug
#: Ingredients by key (the generator's drug axis follows this order).
DRUGS: dict[str, Drug] = {d.name.replace(" ", "_"): d for d in (
    _D("6809", "metformin", "biguanide"),
    _D("274783", "insulin glargine", "long-acting insulin"),
    _D("29046", "lisinopril", "ACE inhibitor"),
    _D("17767", "amlodipine", "calcium channel blocker"),
    _D("83367", "atorvastatin", "statin"),
    _D("36567", "simvastatin", "statin"),
    _D("341248", "ezetimibe", "cholesterol absorption inhibitor"),
    _D("1191", "aspirin", "antiplatelet"),
    _D("32968", "clopidogrel", "antiplatelet"),
    _D("11289", "warfarin", "vitamin K antagonist"),
    _D("1364430", "apixaban", "direct oral anticoagulant"),
    _D("4603", "furosemide", "loop diuretic"),
    _D("6918", "metoprolol", "beta blocker"),
    _D("435", "albuterol", "short-acting beta agonist"),
    _D("69120", "tiotropium", "long-acting muscarinic antagonist"),
    _D("41126", "fluticasone", "inhaled corticosteroid"),
    _D("723", "amoxicillin", "penicillin antibiotic"),
    _D("18631", "azithromycin", "macrolide antibiotic"),
    _D("36437", "sertraline", "SSRI"),
    _D("4493", "fluoxetine", "SSRI"),
    _D("321988", "escitalopram", "SSRI"),
    _D("1827", "buspirone", "anxiolytic"),
)}
DRUG_KEYS: tuple[str, ...] = tuple(DRUGS)


def _line(options: dict[str, float] | str, prob: float, if_known: str | None = None,
          prob_if: float | None = None) -> TreatmentLine:
    if isinstance(options, str):
        options = {options: 1.0}
    return TreatmentLine(tuple(options), tuple(options.values()), prob, if_known, prob_if)


#: Prescribing rules: condition key -> lines of therapy.
TREATMENTS: dict[str, tuple[TreatmentLine, ...]] = {
    # metformin is avoided in advanced CKD; insulin takes over
    "t2d": (_line("metformin", 0.88, "ckd", 0.45), _line("insulin_glargine", 0.2, "ckd", 0.7)),
    "htn": (_line("lisinopril", 0.65), _line("amlodipine", 0.45)),
    "hld": (_line({"atorvastatin": 0.65, "simvastatin": 0.35}, 0.8),),
    "ckd": (_line("lisinopril", 0.5), _line("furosemide", 0.2)),
    "ihd": (_line("aspirin", 0.85), _line("atorvastatin", 0.8), _line("metoprolol", 0.6),
            _line("clopidogrel", 0.3)),
    "hf": (_line("furosemide", 0.85), _line("metoprolol", 0.7), _line("lisinopril", 0.6)),
    "af": (_line({"apixaban": 0.6, "warfarin": 0.4}, 0.8), _line("metoprolol", 0.6)),
    "copd": (_line("tiotropium", 0.75), _line("albuterol", 0.8)),
    "asthma": (_line("albuterol", 0.9), _line("fluticasone", 0.6)),
    "pneumonia": (_line({"amoxicillin": 0.6, "azithromycin": 0.4}, 0.9),),
    "depression": (_line({"sertraline": 0.45, "fluoxetine": 0.25, "escitalopram": 0.3}, 0.75),),
    "anxiety": (_line("buspirone", 0.35), _line({"sertraline": 0.5, "escitalopram": 0.5}, 0.4)),
    "fh": (_line("atorvastatin", 0.9), _line("ezetimibe", 0.5)),
    "cf": (_line("azithromycin", 0.6), _line("albuterol", 0.5)),
    "hh": (),  # treated by phlebotomy, not a drug
    "gi_bleed": (),
}

#: Short-course drugs (days of supply); everything else is a 90-day chronic supply.
SHORT_COURSE = {"amoxicillin": 7, "azithromycin": 5}

DDI_SOURCE = ("medkg synthetic catalogue: illustrative interaction pairs summarised from "
              "general pharmacology knowledge; not clinical advice")

#: (drug a, drug b, severity, description); symmetric.
DDI: tuple[tuple[str, str, float, str], ...] = (
    ("warfarin", "apixaban", 1.0, "duplicate anticoagulation: major bleeding risk"),
    ("warfarin", "aspirin", 0.75, "additive antithrombotic effect: increased bleeding risk"),
    ("warfarin", "clopidogrel", 0.75, "additive antithrombotic effect: increased bleeding risk"),
    ("apixaban", "aspirin", 0.5, "anticoagulant plus antiplatelet: increased bleeding risk"),
    ("apixaban", "clopidogrel", 0.5, "anticoagulant plus antiplatelet: increased bleeding risk"),
    ("clopidogrel", "aspirin", 0.5, "dual antiplatelet therapy: increased bleeding risk"),
    ("fluoxetine", "warfarin", 0.5, "SSRI impairs platelet function and raises INR "
                                    "(CYP2C9 inhibition): bleeding risk"),
    ("sertraline", "warfarin", 0.5, "SSRI impairs platelet function: bleeding risk"),
    ("escitalopram", "warfarin", 0.25, "SSRI impairs platelet function: bleeding risk"),
    ("sertraline", "aspirin", 0.25, "SSRI plus antiplatelet: gastrointestinal bleeding risk"),
    ("fluoxetine", "aspirin", 0.25, "SSRI plus antiplatelet: gastrointestinal bleeding risk"),
    ("simvastatin", "amlodipine", 0.5, "amlodipine raises simvastatin exposure: limit "
                                        "simvastatin dose (myopathy risk)"),
    ("fluoxetine", "metoprolol", 0.5, "CYP2D6 inhibition raises metoprolol levels: "
                                      "bradycardia risk"),
    ("azithromycin", "warfarin", 0.5, "macrolide may raise INR: bleeding risk"),
    ("amoxicillin", "warfarin", 0.25, "antibiotic may raise INR: monitor"),
    ("sertraline", "buspirone", 0.5, "serotonergic combination: serotonin syndrome risk"),
    ("fluoxetine", "buspirone", 0.5, "serotonergic combination: serotonin syndrome risk"),
    ("lisinopril", "furosemide", 0.25, "first-dose hypotension and renal function changes"),
)

#: Log-odds added to the next-visit hazard of gastrointestinal haemorrhage per drug taken
#: (antithrombotics bleed on their own; interacting pairs add their severity on top).
BLEEDING_RISK: dict[str, float] = {"warfarin": 1.2, "apixaban": 0.9, "aspirin": 0.6,
                                   "clopidogrel": 0.6}
#: Log-odds per unit of summed DDI severity among the drugs taken at the previous visit.
DDI_BLEED_LOGODDS = 2.0


def drugs_table() -> pd.DataFrame:
    """One row per drug: key, code (CURIE), label, drug_class.

    Examples:
        >>> drugs_table().query("key == 'apixaban'")["code"].item()
        'RXNORM:1364430'
    """
    return pd.DataFrame({
        "key": list(DRUGS), "code": [d.curie for d in DRUGS.values()],
        "label": [d.name for d in DRUGS.values()],
        "drug_class": [d.drug_class for d in DRUGS.values()],
    }).astype("string")


def ddi_table() -> pd.DataFrame:
    """The interaction table: drug_a, drug_b (RxNorm CURIEs), severity, description,
    label_a, label_b, source. One row per unordered pair.

    Examples:
        >>> t = ddi_table()
        >>> list(t.columns)[:4], bool(t.severity.between(0, 1).all())
        (['drug_a', 'drug_b', 'severity', 'description'], True)
    """
    return pd.DataFrame({
        "drug_a": pd.array([DRUGS[a].curie for a, *_ in DDI], dtype="string"),
        "drug_b": pd.array([DRUGS[b].curie for _, b, *_ in DDI], dtype="string"),
        "severity": [s for *_, s, _ in DDI],
        "description": pd.array([d for *_, d in DDI], dtype="string"),
        "label_a": pd.array([DRUGS[a].name for a, *_ in DDI], dtype="string"),
        "label_b": pd.array([DRUGS[b].name for _, b, *_ in DDI], dtype="string"),
        "source": pd.array([DDI_SOURCE] * len(DDI), dtype="string"),
    })
