"""Virtual paths resolve to the rendered data; the visibility table is the design."""

import numpy as np
import pytest

from graphs.synthetic import (
    CONDITION_KEYS,
    VISIBILITY,
    render_images,
    render_notes,
    render_sequences,
    render_signals,
    resolve,
    visibility_table,
)
from graphs.synthetic.access import parse_path, select, split_visit_id
from ontologies.errors import InputError


def test_paths_of_a_patient_resolve_to_the_renderers(cohort):
    rows = cohort.records.modalities.head(12)
    items = resolve(cohort, rows["path"].tolist())
    for (_, row), item in zip(rows.iterrows(), items, strict=True):
        pid, vid = row["patient_id"], row["visit_id"]
        if row["modality"] == "image":
            assert np.array_equal(item, render_images(cohort, [pid], [vid])[0])
        elif row["modality"] == "signal":
            assert np.array_equal(item, render_signals(cohort, [pid], [vid])[0])
        else:
            assert item == render_sequences(cohort, [pid], [vid])[0]
    note = f"synthetic://note/{rows.patient_id.iloc[0]}/{rows.visit_id.iloc[0]}"
    assert resolve(cohort, [note]) == render_notes(cohort, [rows.patient_id.iloc[0]],
                                                   [rows.visit_id.iloc[0]])


def test_resolve_rejects_foreign_paths(cohort):
    with pytest.raises(InputError, match="not a synthetic reference"):
        resolve(cohort, ["/data/cxr/1.png"])
    with pytest.raises(InputError, match="expected one of"):
        resolve(cohort, ["synthetic://video/P000001/P000001-V00"])
    with pytest.raises(InputError):
        parse_path("synthetic://image/P000001")
    with pytest.raises(InputError, match="visit id"):
        split_visit_id("V00")


def test_select_defaults_to_the_last_visit(cohort):
    p, v = select(cohort)
    assert (v == cohort.state.n_visits - 1).all() and len(p) == len(cohort.patient_ids)
    p, v = select(cohort, visits=["P000002-V01", "P000003-V00"])
    assert p.tolist() == [1, 2] and v.tolist() == [1, 0]
    with pytest.raises(InputError, match="one visit per patient"):
        select(cohort, ["P000001", "P000002"], [0])


def test_visibility_table_covers_every_condition():
    table = visibility_table()
    assert table.index.tolist() == list(CONDITION_KEYS)
    assert set(VISIBILITY) >= {"image", "signal", "genomic", "note", "labs", "codes"}
    for modality in ("image", "signal", "genomic"):
        assert 2 <= (table[modality] != "").sum() <= 4  # each raw modality: a few conditions
    # every condition is visible in at least one raw modality or the labs
    raw = table[["image", "signal", "genomic", "note", "labs"]]
    assert (raw != "").any(axis=1).all()
