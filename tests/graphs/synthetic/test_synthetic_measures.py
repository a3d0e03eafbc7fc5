"""Labs follow the conditions, the genotype and the treatment."""

import numpy as np

from graphs.synthetic.catalog import CONDITION_KEYS
from graphs.synthetic.measures import MEASURES

C = {k: i for i, k in enumerate(CONDITION_KEYS)}
CODE = {m.key: m.code for m in MEASURES}


def _by_visit(cohort, key):
    obs = cohort.records.observations
    obs = obs[obs["code"] == CODE[key]]
    lab = cohort.visit_labels().set_index("visit_id")
    return obs["value"].to_numpy(), lab.loc[obs["visit_id"].to_numpy()]


def test_labs_separate_their_conditions(large, auroc):
    for key, cond in (("hba1c", "t2d"), ("sbp", "htn"), ("creatinine", "ckd"),
                      ("bnp", "hf"), ("wbc", "pneumonia")):
        value, lab = _by_visit(large, key)
        assert auroc(value, lab[cond].to_numpy()) > 0.75, key
    value, lab = _by_visit(large, "ldl")
    fh = large.state.genotype["fh"][large.patient_index(lab["patient_id"].tolist())]
    assert auroc(value, fh) > 0.85  # statins blunt it


def test_labs_are_ordered_more_often_once_a_condition_is_known(large):
    obs = large.records.observations
    hba1c = set(obs.loc[obs["code"] == CODE["hba1c"], "visit_id"])
    dx = large.records.diagnoses
    t2d_visits = set(dx.loc[dx["code"].str.startswith("ICD10CM:E11"), "visit_id"])
    visits = large.records.visits["visit_id"]
    rate_known = visits[visits.isin(t2d_visits)].isin(hba1c).mean()
    rate_other = visits[~visits.isin(t2d_visits)].isin(hba1c).mean()
    assert rate_known > 0.8 and rate_other < 0.4


def test_units_and_values_are_plausible(cohort):
    obs = cohort.records.observations
    assert np.isfinite(obs["value"]).all()
    spo2 = obs.loc[obs["code"] == CODE["spo2"], "value"]
    assert spo2.max() <= 100 and spo2.median() > 94
    assert set(obs["unit"]) == {m.unit for m in MEASURES}
