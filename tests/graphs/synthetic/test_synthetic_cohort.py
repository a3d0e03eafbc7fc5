"""generate_cohort: determinism, schema, planted truth, tasks and configuration."""

import numpy as np
import pandas as pd
import pytest

from graphs.records import TABLE_NAMES
from graphs.synthetic import CONDITION_KEYS, generate_cohort
from graphs.synthetic.disease import CODING
from ontologies.errors import ConfigError, UnknownCodeError

C = {k: i for i, k in enumerate(CONDITION_KEYS)}


def test_same_seed_same_tables_other_seed_differs():
    a = generate_cohort(120, seed=5)
    b = generate_cohort(120, seed=5)
    c = generate_cohort(120, seed=6)
    for name in TABLE_NAMES:
        pd.testing.assert_frame_equal(getattr(a.records, name), getattr(b.records, name))
    pd.testing.assert_frame_equal(a.truth, b.truth)
    assert not a.records.diagnoses.equals(c.records.diagnoses)


def test_records_are_valid_as_built(cohort):
    # generate_cohort skips validate() by default: it must be a no-op on these tables
    rec = cohort.records
    before = {name: getattr(rec, name).copy() for name in TABLE_NAMES}
    rec.validate()
    for name in TABLE_NAMES:
        pd.testing.assert_frame_equal(getattr(rec, name), before[name])
    assert rec.visits["visit_id"].dtype == "string"
    assert str(rec.visits["start"].dtype) == "datetime64[ns]"
    assert rec.diagnoses["code"].str.startswith("ICD10CM:").all()
    assert (rec.diagnoses["mapping"] == "direct").all()
    assert rec.medications["code"].str.startswith("RXNORM:").all()
    assert rec.observations["code"].str.startswith("LOINC:").all()
    assert rec.notes["text"].notna().all()
    path = r"^synthetic://(image|signal|genomic)/P\d+/P\d+-V\d+$"
    assert rec.modalities["path"].str.match(path).all()
    # visits are ordered in time, and end after start
    v = rec.visits
    assert (v["end"] >= v["start"]).all()
    assert v.groupby("patient_id")["start"].apply(lambda s: s.is_monotonic_increasing).all()
    dead = rec.patients.dropna(subset=["death_date"]).set_index("patient_id")["death_date"]
    last_end = v.groupby("patient_id")["end"].max()
    assert (dead >= last_end.loc[dead.index].dt.floor("D")).all()


def test_truth_matches_codes_and_state(cohort):
    truth, state = cohort.truth, cohort.state
    assert list(truth.columns) == list(CONDITION_KEYS)
    assert truth.index.name == "patient_id" and str(truth.dtypes.iloc[0]) == "Int64"
    onset = truth.to_numpy(dtype=float, na_value=-1)
    assert (onset == state.onset).all()
    # chronic conditions persist once started
    chronic = [C[k] for k in ("t2d", "htn", "ckd", "hf", "copd", "depression")]
    act = state.active[:, :, chronic]
    started = np.maximum.accumulate(act, axis=1)
    assert (act == (started & state.present[:, :, None])).all()
    # hereditary conditions only in carriers
    for g in ("fh", "cf", "hh"):
        assert not (state.active[:, :, C[g]].any(axis=1) & ~state.genotype[g]).any()


def test_under_coding_rate(large):
    s = large.state
    rate = (s.coded & s.active).sum() / s.active.sum()
    # ~0.8: one active condition-visit in five carries no code
    assert CODING["first"] < rate < CODING["acute"]
    spurious = (s.coded & ~s.active & s.present[:, :, None]).sum() / (~s.active).sum()
    assert spurious < 0.004


def test_prevalences_are_plausible(large):
    ever = pd.Series(large.state.active.any(axis=1).mean(axis=0), index=list(CONDITION_KEYS))
    assert 0.2 < ever["htn"] < 0.4
    assert 0.1 < ever["t2d"] < 0.25
    assert 0.03 < ever["hf"] < 0.08
    assert 0.06 < ever["depression"] < 0.15
    assert 0.005 < ever["cf"] < 0.03
    assert ever["gi_bleed"] < 0.05


@pytest.mark.parametrize("cause,effect", [("t2d", "ckd"), ("ihd", "hf"), ("copd", "pneumonia"),
                                          ("anxiety", "depression")])
def test_planted_comorbidity(large, cause, effect):
    ever = large.state.active.any(axis=1)
    with_cause = ever[ever[:, C[cause]], C[effect]].mean()
    without = ever[~ever[:, C[cause]], C[effect]].mean()
    assert with_cause > 1.5 * without


def test_fh_genotype_raises_ihd_and_mental_cluster_is_independent(large, auroc):
    ever = large.state.active.any(axis=1)
    fh = large.state.genotype["fh"]
    assert ever[fh, C["ihd"]].mean() > 1.5 * ever[~fh, C["ihd"]].mean()
    assert abs(auroc(ever[:, C["depression"]], ever[:, C["copd"]]) - 0.5) < 0.03


def test_diabetics_are_treated(large):
    rec = large.records
    t2d = rec.diagnoses[rec.diagnoses["code"].str.startswith("ICD10CM:E11")]
    treated = rec.medications[rec.medications["label"].isin(["metformin", "insulin glargine"])]
    share = t2d["visit_id"].drop_duplicates().isin(set(treated["visit_id"])).mean()
    assert share >= 0.8
    statin = rec.medications[rec.medications["label"].isin(["atorvastatin", "simvastatin"])]
    ihd = rec.diagnoses[rec.diagnoses["code"].str.startswith("ICD10CM:I25")]
    assert ihd["visit_id"].drop_duplicates().isin(set(statin["visit_id"])).mean() > 0.6


def test_interacting_drugs_raise_bleeding(large):
    s = large.state
    from graphs.synthetic.disease import _bleeding_logit

    risky = np.stack([_bleeding_logit(s.meds[:, v].T) >= 1.5 for v in range(s.meds.shape[1] - 1)],
                     axis=1)
    bleed_next = s.active[:, 1:, C["gi_bleed"]]
    ok = s.present[:, 1:]
    assert bleed_next[risky & ok].mean() > 3 * bleed_next[~risky & ok].mean()


def test_missing_rates_are_respected():
    rates = {"note": 0.5, "image": 0.1, "signal": 0.8, "genomic": 0.25}
    c = generate_cohort(2000, seed=1, missing_rates=rates, note_text=False)
    n_visits = len(c.records.visits)
    counts = c.records.modalities["modality"].value_counts()
    assert abs(len(c.records.notes) / n_visits - 0.5) < 0.03
    assert abs(counts["image"] / n_visits - 0.9) < 0.03
    assert abs(counts["signal"] / n_visits - 0.2) < 0.03
    assert abs(counts["genomic"] / 2000 - 0.75) < 0.04
    assert c.records.notes["text"].isna().all()
    none = generate_cohort(50, seed=1, missing_rates={"image": 1.0})
    assert "image" not in set(none.records.modalities["modality"])


def test_next_visit_task(cohort):
    hist, labels = cohort.next_visit_task()
    assert labels.dtypes.eq(bool).all() and list(labels.columns) == list(CONDITION_KEYS)
    last = cohort.records.visits.groupby("patient_id")["visit_id"].max()
    assert not hist.visits["visit_id"].isin(set(last)).any()
    assert not hist.diagnoses["visit_id"].isin(set(last)).any()
    assert hist.patients["death_date"].isna().all()
    pd.testing.assert_frame_equal(labels, cohort.active(-1).loc[labels.index])
    _, new = cohort.next_visit_task(new_only=True)
    assert (new <= labels).all().all() and new.to_numpy().sum() < labels.to_numpy().sum()


def test_visit_labels_and_active(cohort):
    lab = cohort.visit_labels()
    assert len(lab) == len(cohort.records.visits)
    first = cohort.active(0)
    at0 = lab[lab.visit_index == 0].set_index("patient_id")[list(CONDITION_KEYS)]
    assert (first.index == at0.index).all()
    assert (first.to_numpy() == at0.to_numpy()).all()


def test_patient_index_unknown(cohort):
    with pytest.raises(UnknownCodeError, match="nobody"):
        cohort.patient_index(["nobody"])


@pytest.mark.parametrize("kwargs,match", [
    ({"n_patients": 0}, "n_patients"),
    ({"seed": -1}, "seed"),
    ({"n_visits": (3, 2)}, "n_visits"),
    ({"n_visits": "many"}, "n_visits"),
    ({"missing_rates": {"xray": 0.1}}, "xray"),
    ({"missing_rates": {"image": 1.5}}, "image"),
    ({"start_date": "yesterday-ish"}, "start_date"),
])
def test_bad_configuration(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        generate_cohort(**{"n_patients": 5, **kwargs})


def test_mechanisms_text_documents_the_design(cohort):
    text = cohort.mechanisms
    for word in ("Mechanism A", "under-coding", "prodrome", "Which modality shows"):
        assert word.lower() in text.lower()
