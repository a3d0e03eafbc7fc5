"""Chest-X-ray-like images show pneumonia, COPD and heart failure, and nothing else."""

import numpy as np
import pytest

from graphs.synthetic import render_images
from graphs.synthetic.images import LOBES
from ontologies.errors import InputError, UnknownCodeError

GRID = np.linspace(-1, 1, 64)


def _region(img, x0, x1, y0, y1, mirror=False):
    xs = ((GRID >= x0) & (GRID <= x1)) | (mirror & (GRID >= -x1) & (GRID <= -x0))
    ys = (GRID >= y0) & (GRID <= y1)
    return img[:, ys][:, :, xs].mean(axis=(1, 2))


def features(img):
    """Hand-made radiology: low lung bases (COPD), cardiac width (HF), focal opacity."""
    ref = _region(img, 0.3, 0.45, -0.4, -0.2, mirror=True)  # upper lung fields
    lobes = np.stack([_region(img, x - 0.08, x + 0.08, y - 0.08, y + 0.08)
                      for x, y in LOBES.values()], axis=1)
    return {"copd": ref - _region(img, 0.2, 0.5, 0.56, 0.68, mirror=True),
            "hf": _region(img, 0.4, 0.5, 0.2, 0.45) - ref,
            "pneumonia": lobes.max(axis=1) - np.median(lobes, axis=1)}


@pytest.mark.parametrize("condition", ["copd", "hf", "pneumonia"])
def test_planted_signs_are_visible(cohort, auroc, balanced, condition):
    pids, vids, y = balanced(cohort, condition)
    feats = features(render_images(cohort, pids, vids))
    assert auroc(feats[condition], y) > 0.8


@pytest.mark.parametrize("condition", ["depression", "anxiety"])
def test_unrelated_conditions_are_invisible(cohort, auroc, balanced, condition):
    pids, vids, y = balanced(cohort, condition)
    for name, f in features(render_images(cohort, pids, vids)).items():
        assert abs(auroc(f, y) - 0.5) < 0.1, name


def test_deterministic_and_batch_independent(cohort):
    ids = list(cohort.patient_ids[:4])
    a = render_images(cohort, ids, visits=0)
    b = render_images(cohort, ids[2:3], visits=0)
    assert np.array_equal(a[2:3], b)
    assert not np.array_equal(a[0], a[1])
    assert render_images(cohort, ids[:1], size=32).shape == (1, 32, 32)


def test_bad_requests(cohort):
    pid = cohort.patient_ids[0]
    with pytest.raises(InputError, match="no visit 99"):
        render_images(cohort, [pid], visits=99)
    with pytest.raises(UnknownCodeError):
        render_images(cohort, ["P999999999"])
    with pytest.raises(InputError, match="size"):
        render_images(cohort, [pid], size=4)
    with pytest.raises(InputError, match="does not belong"):
        render_images(cohort, [pid], visits=[f"{cohort.patient_ids[1]}-V00"])
