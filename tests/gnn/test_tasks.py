"""Tasks: labels come from the index visit and never reach the inputs; splits are by patient."""

import numpy as np
import pytest
import torch

from gnn.tasks import comorbidity_task, group_codes, patient_split, treatment_task
from graphs.synthetic import generate_cohort
from ontologies.errors import ConfigError, InputError


@pytest.fixture(scope="module")
def cohort():
    return generate_cohort(300, seed=1)


def test_last_visit_targets_absent_from_inputs(cohort):
    rec = cohort.records
    task = comorbidity_task(rec, min_count=3)
    inputs = task.inputs
    last = rec.visits.sort_values("start").groupby("patient_id").tail(1)
    index_visits = set(last["visit_id"])
    for table in ("visits", "diagnoses", "medications", "notes", "modalities", "observations"):
        assert not set(getattr(inputs, table)["visit_id"].dropna()) & index_visits, table
    # every positive label is diagnosed at the index visit of that patient
    dx = rec.diagnoses[rec.diagnoses["visit_id"].isin(index_visits)]
    groups = set(zip(dx["patient_id"], group_codes(dx["code"], "category")))
    rows, cols = torch.nonzero(task.y, as_tuple=True)
    for r, c in zip(rows.tolist(), cols.tolist()):
        assert (task.patient_ids[r], task.label_ids[c]) in groups
    # history never includes index-visit codes only: it is computed from inputs
    assert task.history.shape == task.y.shape


def test_only_new_excludes_known_conditions(cohort):
    task = comorbidity_task(cohort.records, min_count=2, only_new=True)
    assert float((task.y * task.history).sum()) == 0.0


def test_heldout_groups_removed_from_inputs(cohort):
    task = comorbidity_task(cohort.records, min_count=2, cutoff="heldout", seed=3)
    inputs = task.inputs
    visible = set(zip(inputs.diagnoses["patient_id"],
                      group_codes(inputs.diagnoses["code"], "category")))
    rows, cols = torch.nonzero(task.y, as_tuple=True)
    assert len(rows) > 0
    for r, c in zip(rows.tolist(), cols.tolist()):
        assert (task.patient_ids[r], task.label_ids[c]) not in visible


def test_split_is_patient_level_seeded_and_covering(cohort):
    task = comorbidity_task(cohort.records, min_count=3, seed=5)
    s = task.splits
    all_idx = np.concatenate([s["train"], s["val"], s["test"]])
    assert sorted(all_idx.tolist()) == list(range(len(task.patient_ids)))
    again = comorbidity_task(cohort.records, min_count=3, seed=5).splits
    assert all(np.array_equal(s[k], again[k]) for k in s)
    other = patient_split(task.y, seed=6)
    assert not np.array_equal(s["test"], other["test"])


def test_treatment_hides_index_medications_and_notes(cohort):
    rec = cohort.records
    task = treatment_task(rec, ddi=cohort.ddi, min_count=3)
    last = rec.visits.sort_values("start").groupby("patient_id").tail(1)
    index_visits = set(last["visit_id"])
    assert not set(task.inputs.medications["visit_id"]) & index_visits
    assert not set(task.inputs.notes["visit_id"]) & index_visits
    # diagnoses of the index visit stay visible: they are known when prescribing
    assert set(task.inputs.diagnoses["visit_id"]) & index_visits
    assert task.y.sum() > 0 and task.metadata["ddi_pairs"]


def test_bad_options(cohort):
    with pytest.raises(ConfigError, match="cutoff"):
        comorbidity_task(cohort.records, cutoff="tomorrow")
    with pytest.raises(InputError, match="min_count"):
        comorbidity_task(cohort.records, min_count=10_000)
    with pytest.raises(ConfigError, match="granularity"):
        comorbidity_task(cohort.records, granularity="chapterish")
