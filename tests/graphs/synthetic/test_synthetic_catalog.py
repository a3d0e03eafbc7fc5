"""The catalogue uses real ICD-10-CM FY2026 codes, titles and parents."""

import pytest

from graphs.synthetic.catalog import (
    CONDITION_KEYS,
    CONDITIONS,
    NODE_LABELS,
    ancestors,
    condition_of,
    conditions_table,
    leaves_table,
    parent,
)
from ontologies.errors import UnknownCodeError


@pytest.fixture(scope="module")
def icd():
    return pytest.importorskip("simple_icd_10_cm")


def _code(curie):
    return curie.split(":", 1)[1]


def test_every_leaf_is_a_valid_billable_fy2026_code(icd):
    leaves = leaves_table()
    assert len(leaves) > 80
    for curie in leaves["code"]:
        assert icd.is_valid_item(_code(curie)), curie
        assert icd.is_leaf(_code(curie)), curie


def test_titles_and_parents_match_the_tabular_list(icd):
    for curie, title in NODE_LABELS.items():
        assert icd.get_description(_code(curie)) == title, curie
        up = parent(curie)
        if up is not None and up in NODE_LABELS:
            assert icd.get_parent(_code(curie)) == _code(up), curie


def test_groups_subsume_their_leaves(icd):
    for cond in CONDITIONS.values():
        for leaf in cond.leaves:
            chain = ancestors(leaf)
            assert chain[-1] == cond.group
            assert _code(cond.group) in icd.get_ancestors(_code(leaf))


def test_leaf_lookup_and_unknown_code():
    assert condition_of("ICD10CM:I13.0") == "htn"
    with pytest.raises(UnknownCodeError, match="ICD10CM:Z00.00"):
        condition_of("ICD10CM:Z00.00")


def test_contextual_leaves_follow_combination_rules():
    assert CONDITIONS["htn"].leaf_for({"ckd", "hf"}) == "ICD10CM:I13.0"
    assert CONDITIONS["htn"].leaf_for({"hf"}) == "ICD10CM:I11.0"
    assert CONDITIONS["t2d"].leaf_for(set()) is None
    leaves = leaves_table()
    assert set(leaves.loc[leaves.contextual, "code"]) == {
        "ICD10CM:E11.22", "ICD10CM:I12.9", "ICD10CM:I11.0", "ICD10CM:I13.0"}


def test_conditions_table_has_one_row_per_key():
    table = conditions_table()
    assert table["key"].tolist() == list(CONDITION_KEYS)
    assert set(table["cluster"]) >= {"metabolic", "cardiovascular", "respiratory", "mental",
                                     "hereditary"}
    assert not table.loc[table.key == "pneumonia", "chronic"].item()
