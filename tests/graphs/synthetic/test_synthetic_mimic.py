"""The MIMIC-III-style export reads back with the project's MIMIC-III reader."""

import pytest

from graphs.synthetic import generate_cohort, write_mimic3


@pytest.fixture(scope="module")
def small():
    return generate_cohort(60, seed=2)


def test_round_trip_through_the_reader(small, tmp_path):
    read_mimic3 = pytest.importorskip("graphs.records.mimic3").read_mimic3
    summary = write_mimic3(small, tmp_path / "mimic")
    assert summary["unmapped_diagnoses"] == 0
    rec = read_mimic3(tmp_path / "mimic", map_to_icd10=False)
    assert len(rec.patients) == 60 and len(rec.visits) == len(small.records.visits)
    assert len(rec.diagnoses) == len(small.records.diagnoses)
    assert rec.diagnoses["code"].str.startswith("ICD9CM:").all()
    assert len(rec.notes) == len(small.records.notes)
    assert set(rec.visits["visit_type"]) <= {"urgent", "emergency", "elective"}
