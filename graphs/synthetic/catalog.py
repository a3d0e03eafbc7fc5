"""The condition catalogue of the synthetic cohort: real ICD-10-CM FY2026 codes.

Each :class:`Condition` is one prediction target (its ``key``, e.g. ``"t2d"``). Patients
are coded with one of its specific **leaf** codes (``E11.65``, ``E11.319``, ...), drawn
from a skewed distribution, while the target is the condition as a whole, whose ICD-10-CM
node (``group``, e.g. ``ICD10CM:E11``) subsumes every leaf. Many leaves are rare, so a model
that treats codes as unrelated symbols sees each one a handful of times; the KG's ``is_a``
chain (:func:`parent`) joins siblings under their group and lets evidence be shared.

A few leaves are *contextual* (weight 0, used only when other conditions are present),
following real ICD-10-CM combination-coding rules: type 2 diabetes with CKD is coded
``E11.22``; hypertension with CKD ``I12.9``, with heart failure ``I11.0``, with both
``I13.0``. The leaf itself then carries comorbidity information.

Every code and label here was checked against the ICD-10-CM FY2026 tabular list shipped
in ``simple-icd-10-cm`` (see ``tests/graphs/synthetic/test_catalog.py``).

Examples:
    >>> CONDITIONS["t2d"].group
    'ICD10CM:E11'
    >>> CONDITIONS["htn"].leaf_for(("ckd",))
    'ICD10CM:I12.9'
    >>> ancestors("ICD10CM:E11.319")
    ['ICD10CM:E11.31', 'ICD10CM:E11.3', 'ICD10CM:E11']
    >>> condition_of("ICD10CM:F33.1")
    'depression'
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ontologies.errors import UnknownCodeError

__all__ = [
    "Condition",
    "CONDITIONS",
    "CONDITION_KEYS",
    "CLUSTERS",
    "NODE_LABELS",
    "parent",
    "ancestors",
    "condition_of",
    "conditions_table",
    "leaves_table",
]


@dataclass(frozen=True)
class Condition:
    """One condition of the catalogue.

    Attributes:
        key: Short name, also the label column of the planted truth.
        label: Human-readable name.
        cluster: ``metabolic``, ``cardiovascular``, ``respiratory``, ``mental``,
            ``hereditary`` or ``adverse``.
        group: CURIE of the ICD-10-CM node subsuming all leaves (the prediction target).
        leaves: Leaf CURIEs.
        weights: Sampling weight of each leaf (0 = only used through ``context``).
        chronic: Chronic conditions persist once started; acute ones are episodes.
        context: ``(required condition keys, leaf CURIE)`` pairs, most specific first:
            the leaf used when all required conditions are active.
    """

    key: str
    label: str
    cluster: str
    group: str
    leaves: tuple[str, ...]
    weights: tuple[float, ...]
    chronic: bool = True
    context: tuple[tuple[tuple[str, ...], str], ...] = ()

    def leaf_for(self, active: tuple[str, ...] | set[str]) -> str | None:
        """The contextual leaf for a set of active condition keys, if any rule applies."""
        for needed, leaf in self.context:
            if set(needed) <= set(active):
                return leaf
        return None


def _c(key: str, label: str, cluster: str, group: str, leaves: dict[str, float],
       chronic: bool = True, context: tuple = ()) -> Condition:
    return Condition(key, label, cluster, f"ICD10CM:{group}",
                     tuple(f"ICD10CM:{code}" for code in leaves), tuple(leaves.values()),
                     chronic, tuple((need, f"ICD10CM:{leaf}") for need, leaf in context))


# Weights are deliberately long-tailed: the unspecified code dominates, the rest are rare.
_ALL = (
    _c("t2d", "Type 2 diabetes mellitus", "metabolic", "E11",
       {"E11.9": 0.45, "E11.65": 0.18, "E11.69": 0.08, "E11.40": 0.07, "E11.42": 0.05,
        "E11.319": 0.05, "E11.649": 0.05, "E11.8": 0.07, "E11.22": 0.0},
       context=((("ckd",), "E11.22"),)),
    _c("htn", "Essential hypertension", "metabolic", "I10-I1A",
       {"I10": 1.0, "I12.9": 0.0, "I11.0": 0.0, "I13.0": 0.0},
       context=((("ckd", "hf"), "I13.0"), (("ckd",), "I12.9"), (("hf",), "I11.0"))),
    _c("hld", "Hyperlipidaemia", "metabolic", "E78",
       {"E78.5": 0.5, "E78.00": 0.2, "E78.2": 0.15, "E78.1": 0.1, "E78.49": 0.05}),
    _c("ckd", "Chronic kidney disease", "metabolic", "N18",
       {"N18.9": 0.2, "N18.30": 0.2, "N18.31": 0.18, "N18.32": 0.12, "N18.2": 0.18,
        "N18.4": 0.12}),
    _c("ihd", "Chronic ischaemic heart disease", "cardiovascular", "I25",
       {"I25.10": 0.5, "I25.2": 0.12, "I25.119": 0.1, "I25.9": 0.08, "I25.5": 0.06,
        "I25.110": 0.07, "I25.118": 0.07}),
    _c("hf", "Heart failure", "cardiovascular", "I50",
       {"I50.9": 0.3, "I50.22": 0.15, "I50.32": 0.15, "I50.42": 0.08, "I50.20": 0.08,
        "I50.30": 0.08, "I50.23": 0.08, "I50.33": 0.08}),
    _c("af", "Atrial fibrillation", "cardiovascular", "I48",
       {"I48.91": 0.45, "I48.0": 0.2, "I48.20": 0.1, "I48.21": 0.05, "I48.11": 0.1,
        "I48.19": 0.1}),
    _c("copd", "Chronic obstructive pulmonary disease", "respiratory", "J44",
       {"J44.9": 0.6, "J44.1": 0.25, "J44.0": 0.1, "J44.89": 0.05}),
    _c("asthma", "Asthma", "respiratory", "J45",
       {"J45.909": 0.4, "J45.20": 0.15, "J45.30": 0.1, "J45.40": 0.1, "J45.50": 0.05,
        "J45.901": 0.12, "J45.991": 0.08}),
    _c("pneumonia", "Pneumonia", "respiratory", "J18",
       {"J18.9": 0.7, "J18.1": 0.15, "J18.0": 0.1, "J18.8": 0.05}, chronic=False),
    _c("depression", "Depression", "mental", "F30-F39",
       {"F32.9": 0.3, "F32.A": 0.15, "F32.1": 0.15, "F32.0": 0.1, "F32.2": 0.05,
        "F33.1": 0.1, "F33.0": 0.08, "F33.9": 0.07}),
    _c("anxiety", "Anxiety disorder", "mental", "F41",
       {"F41.9": 0.45, "F41.1": 0.4, "F41.0": 0.1, "F41.8": 0.05}),
    _c("fh", "Familial hypercholesterolaemia", "hereditary", "E78.01",
       {"E78.011": 0.5, "E78.019": 0.45, "E78.010": 0.05}),
    _c("cf", "Cystic fibrosis", "hereditary", "E84",
       {"E84.0": 0.55, "E84.9": 0.25, "E84.8": 0.1, "E84.19": 0.1}),
    _c("hh", "Hereditary haemochromatosis", "hereditary", "E83.11",
       {"E83.110": 0.6, "E83.119": 0.3, "E83.118": 0.1}),
    _c("gi_bleed", "Gastrointestinal haemorrhage", "adverse", "K92",
       {"K92.2": 0.7, "K92.1": 0.2, "K92.0": 0.1}, chronic=False),
)

#: Conditions by key, in the fixed order used by every array of the generator.
CONDITIONS: dict[str, Condition] = {c.key: c for c in _ALL}
CONDITION_KEYS: tuple[str, ...] = tuple(CONDITIONS)
CLUSTERS: tuple[str, ...] = ("metabolic", "cardiovascular", "respiratory", "mental",
                             "hereditary", "adverse")

# Parents that are blocks rather than the code with its last character removed.
_BLOCK_PARENT = {"I10": "I10-I1A", "I11": "I10-I1A", "I12": "I10-I1A", "I13": "I10-I1A",
                 "F32": "F30-F39", "F33": "F30-F39"}

#: ICD-10-CM FY2026 titles of every leaf and every node between a leaf and its group.
NODE_LABELS: dict[str, str] = {f"ICD10CM:{k}": v for k, v in {
    "E11": "Type 2 diabetes mellitus",
    "E11.9": "Type 2 diabetes mellitus without complications",
    "E11.6": "Type 2 diabetes mellitus with other specified complications",
    "E11.65": "Type 2 diabetes mellitus with hyperglycemia",
    "E11.69": "Type 2 diabetes mellitus with other specified complication",
    "E11.64": "Type 2 diabetes mellitus with hypoglycemia",
    "E11.649": "Type 2 diabetes mellitus with hypoglycemia without coma",
    "E11.4": "Type 2 diabetes mellitus with neurological complications",
    "E11.40": "Type 2 diabetes mellitus with diabetic neuropathy, unspecified",
    "E11.42": "Type 2 diabetes mellitus with diabetic polyneuropathy",
    "E11.3": "Type 2 diabetes mellitus with ophthalmic complications",
    "E11.31": "Type 2 diabetes mellitus with unspecified diabetic retinopathy",
    "E11.319": "Type 2 diabetes mellitus with unspecified diabetic retinopathy without "
               "macular edema",
    "E11.8": "Type 2 diabetes mellitus with unspecified complications",
    "E11.2": "Type 2 diabetes mellitus with kidney complications",
    "E11.22": "Type 2 diabetes mellitus with diabetic chronic kidney disease",
    "I10-I1A": "Hypertensive diseases (I10-I1A)",
    "I10": "Essential (primary) hypertension",
    "I11": "Hypertensive heart disease",
    "I11.0": "Hypertensive heart disease with heart failure",
    "I12": "Hypertensive chronic kidney disease",
    "I12.9": "Hypertensive chronic kidney disease with stage 1 through stage 4 chronic "
             "kidney disease, or unspecified chronic kidney disease",
    "I13": "Hypertensive heart and chronic kidney disease",
    "I13.0": "Hypertensive heart and chronic kidney disease with heart failure and stage 1 "
             "through stage 4 chronic kidney disease, or unspecified chronic kidney disease",
    "E78": "Disorders of lipoprotein metabolism and other lipidemias",
    "E78.0": "Pure hypercholesterolemia",
    "E78.00": "Pure hypercholesterolemia, unspecified",
    "E78.01": "Familial hypercholesterolemia",
    "E78.010": "Homozygous familial hypercholesterolemia [HoFH]",
    "E78.011": "Heterozygous familial hypercholesterolemia [HeFH]",
    "E78.019": "Familial hypercholesterolemia, unspecified",
    "E78.1": "Pure hyperglyceridemia",
    "E78.2": "Mixed hyperlipidemia",
    "E78.4": "Other hyperlipidemia",
    "E78.49": "Other hyperlipidemia",
    "E78.5": "Hyperlipidemia, unspecified",
    "N18": "Chronic kidney disease (CKD)",
    "N18.2": "Chronic kidney disease, stage 2 (mild)",
    "N18.3": "Chronic kidney disease, stage 3 (moderate)",
    "N18.30": "Chronic kidney disease, stage 3 unspecified",
    "N18.31": "Chronic kidney disease, stage 3a",
    "N18.32": "Chronic kidney disease, stage 3b",
    "N18.4": "Chronic kidney disease, stage 4 (severe)",
    "N18.9": "Chronic kidney disease, unspecified",
    "I25": "Chronic ischemic heart disease",
    "I25.1": "Atherosclerotic heart disease of native coronary artery",
    "I25.10": "Atherosclerotic heart disease of native coronary artery without angina "
              "pectoris",
    "I25.11": "Atherosclerotic heart disease of native coronary artery with angina pectoris",
    "I25.110": "Atherosclerotic heart disease of native coronary artery with unstable angina "
               "pectoris",
    "I25.118": "Atherosclerotic heart disease of native coronary artery with other forms of "
               "angina pectoris",
    "I25.119": "Atherosclerotic heart disease of native coronary artery with unspecified "
               "angina pectoris",
    "I25.2": "Old myocardial infarction",
    "I25.5": "Ischemic cardiomyopathy",
    "I25.9": "Chronic ischemic heart disease, unspecified",
    "I50": "Heart failure",
    "I50.2": "Systolic (congestive) heart failure",
    "I50.20": "Unspecified systolic (congestive) heart failure",
    "I50.22": "Chronic systolic (congestive) heart failure",
    "I50.23": "Acute on chronic systolic (congestive) heart failure",
    "I50.3": "Diastolic (congestive) heart failure",
    "I50.30": "Unspecified diastolic (congestive) heart failure",
    "I50.32": "Chronic diastolic (congestive) heart failure",
    "I50.33": "Acute on chronic diastolic (congestive) heart failure",
    "I50.4": "Combined systolic (congestive) and diastolic (congestive) heart failure",
    "I50.42": "Chronic combined systolic (congestive) and diastolic (congestive) heart "
              "failure",
    "I50.9": "Heart failure, unspecified",
    "I48": "Atrial fibrillation and flutter",
    "I48.0": "Paroxysmal atrial fibrillation",
    "I48.1": "Persistent atrial fibrillation",
    "I48.11": "Longstanding persistent atrial fibrillation",
    "I48.19": "Other persistent atrial fibrillation",
    "I48.2": "Chronic atrial fibrillation",
    "I48.20": "Chronic atrial fibrillation, unspecified",
    "I48.21": "Permanent atrial fibrillation",
    "I48.9": "Unspecified atrial fibrillation and atrial flutter",
    "I48.91": "Unspecified atrial fibrillation",
    "J44": "Other chronic obstructive pulmonary disease",
    "J44.0": "Chronic obstructive pulmonary disease with (acute) lower respiratory infection",
    "J44.1": "Chronic obstructive pulmonary disease with (acute) exacerbation",
    "J44.8": "Other specified chronic obstructive pulmonary disease",
    "J44.89": "Other specified chronic obstructive pulmonary disease",
    "J44.9": "Chronic obstructive pulmonary disease, unspecified",
    "J45": "Asthma",
    "J45.2": "Mild intermittent asthma",
    "J45.20": "Mild intermittent asthma, uncomplicated",
    "J45.3": "Mild persistent asthma",
    "J45.30": "Mild persistent asthma, uncomplicated",
    "J45.4": "Moderate persistent asthma",
    "J45.40": "Moderate persistent asthma, uncomplicated",
    "J45.5": "Severe persistent asthma",
    "J45.50": "Severe persistent asthma, uncomplicated",
    "J45.9": "Other and unspecified asthma",
    "J45.90": "Unspecified asthma",
    "J45.901": "Unspecified asthma with (acute) exacerbation",
    "J45.909": "Unspecified asthma, uncomplicated",
    "J45.99": "Other asthma",
    "J45.991": "Cough variant asthma",
    "J18": "Pneumonia, unspecified organism",
    "J18.0": "Bronchopneumonia, unspecified organism",
    "J18.1": "Lobar pneumonia, unspecified organism",
    "J18.8": "Other pneumonia, unspecified organism",
    "J18.9": "Pneumonia, unspecified organism",
    "F30-F39": "Mood [affective] disorders (F30-F39)",
    "F32": "Depressive episode",
    "F32.0": "Major depressive disorder, single episode, mild",
    "F32.1": "Major depressive disorder, single episode, moderate",
    "F32.2": "Major depressive disorder, single episode, severe without psychotic features",
    "F32.9": "Major depressive disorder, single episode, unspecified",
    "F32.A": "Depression, unspecified",
    "F33": "Major depressive disorder, recurrent",
    "F33.0": "Major depressive disorder, recurrent, mild",
    "F33.1": "Major depressive disorder, recurrent, moderate",
    "F33.9": "Major depressive disorder, recurrent, unspecified",
    "F41": "Other anxiety disorders",
    "F41.0": "Panic disorder [episodic paroxysmal anxiety]",
    "F41.1": "Generalized anxiety disorder",
    "F41.8": "Other specified anxiety disorders",
    "F41.9": "Anxiety disorder, unspecified",
    "E84": "Cystic fibrosis",
    "E84.0": "Cystic fibrosis with pulmonary manifestations",
    "E84.1": "Cystic fibrosis with intestinal manifestations",
    "E84.19": "Cystic fibrosis with other intestinal manifestations",
    "E84.8": "Cystic fibrosis with other manifestations",
    "E84.9": "Cystic fibrosis, unspecified",
    "E83.11": "Hemochromatosis",
    "E83.110": "Hereditary hemochromatosis",
    "E83.118": "Other hemochromatosis",
    "E83.119": "Hemochromatosis, unspecified",
    "K92": "Other diseases of digestive system",
    "K92.0": "Hematemesis",
    "K92.1": "Melena",
    "K92.2": "Gastrointestinal hemorrhage, unspecified",
}.items()}

_LEAF_TO_CONDITION = {leaf: c.key for c in _ALL for leaf in c.leaves}


def parent(curie: str) -> str | None:
    """The ICD-10-CM parent of a catalogue code (``None`` at a block).

    Examples:
        >>> parent("ICD10CM:J45.909"), parent("ICD10CM:I12"), parent("ICD10CM:I10-I1A")
        ('ICD10CM:J45.90', 'ICD10CM:I10-I1A', None)
    """
    code = curie.split(":", 1)[-1]
    if code in _BLOCK_PARENT:
        return f"ICD10CM:{_BLOCK_PARENT[code]}"
    if "." not in code:
        return None
    code = code[:-1]
    return f"ICD10CM:{code.rstrip('.')}"


def ancestors(curie: str) -> list[str]:
    """Parents of ``curie`` up to its condition's group, nearest first."""
    key = condition_of(curie)
    group = CONDITIONS[key].group
    out, node = [], curie
    while node != group:
        node = parent(node)
        if node is None:  # cannot happen for catalogue codes; guards edits to the table
            raise UnknownCodeError(curie, f"a code below {group}")
        out.append(node)
    return out


def condition_of(curie: str) -> str:
    """The condition key of a leaf CURIE; raises :class:`UnknownCodeError` otherwise."""
    try:
        return _LEAF_TO_CONDITION[curie]
    except KeyError:
        raise UnknownCodeError(curie, "a leaf code of the synthetic catalogue") from None


def conditions_table() -> pd.DataFrame:
    """One row per condition: key, label, cluster, group, group_label, chronic, n_leaves.

    Examples:
        >>> t = conditions_table()
        >>> t.loc[t.key == "fh", ["group", "cluster"]].values.tolist()
        [['ICD10CM:E78.01', 'hereditary']]
    """
    rows = [{"key": c.key, "label": c.label, "cluster": c.cluster, "group": c.group,
             "group_label": NODE_LABELS[c.group], "chronic": c.chronic,
             "n_leaves": len(c.leaves)} for c in _ALL]
    return pd.DataFrame(rows).astype({"key": "string", "label": "string", "cluster": "string",
                                      "group": "string", "group_label": "string"})


def leaves_table() -> pd.DataFrame:
    """One row per leaf code: code, label, condition, weight, contextual.

    Examples:
        >>> t = leaves_table()
        >>> t.loc[t.code == "ICD10CM:E11.22", ["condition", "contextual"]].values.tolist()
        [['t2d', True]]
    """
    rows = [{"code": leaf, "label": NODE_LABELS[leaf], "condition": c.key, "weight": w,
             "contextual": w == 0.0}
            for c in _ALL for leaf, w in zip(c.leaves, c.weights, strict=True)]
    return pd.DataFrame(rows).astype({"code": "string", "label": "string",
                                      "condition": "string"})
