"""Models: registry, cached GCN adjacency, attention output, training on toys, determinism."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch_geometric.data import HeteroData
from torch_geometric.nn import GCNConv
from torch_geometric.utils import scatter

from gnn import models
from gnn.models import (
    GAT,
    GCN,
    CachedGCNConv,
    HeteroInputProjection,
    LinkPredictor,
    MultiLabelHead,
    hetero_inputs,
    normalized_adjacency,
)
from ontologies.errors import ConfigError, InputError, UnknownNameError

HOMOGENEOUS = ["gcn", "gat", "gatv2", "mlp"]
HETERO = ["hetero_sage", "hetero_gat", "rgcn", "hgt"]


def build(name: str, in_channels: int, out_channels: int):
    kwargs = dict(in_channels=in_channels, hidden_channels=16, out_channels=out_channels)
    if name != "mlp":
        kwargs["dropout"] = 0.2
    return models.get(name, **kwargs)


def train_nodes(model, data, epochs: int, lr: float = 0.02) -> tuple[list[float], float]:
    """Full-batch training; returns per-epoch losses and test accuracy."""
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=5e-4)
    losses = []
    for _ in range(epochs):
        model.train()
        opt.zero_grad()
        out = model(data.x, data.edge_index)
        loss = F.cross_entropy(out[data.train_mask], data.y[data.train_mask])
        loss.backward()
        opt.step()
        losses.append(loss.item())
    model.eval()
    with torch.no_grad():
        pred = model(data.x, data.edge_index).argmax(-1)
    return losses, (pred[data.test_mask] == data.y[data.test_mask]).float().mean().item()


# --- registry -----------------------------------------------------------------------


def test_registry_lists_every_family():
    assert set(HOMOGENEOUS + HETERO) <= set(models.MODELS.names())


def test_unknown_model_lists_choices():
    with pytest.raises(UnknownNameError, match="gcn"):
        models.get("gnc", in_channels=2, hidden_channels=2, out_channels=2)


@pytest.mark.parametrize("bad", [dict(num_layers=0), dict(dropout=1.5), dict(hidden_channels=-1)])
def test_bad_hyperparameters_raise_config_error(bad):
    kwargs = dict(in_channels=4, hidden_channels=8, out_channels=2) | bad
    with pytest.raises(ConfigError):
        GCN(**kwargs)


def test_gat_heads_must_divide_hidden():
    with pytest.raises(ConfigError, match="divisible"):
        GAT(4, 10, 2, heads=4)


def test_repr_is_readable():
    assert repr(GCN(5, 16, 3)) == "GCN(5, 3, num_layers=2)"
    assert repr(GAT(5, 16, 3, heads=2)) == "GAT(5, 3, num_layers=2, heads=2)"


# --- cached normalised adjacency ------------------------------------------------------


def dense_gcn_matrix(edge_index: torch.Tensor, n: int) -> torch.Tensor:
    """Reference D^-1/2 (A + I) D^-1/2 in message-passing layout (row = target)."""
    a = torch.zeros(n, n)
    a[edge_index[1], edge_index[0]] = 1.0
    a += torch.eye(n)
    d = a.sum(1).pow(-0.5)
    return d[:, None] * a * d[None, :]


def test_normalized_adjacency_matches_dense_formula():
    edge_index = torch.tensor([[0, 1, 1, 2, 3], [1, 0, 2, 3, 0]])  # directed
    adj = normalized_adjacency(edge_index, 4)
    assert adj.layout == torch.sparse_csr
    assert torch.allclose(adj.to_dense(), dense_gcn_matrix(edge_index, 4))


def test_adjacency_cache_is_keyed_on_the_tensor_and_its_version():
    edge_index = torch.tensor([[0, 1], [1, 2]])
    first = normalized_adjacency(edge_index, 3)
    assert normalized_adjacency(edge_index, 3) is first
    assert normalized_adjacency(edge_index.clone(), 3) is not first
    edge_index[1, 1] = 0  # in-place change must not serve a stale matrix
    again = normalized_adjacency(edge_index, 3)
    assert again is not first
    assert torch.allclose(again.to_dense(), dense_gcn_matrix(edge_index, 3))


def test_adjacency_rejects_out_of_range_nodes():
    with pytest.raises(InputError, match=r"\[0, 3\)"):
        normalized_adjacency(torch.tensor([[0, 5], [1, 2]]), 3)


@pytest.mark.parametrize("directed", [False, True])
def test_cached_conv_matches_pyg_gcnconv_forward_and_backward(directed):
    torch.manual_seed(0)
    n = 30
    edge_index = torch.randint(0, n, (2, 90))
    if not directed:
        edge_index = torch.cat([edge_index, edge_index.flip(0)], 1)
    x = torch.randn(n, 6)
    ref = GCNConv(6, 4)
    ours = CachedGCNConv(6, 4, normalize=False)
    ours.load_state_dict(ref.state_dict())
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    out_ref = ref(x1, edge_index)
    out = ours(x2, normalized_adjacency(edge_index, n))
    assert torch.allclose(out, out_ref, atol=1e-5)
    weights = torch.randn_like(out)
    (out_ref * weights).sum().backward()
    (out * weights).sum().backward()
    assert torch.allclose(x1.grad, x2.grad, atol=1e-5)
    assert torch.allclose(ref.lin.weight.grad, ours.lin.weight.grad, atol=1e-4)


def test_gcn_accepts_a_precomputed_adjacency(toy_graph):
    model = GCN(toy_graph.num_features, 8, 3).eval()
    adj = normalized_adjacency(toy_graph.edge_index, toy_graph.num_nodes)
    assert torch.equal(model(toy_graph.x, toy_graph.edge_index), model(toy_graph.x, adj))


def test_wrong_feature_width_raises_input_error(toy_graph):
    with pytest.raises(InputError, match=r"\[N, 5\]"):
        GCN(5, 8, 3)(toy_graph.x, toy_graph.edge_index)


# --- homogeneous models train -------------------------------------------------------


@pytest.mark.parametrize("name", HOMOGENEOUS)
def test_model_learns_the_toy(name, toy_graph):
    torch.manual_seed(0)
    model = build(name, toy_graph.num_features, 3)
    losses, acc = train_nodes(model, toy_graph, epochs=60)
    assert losses[-1] < 0.6 * losses[0]
    floor = 0.45 if name == "mlp" else 0.85  # chance is 1/3; the graph helps the GNNs
    assert acc > floor, acc


def test_gnn_beats_mlp_on_the_community_toy(toy_graph):
    torch.manual_seed(0)
    _, acc_gcn = train_nodes(build("gcn", toy_graph.num_features, 3), toy_graph, 60)
    torch.manual_seed(0)
    _, acc_mlp = train_nodes(build("mlp", toy_graph.num_features, 3), toy_graph, 60)
    assert acc_gcn > acc_mlp + 0.1


@pytest.mark.parametrize("name", HOMOGENEOUS)
def test_same_seed_same_model_and_training(name, toy_graph):
    runs = []
    for _ in range(2):
        torch.manual_seed(123)
        model = build(name, toy_graph.num_features, 3)
        losses, _ = train_nodes(model, toy_graph, epochs=3)
        runs.append(losses)
    assert runs[0] == runs[1]


def test_reset_parameters_reinitialises(toy_graph):
    model = GCN(toy_graph.num_features, 8, 3)
    before = model.convs[0].lin.weight.clone()
    model.reset_parameters()
    assert not torch.equal(before, model.convs[0].lin.weight)


# --- attention ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["gat", "gatv2"])
def test_attention_is_exposed_per_layer_and_normalised(name, toy_graph):
    model = models.get(name, in_channels=toy_graph.num_features, hidden_channels=8,
                       out_channels=3, num_layers=2, heads=2).eval()
    out, attention = model(toy_graph.x, toy_graph.edge_index, return_attention=True)
    assert out.shape == (toy_graph.num_nodes, 3)
    assert len(attention) == 2
    n, e = toy_graph.num_nodes, toy_graph.num_edges
    for (index, alpha), heads in zip(attention, [2, 1]):
        assert index.shape == (2, e + n)  # self-loops added
        assert alpha.shape == (e + n, heads)
        per_target = scatter(alpha, index[1], dim=0, dim_size=n, reduce="sum")
        assert torch.allclose(per_target, torch.ones_like(per_target), atol=1e-5)
    assert torch.equal(out, model(toy_graph.x, toy_graph.edge_index))


# --- heterogeneous models -------------------------------------------------------------


def train_hetero(model, data, epochs: int) -> tuple[list[float], float]:
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    y = data["patient"].y
    losses = []
    for _ in range(epochs):
        model.train()
        opt.zero_grad()
        out = model(hetero_inputs(data), data.edge_index_dict)["patient"]
        loss = F.cross_entropy(out, y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    model.eval()
    with torch.no_grad():
        pred = model(hetero_inputs(data), data.edge_index_dict)["patient"].argmax(-1)
    return losses, (pred == y).float().mean().item()


@pytest.mark.parametrize("name", HETERO)
def test_hetero_model_shapes_and_learning(name, toy_hetero):
    torch.manual_seed(0)
    model = models.MODELS.get(name).from_data(
        toy_hetero, hidden_channels=16, out_channels=2, dropout=0.0
    )
    out = model(hetero_inputs(toy_hetero), toy_hetero.edge_index_dict)
    assert set(out) == set(toy_hetero.node_types)
    for node_type, h in out.items():
        assert h.shape == (toy_hetero[node_type].num_nodes, 2)
    losses, acc = train_hetero(model, toy_hetero, epochs=40)
    assert losses[-1] < 0.5 * losses[0]
    majority = max(toy_hetero["patient"].y.float().mean().item(), 0.6)
    assert acc > majority + 0.2, acc  # needs disease embeddings -> visits -> patients


@pytest.mark.parametrize("name", HETERO)
def test_hetero_models_are_deterministic(name, toy_hetero):
    outs = []
    for _ in range(2):
        torch.manual_seed(7)
        model = models.MODELS.get(name).from_data(toy_hetero, hidden_channels=8,
                                                  out_channels=2).eval()
        outs.append(model(hetero_inputs(toy_hetero), toy_hetero.edge_index_dict)["patient"])
    assert torch.equal(outs[0], outs[1])


def test_hetero_requires_reverse_edges():
    data = HeteroData()
    data["patient"].x = torch.randn(2, 3)
    data["disease"].num_nodes = 2
    data["patient", "has", "disease"].edge_index = torch.tensor([[0, 1], [1, 0]])
    with pytest.raises(ConfigError, match="ToUndirected"):
        models.HeteroSAGE.from_data(data, hidden_channels=4, out_channels=2)


def test_input_projection_embeds_id_only_types():
    proj = HeteroInputProjection(["p", "d"], {"p": 3}, {"d": 5}, 4)
    out = proj({"p": torch.randn(2, 3), "d": torch.tensor([4, 0, 4])})
    assert out["d"].shape == (3, 4)
    assert torch.equal(out["d"][0], out["d"][2])  # same id, same embedding
    with pytest.raises(InputError, match="LongTensor of node ids"):
        proj({"p": torch.randn(2, 3), "d": torch.randn(3, 4)})
    with pytest.raises(InputError, match="lacks node type 'd'"):
        proj({"p": torch.randn(2, 3)})
    with pytest.raises(ConfigError, match="neither"):
        HeteroInputProjection(["p", "d"], {"p": 3}, None, 4)


# --- heads ----------------------------------------------------------------------------


def test_dot_link_predictor_is_inner_product():
    z_src, z_dst = torch.randn(5, 4), torch.randn(5, 4)
    assert torch.allclose(LinkPredictor(4)(z_src, z_dst), (z_src * z_dst).sum(-1))


def test_mlp_link_predictor_is_symmetric_and_checks_shapes():
    torch.manual_seed(0)
    head = LinkPredictor(4, hidden_channels=8, mode="mlp")
    z_src, z_dst = torch.randn(5, 4), torch.randn(5, 4)
    assert torch.allclose(head(z_src, z_dst), head(z_dst, z_src))
    with pytest.raises(InputError, match=r"\(5, 4\) and \(5, 3\)"):
        head(z_src, z_dst[:, :3])
    with pytest.raises(ConfigError):
        LinkPredictor(4, mode="cosine")


def test_gcn_with_link_head_learns_communities(toy_graph):
    """Intra-community pairs should score higher than cross-community pairs."""
    torch.manual_seed(0)
    encoder = GCN(toy_graph.num_features, 16, 16, dropout=0.0)
    head = LinkPredictor(16, mode="mlp", hidden_channels=16)
    opt = torch.optim.Adam([*encoder.parameters(), *head.parameters()], lr=0.01)
    pos = toy_graph.edge_index
    g = torch.Generator().manual_seed(1)
    neg = torch.randint(0, toy_graph.num_nodes, pos.shape, generator=g)
    labels = torch.cat([torch.ones(pos.size(1)), torch.zeros(neg.size(1))])
    pairs = torch.cat([pos, neg], 1)
    for _ in range(60):
        opt.zero_grad()
        z = encoder(toy_graph.x, toy_graph.edge_index)
        loss = F.binary_cross_entropy_with_logits(head(z[pairs[0]], z[pairs[1]]), labels)
        loss.backward()
        opt.step()
    with torch.no_grad():
        z = encoder(toy_graph.x, toy_graph.edge_index)
        y = toy_graph.y
        i, j = torch.randint(0, toy_graph.num_nodes, (2, 2000))
        score = head(z[i], z[j])
    same = y[i] == y[j]
    assert score[same].mean() > score[~same].mean() + 1.0


def test_multilabel_head_trains_to_fit_labels():
    torch.manual_seed(0)
    h = torch.randn(64, 8)
    labels = (h[:, :3] > 0).float()  # label j fires when feature j is positive
    head = MultiLabelHead(8, num_labels=3)
    opt = torch.optim.Adam(head.parameters(), lr=0.05)
    for _ in range(100):
        opt.zero_grad()
        loss = F.binary_cross_entropy_with_logits(head(h), labels)
        loss.backward()
        opt.step()
    assert ((head(h) > 0).float() == labels).float().mean() > 0.95
    with pytest.raises(InputError, match=r"\[B, 8\]"):
        head(torch.randn(2, 7))
