"""The exported knowledge is exactly the planted structure, in the KG table format."""

from graphs.synthetic import DRUGS, knowledge_tables
from graphs.synthetic.catalog import CONDITIONS, NODE_LABELS, parent
from graphs.synthetic.disease import RISK_FACTORS
from graphs.synthetic.drugs import DDI


def test_tables_validate_and_ids_are_unique():
    kg = knowledge_tables().validate()
    assert kg.concepts["id"].is_unique
    assert set(kg.relations["source"]) | set(kg.relations["target"]) <= set(kg.concepts["id"])


def test_relations_mirror_the_generator():
    r = knowledge_tables().relations
    risk = r[r.relation == "increases_risk_of"]
    for src, dst, eff in RISK_FACTORS:
        row = risk[(risk.source == CONDITIONS[src].group) & (risk.target == CONDITIONS[dst].group)]
        assert row["log_odds"].tolist() == [eff]
    assert (r.relation == "interacts_with").sum() == len(DDI)
    treats = r[r.relation == "treats"]
    assert ((treats.source == DRUGS["metformin"].curie)
            & (treats.target == "ICD10CM:E11")).any()
    assert treats["probability"].between(0, 1).all()
    is_a = r[r.relation == "is_a"]
    expected = {i: parent(i) for i in NODE_LABELS if parent(i) in NODE_LABELS}
    assert dict(zip(is_a.source, is_a.target, strict=True)) == expected
    assert expected["ICD10CM:E78.01"] == "ICD10CM:E78.0"  # FH sits under hyperlipidaemia
