"""Notes describe symptoms of active conditions, with negations and distractors."""

import re

import numpy as np
import pytest

from graphs.synthetic import render_notes
from graphs.synthetic.notes import NAMES, SYMPTOMS

_NEG = re.compile(r"^(denies|no |negative for|patient denies)", re.I)


def mentions(texts, key, negation_aware=True):
    terms = [t.lower() for t in (*SYMPTOMS[key], *NAMES[key])]
    out = []
    for text in texts:
        n = 0
        for sentence in text.split(". "):
            if negation_aware and _NEG.match(sentence):
                continue
            n += any(t in sentence.lower() for t in terms)
        out.append(n)
    return np.array(out)


@pytest.mark.parametrize("condition,threshold", [("depression", 0.9), ("anxiety", 0.9),
                                                 ("pneumonia", 0.9), ("asthma", 0.75)])
def test_mentions_track_the_condition(cohort, auroc, balanced, condition, threshold):
    pids, vids, y = balanced(cohort, condition)
    assert auroc(mentions(render_notes(cohort, pids, vids), condition), y) > threshold


def test_weak_conditions_are_only_weakly_visible(cohort, auroc, balanced):
    pids, vids, y = balanced(cohort, "hld")
    assert 0.5 < auroc(mentions(render_notes(cohort, pids, vids), "hld"), y) < 0.8


def test_negations_are_traps(cohort, balanced):
    pids, vids, y = balanced(cohort, "af", n=150)
    texts = render_notes(cohort, pids, vids)
    naive = mentions(texts, "af", negation_aware=False)
    aware = mentions(texts, "af")
    assert (naive[~y] > aware[~y]).any()  # absent AF still "mentioned" by naive matching
    assert any(_NEG.match(s) for t in texts for s in t.split(". "))


def test_records_notes_hold_the_rendered_text(cohort):
    notes = cohort.records.notes.head(5)
    texts = render_notes(cohort, notes["patient_id"].tolist(), notes["visit_id"].tolist())
    assert texts == notes["text"].tolist()
    assert all("year-old" in t for t in texts)
