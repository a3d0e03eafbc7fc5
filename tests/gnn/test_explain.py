"""Explanations on a small synthetic cohort graph: occlusion, attention, GNNExplainer,
similar patients, supporting paths."""

from __future__ import annotations

import copy

import pandas as pd
import pytest
import torch
from torch import nn

from gnn.explain import (
    ConceptPaths,
    attention_table,
    capture_attention,
    concept_attention,
    explain_prediction,
    modality_importance,
    occlude_modality,
    similar_patients,
)
from gnn.models import GAT, HeteroGAT, hetero_inputs
from graphs.cohort import CohortBuilder, CohortConfig, CohortGraph, ModalityFeatures
from graphs.cohort.demo import tiny_kg, tiny_records
from graphs.synthetic import generate_cohort, knowledge_tables
from kg import KnowledgeGraph
from ontologies.errors import InputError, UnknownCodeError

MODALITIES = ("note", "image", "signal")
DIM = 4


def build_synthetic(n: int = 150, seed: int = 0):
    """generate_cohort + its planted KG + random modality embeddings + kNN edges."""
    synth = generate_cohort(n, seed=seed)
    kg = KnowledgeGraph.from_ontologies(knowledge_tables())
    rec = synth.records
    g = torch.Generator().manual_seed(seed)
    notes = rec.notes
    tables = {"note": pd.DataFrame({"patient_id": notes.patient_id, "visit_id": notes.visit_id,
                                    "key": notes.note_id, "time": notes.time})}
    for m in ("image", "signal"):
        t = rec.modalities[rec.modalities.modality == m]
        tables[m] = pd.DataFrame({"patient_id": t.patient_id, "visit_id": t.visit_id,
                                  "key": t.path, "time": t.time})
    feats = {m: ModalityFeatures(m, t, torch.randn(len(t), DIM, generator=g))
             for m, t in tables.items()}
    # procedures use ICD-10-PCS codes the planted KG lacks: drop them
    cohort = CohortBuilder(kg, CohortConfig(knn=3, unknown_codes="drop")).build(rec, feats)
    return synth, kg, cohort


class ModalityToy(nn.Module):
    """One message-passing step (modality nodes -> visits -> patient, mean) + Linear."""

    def __init__(self, labels: int = 1):
        super().__init__()
        self.lin = nn.Linear(len(MODALITIES) * DIM, labels)

    def forward(self, data):
        owner = data["visit"].patient
        n = data["patient"].num_nodes
        parts = []
        for m in MODALITIES:
            ei = data["visit", f"has_{m}", m].edge_index
            total = torch.zeros(n, DIM).index_add_(0, owner[ei[0]], data[m].x[ei[1]])
            count = torch.zeros(n).index_add_(0, owner[ei[0]], torch.ones(ei.size(1)))
            parts.append(total / count.clamp(min=1).unsqueeze(1))
        return self.lin(torch.cat(parts, 1))


class GATPredictor(nn.Module):
    """PatientPredictor-shaped: HeteroGAT over the whole graph, patient logits."""

    def __init__(self, data, labels: int = 2):
        super().__init__()
        self.gnn = HeteroGAT.from_data(data, hidden_channels=8, out_channels=labels,
                                       num_layers=2, dropout=0.0)

    def forward(self, data):
        return self.gnn(hetero_inputs(data), data.edge_index_dict)["patient"]


@pytest.fixture(scope="module")
def synthetic():
    return build_synthetic()


@pytest.fixture(scope="module")
def image_model(synthetic):
    """A toy trained on a label that depends only on the image embeddings."""
    _, _, cohort = synthetic
    data = cohort.data
    w = torch.tensor([1.0, -2.0, 0.5, 1.5])
    score = data["patient"].x_image @ w
    y = ((score > score[data["patient"].mask_image].median()) &
         data["patient"].mask_image).float().unsqueeze(1)
    torch.manual_seed(0)
    model = ModalityToy()
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(300):
        opt.zero_grad()
        nn.functional.binary_cross_entropy_with_logits(model(data), y).backward()
        opt.step()
    return model.eval(), y


@pytest.fixture(scope="module")
def gat_model(synthetic):
    torch.manual_seed(0)
    return GATPredictor(synthetic[2].data).eval()


def _edge_exists(data, edge_type, src, dst) -> bool:
    ei = data[edge_type].edge_index
    return bool(((ei[0] == src) & (ei[1] == dst)).any())


# ------------------------------------------------------------------------------ occlusion
def test_occlusion_ranks_the_planted_modality_first(synthetic, image_model):
    _, _, cohort = synthetic
    model, y = image_model
    imp = modality_importance(model, cohort, targets=y, label_names=["planted"])
    assert imp.ranking()[0] == "image"
    summary = imp.summary()
    assert summary.loc["image", "loss_increase"] > 0.2
    # the label does not depend on notes or signals: their occlusion barely matters
    assert summary.loc["image", "loss_increase"] > 5 * summary.loc[["note", "signal"],
                                                                   "loss_increase"].abs().max()
    assert summary.loc["image", "patients_with_modality"] == \
        int(cohort.data["patient"].mask_image.sum())


def test_occlusion_of_one_patient_leaves_the_rest(synthetic):
    _, _, cohort = synthetic
    data = cohort.data
    et = ("visit", "has_image", "image")
    pid = cohort.node_ids["patient"][int(torch.nonzero(data["patient"].mask_image)[0])]
    row = cohort.index("patient", [pid])[0]
    before = data[et].edge_index.clone()
    out = occlude_modality(cohort, "image", patients=[pid])
    owner = data["visit"].patient[before[0]]
    assert torch.equal(out[et].edge_index, before[:, owner != row])
    assert torch.equal(data[et].edge_index, before)  # the input graph is untouched
    assert not out["patient"].mask_image[row] and data["patient"].mask_image[row]
    assert out["patient"].x_image[row].abs().sum() == 0
    gone = before[1, owner == row]
    assert out["image"].missing[gone].all() and out["image"].x[gone].abs().sum() == 0
    with pytest.raises(InputError, match="genomic"):
        occlude_modality(cohort, "genomic")


# ------------------------------------------------------------------------------ attention
@pytest.fixture(scope="module")
def tiny():
    return CohortBuilder(tiny_kg()).build(tiny_records())


def _weights(cohort, edge_type, by_pair):
    ei = cohort.data[edge_type].edge_index
    out = []
    for s, d in zip(ei[0].tolist(), ei[1].tolist()):
        src = cohort.ids(edge_type[0], [s])[0]
        dst = cohort.ids(edge_type[2], [d])[0]
        out.append(by_pair[(src, dst)])
    return torch.tensor(out)


def test_concept_attention_sums_hand_checked_weights(tiny):
    rev_dx = ("disease", "rev_has_diagnosis", "visit")
    layer0 = {("ICD10CM:E11.9", "v1"): 0.2, ("ICD10CM:I10", "v1"): 0.8,
              ("ICD10CM:E11.65", "v2"): 1.0, ("ICD10CM:I10", "v3"): 0.5}
    layer1 = {("ICD10CM:E11.9", "v1"): 0.4, ("ICD10CM:I10", "v1"): 0.6,
              ("ICD10CM:E11.65", "v2"): 1.0, ("ICD10CM:I10", "v3"): 1.0}
    rev_isa = ("disease", "rev_is_a", "disease")
    kg_edges = {("ICD10CM:E11", "ICD10CM:E11.9"): 0.3, ("ICD10CM:E11", "ICD10CM:E11.65"): 0.7}
    attention = [{rev_dx: _weights(tiny, rev_dx, layer0),
                  rev_isa: _weights(tiny, rev_isa, kg_edges)},
                 {rev_dx: _weights(tiny, rev_dx, layer1)}]
    total = concept_attention(tiny, attention, "p1", labels=tiny_kg())
    # p2's visit v3 is not counted; E11 reaches p1 only through the KG (hops=2)
    assert dict(zip(total["concept_id"], total["weight"])) == pytest.approx(
        {"ICD10CM:E11.65": 2.0, "ICD10CM:I10": 1.4, "ICD10CM:E11.9": 0.6})
    assert total["concept_id"].tolist() == ["ICD10CM:E11.65", "ICD10CM:I10", "ICD10CM:E11.9"]
    assert total.loc[total["concept_id"] == "ICD10CM:I10", "label"].item() == \
        "Essential (primary) hypertension"
    mean = concept_attention(tiny, attention, "p1", reduce="mean")
    assert dict(zip(mean["concept_id"], mean["weight"])) == pytest.approx(
        {"ICD10CM:E11.65": 1.0, "ICD10CM:I10": 0.7, "ICD10CM:E11.9": 0.3})
    first = concept_attention(tiny, attention, "p1", layer=0, hops=2)
    assert dict(zip(first["concept_id"], first["weight"])) == pytest.approx(
        {"ICD10CM:E11": 1.0, "ICD10CM:E11.65": 1.0, "ICD10CM:I10": 0.8, "ICD10CM:E11.9": 0.2})
    assert concept_attention(tiny, attention, "p1", direction="out").empty
    with pytest.raises(UnknownCodeError):
        concept_attention(tiny, attention, "nobody")


def test_attention_from_hetero_gat_follows_the_softmax(synthetic, gat_model):
    _, _, cohort = synthetic
    data = cohort.data
    _, records = capture_attention(gat_model, data)
    edge_types = {r.edge_type for r in records}
    assert ("disease", "rev_has_diagnosis", "visit") in edge_types and len(records) == \
        2 * len(data.edge_types)
    pid = "P000001"
    row = cohort.index("patient", [pid])[0]
    table = concept_attention(cohort, records, pid, layer=0)
    # per edge type, a visit's attention over its incoming edges sums to 1 (softmax)
    visits = torch.nonzero(data["visit"].patient == row).flatten()
    ei = data["visit", "has_diagnosis", "disease"].edge_index
    with_dx = int(torch.isin(visits, ei[0]).sum())
    assert table.loc[table["node_type"] == "disease", "weight"].sum() == pytest.approx(with_dx)
    assert len(attention_table(records, data)) == 2 * sum(
        data[et].num_edges - int((data[et].edge_index[0] == data[et].edge_index[1]).sum())
        if et[0] == et[2] else data[et].num_edges for et in data.edge_types)


def test_attention_on_the_homogeneous_view(tiny):
    homo = tiny.data.to_homogeneous(node_attrs=[], edge_attrs=[])
    torch.manual_seed(0)
    gat = GAT(3, 4, 2, heads=2, dropout=0.0)
    _, attention = gat(torch.randn(homo.num_nodes, 3), homo.edge_index, return_attention=True)
    table = concept_attention(tiny, attention, "p1")
    # by hand: concept -> (p1 or its visits) edges, heads averaged, both layers
    names = list(tiny.data.node_types)
    concept = torch.tensor([names.index(t) for t in ("category", "disease", "drug")])
    n_patients = tiny.data["patient"].num_nodes  # patients come first, then visits
    mine = torch.tensor([0, n_patients, n_patients + 1])  # p1 (row 0), its visits v1, v2
    expected = 0.0
    for index, alpha in attention:
        hit = torch.isin(homo.node_type[index[0]], concept) & torch.isin(index[1], mine)
        expected += float(alpha.detach().mean(1)[hit].sum())
    assert table["weight"].sum() == pytest.approx(expected)
    assert set(table["concept_id"]) == {"ICD10CM:E11.9", "ICD10CM:I10", "ICD10CM:E11.65",
                                        "RXNORM:6809"}


# ------------------------------------------------------------------------------ explainer
def test_gnnexplainer_returns_named_edges_of_the_graph(synthetic, gat_model):
    _, kg, cohort = synthetic
    data = cohort.data
    labels = kg.concepts.set_index("id")["label"]
    e = explain_prediction(gat_model, cohort, "P000001", 1, labels=kg, epochs=10, top_k=15)
    assert e.method == "gnnexplainer", e.note
    assert 0 < len(e.edges) <= 15 and (e.edges["weight"] > 0).all()
    assert e.edges["weight"].is_monotonic_decreasing
    row = cohort.index("patient", ["P000001"])[0]
    visits = set(torch.nonzero(data["visit"].patient == row).flatten().tolist())
    touches_patient = False
    for r in e.edges.itertuples(index=False):
        et = tuple(r.edge_type.split("|"))
        src = cohort.index(r.source_type, [r.source])[0]
        dst = cohort.index(r.target_type, [r.target])[0]
        assert _edge_exists(data, et, src, dst), r.text
        for end_id in (r.source, r.target):
            if end_id in labels.index:
                assert labels[end_id] in r.text
        touches_patient |= (r.source_type == "patient" and src == row) or \
            (r.source_type == "visit" and src in visits)
    assert touches_patient


def test_saliency_fallback_for_a_plain_function(synthetic, image_model):
    _, kg, cohort = synthetic
    model, _ = image_model
    e = explain_prediction(lambda data: model(data), cohort, "P000001", 0, labels=kg)
    assert e.method == "saliency" and "GNNExplainer unavailable" in e.note
    assert e.nodes.iloc[0]["node_type"] == "image"  # the planted modality
    row = cohort.index("patient", ["P000001"])[0]
    for r in e.edges.itertuples(index=False):
        et = tuple(r.edge_type.split("|"))
        src = cohort.index(r.source_type, [r.source])[0]
        dst = cohort.index(r.target_type, [r.target])[0]
        assert _edge_exists(cohort.data, et, src, dst)
        assert r.source_type in ("patient", "visit")
        owner = src if r.source_type == "patient" else int(cohort.data["visit"].patient[src])
        assert owner == row
    with pytest.raises(UnknownCodeError):
        explain_prediction(model, cohort, "P000001", 3)


# ------------------------------------------------------------------------------ similar
def test_similar_patients_come_from_similar_to_edges(synthetic):
    synth, kg, cohort = synthetic
    data = cohort.data
    pid = "P000002"
    row = cohort.index("patient", [pid])[0]
    et = ("patient", "similar_to", "patient")
    ei, w = data[et].edge_index, data[et].edge_weight
    mine = torch.nonzero(ei[0] == row).flatten()
    expected = cohort.ids("patient", ei[1, mine[torch.argsort(-w[mine], stable=True)]].tolist())
    table = similar_patients(cohort, pid, k=3, labels=kg)
    assert table["patient_id"].tolist() == expected[:3]
    assert (table["source"] == "similar_to").all()
    dx = synth.records.diagnoses
    codes = {p: set(g.astype(str)) for p, g in dx.groupby("patient_id")["code"]}
    for r in table.itertuples(index=False):
        assert set(r.shared) == codes[pid] & codes[r.patient_id]
        assert set(r.only_query) == codes[pid] - codes[r.patient_id]
        assert set(r.only_other) == codes[r.patient_id] - codes[pid]
        assert r.shared_labels == [kg.concept(c)["label"] for c in r.shared]


def test_similar_patients_fall_back_to_embeddings(synthetic):
    _, _, cohort = synthetic
    data = copy.copy(cohort.data)
    del data["patient", "similar_to", "patient"]
    graph = CohortGraph(data, {t: list(ix) for t, ix in cohort.node_ids.items()})
    n = data["patient"].num_nodes
    z = torch.eye(n)
    z[7] = z[3] + 0.1 * z[7]  # plant: patient 7 is the nearest to patient 3
    table = similar_patients(graph, cohort.ids("patient", [3])[0], k=2, embeddings=z)
    assert table["patient_id"].iloc[0] == cohort.ids("patient", [7])[0]
    assert (table["source"] == "cosine").all()
    with pytest.raises(InputError, match="embeddings"):
        similar_patients(graph, "P000001")


# ------------------------------------------------------------------------------ paths
def test_concept_paths_are_paths_of_the_graph(synthetic):
    _, _, cohort = synthetic
    data = cohort.data
    finder = ConceptPaths(cohort)
    pid = "P000001"
    row = cohort.index("patient", [pid])[0]
    found = 0
    for target in ("ICD10CM:I25", "ICD10CM:E78", "ICD10CM:N18", "ICD10CM:I10"):
        for path in finder.patient_paths(pid, target, max_hops=4, n_paths=3):
            found += 1
            first = path[0]
            assert first.src_type == "visit" and int(data["visit"].patient[first.src]) == row
            walk = [(first.src_type, first.src)]
            for s in path:
                assert _edge_exists(data, (s.src_type, s.relation, s.dst_type), s.src, s.dst)
                here = (s.src_type, s.src) if s.forward else (s.dst_type, s.dst)
                assert here == walk[-1]  # consecutive steps share a node
                walk.append((s.dst_type, s.dst) if s.forward else (s.src_type, s.src))
            assert cohort.ids(walk[-1][0], [walk[-1][1]])[0] == target
            assert len(path) - 1 <= 4
    assert found >= 4
    assert finder.patient_paths(pid, "ICD10CM:NOPE") == []


class EdgeDropper(nn.Module):
    """A model whose layers see fewer edges than the graph holds: masks cannot fit."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, data):
        data = copy.copy(data)
        et = ("disease", "rev_has_diagnosis", "visit")
        data[et].edge_index = data[et].edge_index[:, 1:]
        return self.inner(data)


def test_mask_mismatch_falls_back_with_a_reason(synthetic, gat_model):
    _, kg, cohort = synthetic
    e = explain_prediction(EdgeDropper(gat_model), cohort, "P000001", 0, labels=kg, epochs=5)
    assert e.method == "saliency"
    assert "edge masks do not fit" in e.note and e.note.endswith("(no edge gradients)")
    with pytest.raises(InputError, match="edge masks do not fit"):
        explain_prediction(EdgeDropper(gat_model), cohort, "P000001", 0, method="gnnexplainer")
    forced = explain_prediction(gat_model, cohort, "P000001", 0, method="saliency")
    assert forced.method == "saliency" and forced.note.startswith("gradient saliency requested")
