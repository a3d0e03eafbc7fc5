"""Session-scoped fixtures: the big code-system tables are read once per test run."""

from __future__ import annotations

import pytest

from ontologies.ccsr import load_ccsr
from ontologies.icd9cm import load_ccs, load_gem_9to10, load_gem_10to9, load_icd9cm
from ontologies.icd10cm import load_icd10cm
from ontologies.schema import CodeSystemTables


@pytest.fixture(scope="session")
def icd10cm() -> CodeSystemTables:
    """The full FY2026 ICD-10-CM tables (~1 s)."""
    return load_icd10cm()


@pytest.fixture(scope="session")
def icd10cm_ids(icd10cm: CodeSystemTables) -> set[str]:
    return set(icd10cm.concepts["id"])


@pytest.fixture(scope="session")
def icd10cm_parent(icd10cm: CodeSystemTables) -> dict[str, str]:
    """child id -> parent id from the ``is_a`` relations."""
    r = icd10cm.relations
    isa = r[r["relation"] == "is_a"]
    return dict(zip(isa["source"], isa["target"]))


@pytest.fixture(scope="session")
def simple_icd():
    """The reference implementation (its import parses the XML: ~2-3 s)."""
    return pytest.importorskip("simple_icd_10_cm")


@pytest.fixture(scope="session")
def icd9cm() -> CodeSystemTables:
    return load_icd9cm()


@pytest.fixture(scope="session")
def gem_9to10() -> CodeSystemTables:
    return load_gem_9to10()


@pytest.fixture(scope="session")
def gem_10to9() -> CodeSystemTables:
    return load_gem_10to9()


@pytest.fixture(scope="session")
def ccs() -> CodeSystemTables:
    return load_ccs()


@pytest.fixture(scope="session")
def ccsr() -> CodeSystemTables:
    return load_ccsr()
