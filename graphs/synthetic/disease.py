"""The planted disease process: latent risk factors -> onsets -> coding -> prescriptions.

Everything is vectorised over patients; the only Python loops run over visits (<= the
maximum number of visits) and over the 16 conditions / ~20 prescribing rules.

At visit ``v`` condition ``c`` starts with probability ``sigmoid(logit)`` where::

    logit = base_c + prevalence_c * [v == 0] + sum_k weight_ck * latent_k
            + sum_{s -> c} log_odds_sc * active_s(v - 1)           (RISK_FACTORS)
            + bleeding terms from the drugs taken at v - 1        (gi_bleed only)

Visit 0 stands for all the years before the observation window, hence the extra
``prevalence`` log-odds, and it uses the *same-visit* state of parents earlier in
:data:`~graphs.synthetic.catalog.CONDITION_KEYS` so baseline comorbidity is correlated.
Chronic conditions persist; acute ones (pneumonia, GI bleeding) are single-visit episodes
that may recur. Hereditary conditions can only start in genotype carriers, and their
risk effects (FH -> IHD, HH -> T2D) act through the genotype, diagnosed or not.

Examples:
    >>> s = simulate(np.random.default_rng(0), 200, (2, 4))
    >>> s.active.shape, s.meds.shape[2] == len(DRUG_KEYS)
    ((200, 4, 16), True)
    >>> bool((s.coded & ~s.present[:, :, None]).any())
    False
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from graphs.synthetic.catalog import CONDITION_KEYS, CONDITIONS
from graphs.synthetic.drugs import (
    BLEEDING_RISK,
    DDI,
    DDI_BLEED_LOGODDS,
    DRUG_KEYS,
    TREATMENTS,
)

__all__ = [
    "HAZARDS",
    "RISK_FACTORS",
    "GENOTYPE_FREQ",
    "CODING",
    "CohortState",
    "simulate",
    "intensity",
]

_C = {k: i for i, k in enumerate(CONDITION_KEYS)}
_D = {k: i for i, k in enumerate(DRUG_KEYS)}

#: Per-visit onset log-odds: ``base``, extra ``prevalence`` at visit 0, and weights of the
#: latent factors (``age`` is standardised (age - 55) / 15, ``male`` 0/1, ``smoker`` 0/1,
#: ``met``/``resp``/``ment`` standard normal). ``requires`` names a genotype.
HAZARDS: dict[str, dict[str, float | str]] = {
    "t2d": {"base": -4.7, "prevalence": 2.3, "age": 0.5, "met": 0.9},
    "htn": {"base": -4.3, "prevalence": 2.9, "age": 0.9, "met": 0.6},
    "hld": {"base": -4.3, "prevalence": 2.6, "age": 0.6, "met": 0.6},
    "ckd": {"base": -6.0, "prevalence": 1.7, "age": 0.9},
    "ihd": {"base": -6.2, "prevalence": 2.0, "age": 1.0, "male": 0.6, "smoker": 0.7},
    "hf": {"base": -6.6, "prevalence": 1.4, "age": 0.9},
    "af": {"base": -6.4, "prevalence": 1.6, "age": 1.1, "male": 0.3},
    "copd": {"base": -7.0, "prevalence": 2.6, "age": 0.8, "smoker": 3.0},
    "asthma": {"base": -5.8, "prevalence": 2.8, "age": -0.3, "resp": 1.1},
    "pneumonia": {"base": -4.6, "prevalence": 0.0, "age": 0.7, "smoker": 0.4},
    "depression": {"base": -4.9, "prevalence": 2.2, "ment": 1.0, "male": -0.5},
    "anxiety": {"base": -4.9, "prevalence": 2.1, "ment": 0.8, "male": -0.5},
    "fh": {"base": -1.2, "prevalence": 1.2, "requires": "fh"},
    "cf": {"base": -1.0, "prevalence": 4.0, "requires": "cf"},
    "hh": {"base": -2.6, "prevalence": 0.8, "age": 0.8, "male": 0.8, "requires": "hh"},
    "gi_bleed": {"base": -6.0, "prevalence": 0.0, "age": 0.5},
}

#: Planted comorbidity dependencies (source, target, log-odds). For hereditary sources
#: the genotype carries the effect.
RISK_FACTORS: tuple[tuple[str, str, float], ...] = (
    ("t2d", "ckd", 1.6), ("htn", "ckd", 1.0),
    ("t2d", "ihd", 0.9), ("htn", "ihd", 0.8), ("hld", "ihd", 0.8), ("fh", "ihd", 1.6),
    ("ihd", "hf", 2.0), ("htn", "hf", 0.7), ("ckd", "hf", 0.5), ("af", "hf", 0.9),
    ("ihd", "af", 1.2), ("htn", "af", 0.6), ("hf", "af", 1.0),
    ("copd", "pneumonia", 1.6), ("cf", "pneumonia", 2.5), ("hf", "pneumonia", 0.6),
    ("asthma", "pneumonia", 0.4),
    ("hh", "t2d", 1.2),
    ("anxiety", "depression", 0.7),
)

#: Carrier frequencies, enriched far above real populations (FH ~1/250, CF ~1/3500 adults,
#: HFE C282Y homozygotes ~1/200) so a cohort of a thousand still has cases to learn from.
GENOTYPE_FREQ: dict[str, float] = {"fh": 0.04, "cf": 0.015, "hh": 0.03}

#: Probability that an active condition is coded at a visit: at its first active visit,
#: at later visits, for an acute episode; and of a spurious (rule-out) code.
CODING: dict[str, float] = {"first": 0.65, "later": 0.85, "acute": 0.92, "spurious": 0.002}

_HEREDITARY = ("fh", "cf", "hh")
_KEEP_LEAF = 0.7  # a patient's code for a condition usually stays the same across visits
_CONTEXT_PROB = 0.7  # combination codes are used most of the time when they apply
_AVOID_SEVERE_DDI = 0.5  # prescribers drop the second drug of a severe pair half the time
_NOISE_DRUG = 0.002  # per drug and visit: a prescription unrelated to any rule


@dataclass
class CohortState:
    """Arrays of the simulated cohort (``P`` patients, ``V`` visit slots, ``C``
    conditions, ``D`` drugs). Slots ``v >= n_visits[p]`` are padding (all False).

    Attributes:
        n_visits: ``[P]`` visits per patient.
        present: ``[P, V]`` bool, the visit exists.
        age0: ``[P]`` age in years at the first visit.
        sex: ``[P]`` ``"F"``/``"M"``/``"U"``.
        latent: name -> ``[P]`` latent factor (``met``, ``resp``, ``ment``, ``smoker``).
        genotype: name -> ``[P]`` bool carrier status (``fh``, ``cf``, ``hh``).
        days: ``[P, V]`` days from the cohort start date to each visit.
        active: ``[P, V, C]`` bool, the planted truth.
        onset: ``[P, C]`` first active visit, -1 if never.
        coded: ``[P, V, C]`` bool, a diagnosis code was recorded.
        leaf: ``[P, V, C]`` index into ``Condition.leaves`` of the recorded code.
        meds: ``[P, V, D]`` bool, drug prescribed at the visit.
    """

    n_visits: np.ndarray
    present: np.ndarray
    age0: np.ndarray
    sex: np.ndarray
    latent: dict[str, np.ndarray]
    genotype: dict[str, np.ndarray]
    days: np.ndarray
    active: np.ndarray
    onset: np.ndarray
    coded: np.ndarray
    leaf: np.ndarray
    meds: np.ndarray


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _draw_index(rng: np.random.Generator, weights: np.ndarray, n: int) -> np.ndarray:
    cum = np.cumsum(weights) / np.sum(weights)
    return np.minimum(np.searchsorted(cum, rng.random(n), side="right"), len(cum) - 1)


def simulate(rng: np.random.Generator, n_patients: int, n_visits: tuple[int, int]) -> CohortState:
    """Runs the planted process for ``n_patients`` patients.

    Args:
        rng: The cohort generator (consumed in a fixed order: same seed, same state).
        n_patients: Number of patients.
        n_visits: Inclusive (min, max) visits per patient.

    Returns:
        The :class:`CohortState`.
    """
    P, V, C, D = n_patients, n_visits[1], len(CONDITION_KEYS), len(DRUG_KEYS)
    nv = rng.integers(n_visits[0], n_visits[1] + 1, size=P)
    present = np.arange(V)[None, :] < nv[:, None]
    genotype = {g: rng.random(P) < GENOTYPE_FREQ[g] for g in _HEREDITARY}
    # adults 20-90; people with CF are younger (shorter life expectancy)
    age0 = np.clip(rng.normal(55, 15, P), 20, 90)
    age0 = np.where(genotype["cf"], 18 + 25 * rng.random(P), age0)
    u = rng.random(P)
    sex = np.where(u < 0.5, "F", np.where(u < 0.995, "M", "U"))
    smoker = rng.random(P) < 0.25
    latent = {"met": rng.normal(size=P), "resp": rng.normal(size=P),
              "ment": rng.normal(size=P), "smoker": smoker.astype(float)}
    first = rng.uniform(0, 730, P)
    gaps = 30 + rng.exponential(150, (P, V))
    gaps[:, 0] = 0
    days = first[:, None] + np.cumsum(gaps, axis=1)

    factors = dict(latent, male=(sex == "M").astype(float))
    # work in [V, C, P] / [V, D, P] so every per-condition row is contiguous
    active = np.zeros((V, C, P), bool)
    coded = np.zeros((V, C, P), bool)
    leaf = np.zeros((V, C, P), np.int8)
    meds = np.zeros((V, D, P), bool)
    known = np.zeros((C, P), bool)
    weights = [np.asarray(CONDITIONS[k].weights) for k in CONDITION_KEYS]
    pref_leaf = np.stack([_draw_index(rng, w, P) for w in weights])
    lines = [(c, line) for c in CONDITION_KEYS for line in TREATMENTS[c]]
    pref_drug = np.stack([_draw_index(rng, np.asarray(line.weights), P) for _, line in lines])
    parents: dict[str, list[tuple[int, float, str]]] = {k: [] for k in CONDITION_KEYS}
    for src, dst, eff in RISK_FACTORS:
        parents[dst].append((_C[src], eff, src))
    chronic = np.array([CONDITIONS[k].chronic for k in CONDITION_KEYS])

    for v in range(V):
        here = present[:, v]
        age = (age0 + days[:, v] / 365.25 - 55) / 15
        prev = active[v - 1] if v else active[0]  # visit 0: same-visit parents
        for ci, key in enumerate(CONDITION_KEYS):
            h = HAZARDS[key]
            logit = h["base"] + (h["prevalence"] if v == 0 else 0.0) + h.get("age", 0) * age
            for name in ("met", "resp", "ment", "smoker", "male"):
                if name in h:
                    logit = logit + h[name] * factors[name]
            for si, eff, src in parents[key]:
                logit = logit + eff * (genotype[src] if src in genotype else prev[si])
            if key == "gi_bleed" and v:
                logit = logit + _bleeding_logit(meds[v - 1])
            new = rng.random(P) < _sigmoid(logit)
            if "requires" in h:
                new &= genotype[str(h["requires"])]
            if v and chronic[ci]:
                new |= active[v - 1, ci]
            active[v, ci] = new & here
        was = active[v - 1] if v else np.zeros((C, P), bool)
        _code_visit(rng, active[v], was, chronic, coded[v], leaf[v], pref_leaf)
        coded[v] &= here
        known |= coded[v]
        _prescribe(rng, coded[v], known, meds[v], lines, pref_drug)
        meds[v] &= here

    def pvc(x: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(x.transpose(2, 0, 1))

    active, coded, leaf, meds = pvc(active), pvc(coded), pvc(leaf), pvc(meds)
    onset = np.where(active.any(axis=1), active.argmax(axis=1), -1).astype(np.int16)
    return CohortState(nv, present, age0, sex, latent, genotype, days, active, onset,
                       coded, leaf, meds)


def _bleeding_logit(meds_prev: np.ndarray) -> np.ndarray:
    out = np.zeros(meds_prev.shape[1])
    for drug, eff in BLEEDING_RISK.items():
        out += eff * meds_prev[_D[drug]]
    for a, b, sev, _ in DDI:
        out += DDI_BLEED_LOGODDS * sev * (meds_prev[_D[a]] & meds_prev[_D[b]])
    return out


def _code_visit(rng, act, was, chronic, coded, leaf, pref_leaf) -> None:
    """Fills ``coded`` and ``leaf`` ([C, P]) for one visit from ``act`` ([C, P])."""
    C, P = act.shape
    p = np.where(~chronic, CODING["acute"], np.where(was.T, CODING["later"], CODING["first"])).T
    coded[:] = act & (rng.random((C, P)) < p)
    coded |= ~act & (rng.random((C, P)) < CODING["spurious"])
    redraw = rng.random((C, P)) >= _KEEP_LEAF
    for ci, key in enumerate(CONDITION_KEYS):
        cond = CONDITIONS[key]
        idx = pref_leaf[ci].copy()
        r = redraw[ci]
        idx[r] = _draw_index(rng, np.asarray(cond.weights), int(r.sum()))
        if cond.context:
            use_ctx = rng.random(P) < _CONTEXT_PROB
            done = np.zeros(P, bool)
            for needed, code in cond.context:  # most specific rule first
                ok = use_ctx & ~done & np.all([act[_C[n]] for n in needed], axis=0)
                idx[ok] = cond.leaves.index(code)
                done |= ok
        leaf[ci] = idx


def _prescribe(rng, coded, known, meds, lines, pref_drug) -> None:
    """Fills ``meds`` ([D, P]) for one visit from the conditions known so far."""
    P = coded.shape[1]
    for li, (key, line) in enumerate(lines):
        ci = _C[key]
        eligible = known[ci] if CONDITIONS[key].chronic else coded[ci]
        prob = np.full(P, line.prob)
        if line.if_known is not None:
            prob = np.where(known[_C[line.if_known]], line.prob_if, prob)
        give = eligible & (rng.random(P) < prob)
        for oi, option in enumerate(line.options):
            meds[_D[option]] |= give & (pref_drug[li] == oi)
    for a, b, sev, _ in DDI:
        if sev >= 0.75:
            both = meds[_D[a]] & meds[_D[b]]
            meds[_D[b]] &= ~(both & (rng.random(P) < _AVOID_SEVERE_DDI))
    meds |= rng.random(meds.shape) < _NOISE_DRUG


def intensity(state: CohortState, patients: np.ndarray, visits: np.ndarray) -> np.ndarray:
    """How strongly each condition shows in raw observations at (patient, visit).

    1 while active (chronic conditions grow from 0.75 at onset to 1 two visits later),
    and a **prodrome** before a chronic onset: 0.45 one visit before, 0.2 two visits
    before. Hereditary conditions have no prodrome (their genotype is shown instead).

    Args:
        state: The cohort state.
        patients: ``[n]`` patient row indices.
        visits: ``[n]`` visit indices.

    Returns:
        ``[n, C]`` float array in [0, 1].
    """
    patients = np.asarray(patients, dtype=np.int64)
    visits = np.asarray(visits, dtype=np.int64)
    onset = state.onset[patients]
    # visits since onset, clipped to the range the lookup tables cover
    d = np.clip(visits[:, None] - onset, -3, 3).astype(np.int64) + 3
    level = np.where(onset >= 0, _LEVELS[_KIND[None, :], d], 0.0)
    acute = ~_CHRONIC
    if acute.any():
        level[:, acute] = state.active[patients[:, None], visits[:, None],
                                       np.flatnonzero(acute)[None, :]]
    return level


_CHRONIC = np.array([CONDITIONS[k].chronic for k in CONDITION_KEYS])
# rows: 0 chronic with prodrome, 1 hereditary (no prodrome); columns: visits since onset
# -3..+3 (>= +3 means "3 or more")
_LEVELS = np.array([[0.0, 0.2, 0.45, 0.75, 0.875, 1.0, 1.0],
                    [0.0, 0.0, 0.0, 0.75, 0.875, 1.0, 1.0]])
_KIND = np.array([1 if k in _HEREDITARY else 0 for k in CONDITION_KEYS])
