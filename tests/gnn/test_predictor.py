"""PatientPredictor: the forward/embed contract for every variant, inputs, caches, codes."""

import pytest
import torch
from torch_geometric.loader import NodeLoader

from gnn.config import GRAPH_MODELS, TrainConfig
from gnn.models.gcn import normalized_adjacency
from gnn.predictor import (
    PatientPredictor,
    available_inputs,
    graph_view,
    label_node_index,
    patient_code_matrix,
)
from gnn.sampler import CSRNeighborSampler
from gnn.toy_setup import synthetic_setup
from gnn.train import train
from graphs.cohort import CohortBuilder
from graphs.cohort.demo import tiny_features, tiny_kg, tiny_records
from ontologies.errors import ConfigError, InputError

MODELS = list(GRAPH_MODELS) + ["mlp"]


@pytest.fixture(scope="module")
def setup():
    return synthetic_setup(80, seed=3, min_count=2)


@pytest.mark.parametrize("model", MODELS)
def test_forward_and_embed_shapes(setup, model):
    task, cohort = setup
    data = cohort.data
    n = data["patient"].num_nodes
    torch.manual_seed(0)
    net = PatientPredictor(data, len(task.label_ids), model=model, hidden=16, heads=2)
    net.eval()
    assert net(data).shape == (n, len(task.label_ids))
    assert net.embed(data).shape == (n, 16)
    rows = torch.tensor([3, 0, 5])
    # a row subset gives the same logits as slicing the full output
    assert torch.allclose(net(data, index=rows), net(data)[rows], atol=1e-5)


def test_default_inputs_per_model(setup):
    _, cohort = setup
    data = cohort.data
    groups = list(available_inputs(data))
    assert groups[:2] == ["demographics", "history_codes"]
    modalities = [g for g in groups if g not in ("demographics", "history_codes")]
    assert set(modalities) == {"note", "image", "signal", "genomic"}
    assert PatientPredictor(data, 3, model="mlp").inputs == groups
    assert PatientPredictor(data, 3, model="gcn").inputs == ["demographics"] + modalities
    kg_only = PatientPredictor(data, 3, model="gcn", graph_modalities=False)
    assert kg_only.inputs == ["demographics"]
    assert not set(kg_only.node_types) & {"note", "image", "signal", "genomic"}
    assert "image" in PatientPredictor(data, 3, model="gcn").node_types


def test_unknown_input_group_is_reported():
    cohort = CohortBuilder(tiny_kg()).build(tiny_records())  # no modalities
    with pytest.raises(InputError, match="image"):
        PatientPredictor(cohort.data, 2, model="mlp", inputs=["image"])
    with pytest.raises(ConfigError, match="num_labels"):
        PatientPredictor(cohort.data, 0, model="mlp")


def test_patient_code_matrix_matches_records():
    records = tiny_records()
    cohort = CohortBuilder(tiny_kg()).build(records, tiny_features())
    matrix, cols = patient_code_matrix(cohort)
    patients = list(cohort.node_ids["patient"])
    expected = set()
    for table in (records.diagnoses, records.medications):
        expected |= set(zip(table["patient_id"], table["code"]))
    got = {(patients[r], cols[c]) for r, c in torch.nonzero(matrix).tolist()}
    assert got == expected
    # recorded level only: the ancestor E11 of E11.9 is not a column
    assert "ICD10CM:E11" not in cols
    _, raw_cols = patient_code_matrix(cohort.data)
    assert all(":" in c for c in raw_cols) and len(raw_cols) == len(cols)


def test_graph_view_drops_modalities_and_shares_tensors(setup):
    _, cohort = setup
    data = cohort.data
    full = graph_view(data, modalities=True)
    kg = graph_view(data, modalities=False)
    assert "note" in full.node_types and "note" not in kg.node_types
    assert all("note" not in (e[0], e[2]) for e in kg.edge_types)
    et = ("visit", "has_diagnosis", "disease")
    assert kg[et].edge_index.data_ptr() == data[et].edge_index.data_ptr()


def test_homogeneous_edges_and_gcn_adjacency_are_cached(setup):
    task, cohort = setup
    data = cohort.data
    net = PatientPredictor(data, len(task.label_ids), model="gcn", hidden=8)
    net(data)
    cached = net._cached(data)["edge_index"]
    adj = normalized_adjacency(cached, sum(data[t].num_nodes for t in net.node_types))
    net(data)
    assert net._cached(data)["edge_index"] is cached
    assert normalized_adjacency(cached, adj.size(0)) is adj


def test_mini_batch_forward_returns_seed_patients(setup):
    task, cohort = setup
    data = cohort.data
    for model in ("gat", "hetero_sage"):
        net = PatientPredictor(data, len(task.label_ids), model=model, hidden=8, heads=2)
        view = net.graph_view(data)
        loader = NodeLoader(view, node_sampler=CSRNeighborSampler(view, [4, 2], seed=0),
                            input_nodes=("patient", torch.arange(10)), batch_size=4)
        batch = next(iter(loader))
        assert net(data, batch=batch).shape == (4, len(task.label_ids))


def test_link_objective_uses_drug_nodes():
    task, cohort = synthetic_setup(80, seed=3, task="treatment", min_count=2)
    data = cohort.data
    nodes = torch.from_numpy(cohort.node_ids["drug"].get_indexer(task.label_ids))
    assert (nodes >= 0).any()
    net = PatientPredictor(data, len(task.label_ids), model="hetero_sage", hidden=8,
                           objective="link", label_nodes=nodes)
    net.eval()
    logits = net(data)
    assert logits.shape == (data["patient"].num_nodes, len(task.label_ids))
    # a label bound to a drug node moves when that node's learned embedding moves
    with torch.no_grad():
        before = net(data)
        net.gnn.input.proj["drug"].weight.add_(1.0)
        after = net(data)
    changed = (before - after).abs().amax(0) > 1e-6
    assert changed[nodes >= 0].all()
    with pytest.raises(InputError, match="label_nodes"):
        PatientPredictor(data, 3, model="mlp", objective="link", label_nodes=torch.zeros(2))


def test_label_readout_scores_labels_through_their_nodes():
    task, cohort = synthetic_setup(80, seed=3, task="treatment", min_count=2)
    node_type, nodes = label_node_index(cohort, task.label_ids)
    assert node_type == "drug" and (nodes >= 0).any()
    data = cohort.data
    net = PatientPredictor(data, len(task.label_ids), model="gcn", hidden=8,
                           label_readout=True, label_nodes=nodes, label_node_type=node_type)
    net.eval()
    with torch.no_grad():
        before = net(data)
        # only the readout term depends on the projection of the label nodes
        net.label_projection.weight.add_(1.0)
        after = net(data)
    changed = (before - after).abs().amax(0) > 1e-6
    assert changed[nodes >= 0].all() and not changed[nodes < 0].any()
    with pytest.raises(ConfigError, match="graph model"):
        PatientPredictor(data, len(task.label_ids), model="mlp", label_readout=True,
                         label_nodes=nodes)
    with pytest.raises(InputError, match="no label is a node"):
        PatientPredictor(data, 2, model="gcn", label_readout=True,
                         label_nodes=torch.tensor([-1, -1]))
    with pytest.raises(ConfigError, match="full-batch"):
        TrainConfig(model="gcn", label_readout=True, batch_size=16)


def test_label_readout_trains_end_to_end():
    task, cohort = synthetic_setup(80, seed=3, min_count=2)
    cfg = TrainConfig(model="gat", label_readout=True, epochs=3, n_boot=0, out_dir=None,
                      progress=False)
    result = train(cfg, task, cohort)
    assert result.model.label_readout and len(result.history) == 3
    assert result.test_scores.shape == result.test_y.shape


def test_repr_names_the_variant(setup):
    task, cohort = setup
    text = repr(PatientPredictor(cohort.data, 4, model="rgcn", hidden=8))
    assert "rgcn" in text and "gated" in text and "labels=4" in text
