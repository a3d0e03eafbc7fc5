"""Shared synthetic cohorts (built once per session) and small helpers."""

import numpy as np
import pytest

from graphs.synthetic import generate_cohort


@pytest.fixture(scope="session")
def cohort():
    """1,500 patients with note text: enough cases for the modality AUROC tests."""
    return generate_cohort(1500, seed=11)


@pytest.fixture(scope="session")
def large():
    """10,000 patients, codes and tables only: stable prevalence/comorbidity estimates."""
    return generate_cohort(10000, seed=3, note_text=False)


def _auroc(score, label) -> float:
    """Mann-Whitney AUROC with average ranks for ties."""
    from scipy.stats import rankdata

    label = np.asarray(label, bool)
    ranks = rankdata(np.asarray(score, float))
    n1, n0 = label.sum(), (~label).sum()
    return float((ranks[label].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def _balanced(cohort, condition, n=150, seed=0):
    """(patient_ids, visit_ids, labels): up to n visits where `condition` is active and n
    where it is not, so rare conditions still get a stable AUROC."""
    lab = cohort.visit_labels()
    rng = np.random.default_rng(seed)
    pos = lab.index[lab[condition].to_numpy()]
    neg = lab.index[~lab[condition].to_numpy()]
    pick = np.r_[rng.choice(pos, min(n, len(pos)), replace=False),
                 rng.choice(neg, n, replace=False)]
    rows = lab.loc[pick]
    return (rows["patient_id"].tolist(), rows["visit_id"].tolist(),
            rows[condition].to_numpy())


@pytest.fixture(scope="session")
def auroc():
    return _auroc


@pytest.fixture(scope="session")
def balanced():
    return _balanced
