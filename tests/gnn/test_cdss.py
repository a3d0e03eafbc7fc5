"""The clinical decision-support report on a small synthetic cohort graph."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest
import torch
from torch import nn

from gnn.cdss import DISCLAIMER, SECTIONS, CdssReport, Predictions, build_report
from gnn.explain.lookup import patient_visits
from graphs.cohort import CohortBuilder, CohortConfig
from graphs.synthetic import generate_cohort, knowledge_tables
from kg import KnowledgeGraph
from ontologies.errors import InputError, SchemaError, UnknownCodeError


@pytest.fixture(scope="module")
def setting():
    synth = generate_cohort(150, seed=1)
    kg = KnowledgeGraph.from_ontologies(knowledge_tables())
    cohort = CohortBuilder(kg, CohortConfig(unknown_codes="drop")).build(synth.records)
    rec = synth.records
    visits = rec.visits.sort_values(["patient_id", "start"], kind="stable")
    meds = rec.medications
    # a patient with >= 2 visits whose latest visit has >= 2 drugs
    last = visits.groupby("patient_id").tail(1)
    n_visits = visits.groupby("patient_id").size()
    per_visit = meds.groupby("visit_id")["code"].nunique()
    ok = last[last["visit_id"].map(per_visit).fillna(0).ge(2).to_numpy()
              & last["patient_id"].map(n_visits).ge(2).to_numpy()]
    pid = str(ok["patient_id"].iloc[0])
    current = sorted(set(meds.loc[meds["visit_id"] == ok["visit_id"].iloc[0], "code"]))
    others = [d for d in cohort.node_ids["drug"] if d not in current]
    return synth, kg, cohort, pid, current, others


def _treatment(cohort, pid, ranked):
    drugs = list(cohort.node_ids["drug"])
    probs = torch.full((cohort.data["patient"].num_nodes, len(drugs)), 0.01)
    row = cohort.index("patient", [pid])[0]
    for p, d in zip((0.95, 0.9, 0.85, 0.8), ranked):
        probs[row, drugs.index(d)] = p
    return Predictions(drugs, probs)


@pytest.fixture(scope="module")
def report(setting):
    synth, kg, cohort, pid, current, others = setting
    rec_a, rec_b, rec_c, rec_ok = others[:4]
    ddi = pd.DataFrame({"drug_a": [rec_a, rec_c, others[5]],
                        "drug_b": [current[0], rec_b, others[6]],
                        "severity": [0.75, "severe", 1.0],
                        "description": ["planted: with a current drug",
                                        "planted: two recommendations", "decoy"]})
    labels = ["ICD10CM:I10", "ICD10CM:E11", "ICD10CM:I25", "ICD10CM:E78", "ICD10CM:N18"]
    g = torch.Generator().manual_seed(0)
    comorbidity = Predictions(labels, torch.rand(cohort.data["patient"].num_nodes, len(labels),
                                                 generator=g))
    kept = list(cohort.node_ids["patient"][::2]) + [pid]
    previous = Predictions(labels, torch.rand(len(kept), len(labels), generator=g), kept)
    return build_report(cohort, pid, comorbidity=comorbidity, previous=previous,
                        treatment=_treatment(cohort, pid, [rec_a, rec_b, rec_c, rec_ok]),
                        ddi=ddi, labels=kg, top_k=4, similar_k=2,
                        embeddings=torch.randn(cohort.data["patient"].num_nodes, 8,
                                               generator=g))


def test_four_sections_in_order(report):
    d = report.to_dict()
    assert list(d["sections"]) == list(SECTIONS)
    md = report.to_markdown()
    heads = [md.index(f"## {s.title()}") for s in SECTIONS]
    assert heads == sorted(heads)
    assert md.rstrip().endswith(f"*{DISCLAIMER}*") and "not for clinical use" in DISCLAIMER


def test_planted_interactions_are_flagged(report, setting):
    *_, current, others = setting
    rec_a, rec_b, rec_c, rec_ok = others[:4]
    items = {p["drug"]: p for p in report.recommendation["predictions"]}
    assert list(items) == [rec_a, rec_b, rec_c, rec_ok]
    assert items[rec_a]["flagged"] and items[rec_a]["interactions"][0]["with"] == current[0]
    assert items[rec_a]["interactions"][0]["role"] == "current"
    assert items[rec_a]["interactions"][0]["severity"] == "severe (0.75)"
    assert [h["with"] for h in items[rec_b]["interactions"]] == [rec_c]
    assert items[rec_b]["interactions"][0]["role"] == "recommended"
    assert [h["with"] for h in items[rec_c]["interactions"]] == [rec_b]
    assert not items[rec_ok]["flagged"] and items[rec_ok]["interactions"] == []
    assert [m["drug"] for m in report.recommendation["current_medications"]] == current
    assert "WARNING interacts with current" in report.to_markdown()


def test_impression_paths_are_paths_of_the_graph(report, setting):
    _, kg, cohort, pid, *_ = setting
    data = cohort.data
    visits = patient_visits(cohort, cohort.index("patient", [pid])[0])
    items = report.impression["predictions"]
    assert len(items) == 4 and [i["probability"] for i in items] == \
        sorted((i["probability"] for i in items), reverse=True)
    checked = 0

    def row_of(node):
        if node["type"] == "visit":
            return int(visits[node["visit_number"] - 1])
        return int(cohort.index(node["type"], [node["id"]])[0])

    for item in items:
        assert item["name"] == kg.concept(item["concept"])["label"]
        for path in item["paths"]:
            steps = path["steps"]
            assert steps[0]["source"]["type"] == "visit"
            end = steps[-1]["target"] if steps[-1]["walked"] == "forward" else \
                steps[-1]["source"]
            assert end["id"] == item["concept"]
            for s in steps:
                et = (s["source"]["type"], s["relation"], s["target"]["type"])
                ei = data[et].edge_index
                src, dst = row_of(s["source"]), row_of(s["target"])
                assert bool(((ei[0] == src) & (ei[1] == dst)).any()), path["text"]
                checked += 1
    assert checked > 0


def test_no_identifiers_or_note_text(report, setting, tmp_path):
    synth, _, cohort, pid, *_ = setting
    md, js = report.save(tmp_path, "case")
    text = md.read_text() + js.read_text()
    assert json.loads(js.read_text()) == report.to_dict()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["case.json", "case.md"]
    rec = synth.records
    for other in rec.patients["patient_id"].astype(str):
        if other != pid:
            assert not re.search(rf"\b{re.escape(other)}\b", text), other
    for visit in rec.visits["visit_id"].astype(str):
        assert visit not in text
    assert "synthetic://" not in text
    for note in rec.notes.loc[rec.notes["patient_id"] == pid, "text"].dropna():
        assert note[:30] not in text
    cases = report.impression["similar_cases"]
    assert [c["case"] for c in cases] == ["case 1", "case 2"]


def test_note_excerpt_is_opt_in(setting):
    synth, kg, cohort, pid, *_ = setting
    notes = synth.records.notes
    plain = build_report(cohort, pid, labels=kg, notes=notes)
    assert "note_excerpt" not in plain.findings
    quoted = build_report(cohort, pid, labels=kg, notes=notes, note_excerpt=25)
    latest = notes[notes["patient_id"] == pid].sort_values("time")["text"].iloc[-1]
    assert quoted.findings["note_excerpt"]["excerpt"] == latest[:25] + "..."


def test_findings_and_comparison_match_the_records(report, setting):
    synth, _, cohort, pid, current, _ = setting
    rec = synth.records
    f = report.findings
    mine = rec.visits[rec.visits["patient_id"] == pid].sort_values("start")
    assert f["visits"]["count"] == len(mine)
    assert f["visits"]["last"] == str(mine["start"].iloc[-1].date())
    codes = pd.concat([rec.diagnoses[["visit_id", "code"]], rec.medications[["visit_id", "code"]]])
    at = {v: set(codes.loc[codes["visit_id"] == v, "code"]) for v in mine["visit_id"].iloc[-2:]}
    last, before = at[mine["visit_id"].iloc[-1]], at[mine["visit_id"].iloc[-2]]
    c = report.comparison
    assert [x["code"] for x in c["new"]] == sorted(last - before)
    assert [x["code"] for x in c["resolved"]] == sorted(before - last)
    assert c["previous_visit"] == str(mine["start"].iloc[-2].date())
    for x in c["risk_changes"]:
        assert x["change"] == pytest.approx(x["current"] - x["previous"], abs=1e-3)
    assert len(c["risk_changes"]) == 4
    recorded = set(codes.loc[codes["visit_id"].isin(mine["visit_id"]), "code"])
    assert {x["code"] for x in f["codes"]} == recorded
    assert {m["modality"] for m in f["modalities"]} == set()  # no modality features here


def test_without_models_the_sections_say_so(setting):
    _, kg, cohort, pid, *_ = setting
    r = build_report(cohort, pid, labels=kg)
    assert r.impression["status"] == "no comorbidity predictions given"
    assert r.recommendation["status"] == "no treatment predictions given"
    assert isinstance(r, CdssReport) and r.comparison["risk_changes"] == []
    assert "_no comorbidity predictions given._" in r.to_markdown()


def test_predictions_from_model_and_bad_input(setting):
    _, kg, cohort, pid, *_ = setting
    model = nn.Linear(cohort.data["patient"].x.size(1), 2)
    pred = Predictions.from_model(lambda data: model(data["patient"].x), cohort,
                                  ["ICD10CM:I10", "ICD10CM:E11"])
    assert pred.probs.shape == (cohort.data["patient"].num_nodes, 2)
    assert build_report(cohort, pid, comorbidity=pred, top_k=1).impression["predictions"]
    with pytest.raises(InputError, match="sigmoid"):
        Predictions(["A:1"], torch.tensor([[2.0]]))
    with pytest.raises(SchemaError):
        Predictions(["A:1", "A:2"], torch.zeros(3, 1))
    with pytest.raises(UnknownCodeError):
        build_report(cohort, "nobody")
    with pytest.raises(SchemaError, match="drug_a"):
        build_report(cohort, pid, treatment=pred, ddi=pd.DataFrame({"a": [1]}))


def test_findings_list_modalities_without_note_text():
    from graphs.cohort.demo import tiny_features, tiny_kg, tiny_records

    records = tiny_records()
    cohort = CohortBuilder(tiny_kg()).build(records, tiny_features())
    r = build_report(cohort, "p1", labels=tiny_kg())
    assert r.findings["modalities"] == [{"modality": "note", "observations": 1,
                                         "dates": ["2021-01-01"], "summary_only": False}]
    assert r.findings["visits"] == {"count": 2, "first": "2020-01-01", "last": "2021-01-01"}
    text = r.to_markdown() + r.to_json()
    assert "Polyuria" not in text and not re.search(r"\b(n1|p2|v1|v2)\b", text)
    assert "| note | 1 | 2021-01-01 |" in r.to_markdown()
    assert r.comparison["new"] == [{"code": "ICD10CM:E11.65",
                                    "name": "Type 2 diabetes mellitus with hyperglycemia"}]
    assert [x["code"] for x in r.comparison["resolved"]] == ["ICD10CM:E11.9", "ICD10CM:I10",
                                                             "RXNORM:6809"]
    assert build_report(cohort, "p2").comparison["status"].startswith("fewer than two visits")
    with pytest.raises(InputError, match="notes"):
        build_report(cohort, "p1", note_excerpt=10)
