"""ECG-like signals show AF, IHD and HF, and nothing about unrelated conditions."""

import numpy as np
import pytest
from scipy.signal import find_peaks

from graphs.synthetic import render_signals
from ontologies.errors import InputError

FS = 100


def features(x):
    """RR variability (AF), ST level after the R peak (IHD), heart rate (HF), lead II."""
    cv, st, hr = [], [], []
    for s in x[:, 1]:
        s = s - np.convolve(s, np.ones(51) / 51, mode="same")  # remove baseline wander
        peaks, _ = find_peaks(s, distance=int(0.28 * FS), height=0.5 * np.percentile(s, 99.5))
        rr = np.diff(peaks) / FS
        cv.append(rr.std() / rr.mean() if len(rr) > 2 else 0.0)
        hr.append(60 / rr.mean() if len(rr) else 0.0)
        peaks = peaks[(peaks > 10) & (peaks < len(s) - 15)]
        st.append(np.median([s[p + 10:p + 13].mean() - s[p - 8:p - 5].mean() for p in peaks])
                  if len(peaks) else 0.0)
    return {"af": np.array(cv), "ihd": -np.array(st), "hf": np.array(hr)}


@pytest.mark.parametrize("condition", ["af", "ihd", "hf"])
def test_planted_signs_are_visible(cohort, auroc, balanced, condition):
    pids, vids, y = balanced(cohort, condition, n=100)
    assert auroc(features(render_signals(cohort, pids, vids))[condition], y) > 0.8


@pytest.mark.parametrize("condition", ["depression", "asthma"])
def test_unrelated_conditions_are_invisible(cohort, auroc, balanced, condition):
    pids, vids, y = balanced(cohort, condition, n=100)
    for name, f in features(render_signals(cohort, pids, vids)).items():
        assert abs(auroc(f, y) - 0.5) < 0.12, name


def test_einthoven_and_determinism(cohort):
    ids = list(cohort.patient_ids[:3])
    x = render_signals(cohort, ids, leads=3)
    assert x.shape == (3, 3, 1000) and x.dtype == np.float32
    # III = II - I up to the independent per-lead noise and wander
    resid = x[:, 2] - (x[:, 1] - x[:, 0])
    assert np.corrcoef(resid.ravel(), x[:, 1].ravel())[0, 1] < 0.5
    assert np.array_equal(render_signals(cohort, ids[1:2], leads=3), x[1:2])
    one = render_signals(cohort, ids[:1], leads=1)
    assert one.shape == (1, 1, 1000)


@pytest.mark.parametrize("kwargs", [{"leads": 2}, {"fs": 10}, {"seconds": 0.5}])
def test_bad_arguments(cohort, kwargs):
    with pytest.raises(InputError):
        render_signals(cohort, list(cohort.patient_ids[:1]), **kwargs)
