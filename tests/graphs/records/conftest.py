"""Shared fixtures of the records tests: the fixture folders and records read once."""

from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"

#: A phrase that occurs only inside note texts of the MIMIC fixtures.
NOTE_SECRET = "SECRET-NOTE-MARKER"


@pytest.fixture(scope="session")
def fixtures() -> Path:
    return FIXTURES


@pytest.fixture(scope="session")
def mimic3_records():
    from graphs.records import read_mimic3

    return read_mimic3(FIXTURES / "mimic3", map_to_icd10=False)


@pytest.fixture(scope="session")
def mimic4_records():
    from graphs.records import read_mimic4

    return read_mimic4(FIXTURES / "mimic4", map_to_icd10=False)
