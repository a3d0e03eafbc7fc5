"""Pure-torch neighbour sampler: valid edges, fanout bounds, seeding, PyG loaders, training."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch_geometric.data import Data
from torch_geometric.loader import LinkLoader, NodeLoader
from torch_geometric.nn import GraphSAGE
from torch_geometric.sampler import NegativeSampling, NodeSamplerInput

from gnn.sampler import CSRNeighborSampler, incoming_csr, sample_incoming
from ontologies.errors import ConfigError, InputError


@pytest.fixture(scope="module")
def random_graph() -> Data:
    g = torch.Generator().manual_seed(0)
    n, e = 500, 4000
    edge_index = torch.randint(0, n, (2, e), generator=g)
    edge_index[1, :300] = 7  # one hub with ~300 incoming edges
    return Data(x=torch.randn(n, 4, generator=g), edge_index=edge_index,
                edge_attr=torch.arange(e).float().unsqueeze(1), num_nodes=n)


def loader(data, sampler, seeds, batch_size=32, **kwargs):
    return NodeLoader(data, node_sampler=sampler, input_nodes=seeds, batch_size=batch_size,
                      **kwargs)


def test_incoming_csr_groups_edges_by_target():
    src, dst = torch.tensor([3, 0, 2, 1, 0]), torch.tensor([1, 2, 1, 0, 1])
    ptr, col, eid = incoming_csr(src, dst, 4)
    assert ptr.tolist() == [0, 1, 4, 5, 5]
    for v in range(4):
        got = sorted(zip(col[ptr[v]:ptr[v + 1]].tolist(), eid[ptr[v]:ptr[v + 1]].tolist()))
        want = sorted((int(src[i]), i) for i in range(5) if dst[i] == v)
        assert got == want


@pytest.mark.parametrize("replace", [False, True])
def test_sample_incoming_counts_and_ranges(replace):
    ptr = torch.tensor([0, 3, 3, 10, 30])  # degrees 3, 0, 7, 20
    nodes = torch.tensor([0, 1, 2, 3, 3])
    pos, owner = sample_incoming(ptr, nodes, 5, replace, torch.Generator().manual_seed(0))
    counts = torch.bincount(owner, minlength=5).tolist()
    assert counts == ([5, 0, 5, 5, 5] if replace else [3, 0, 5, 5, 5])
    start, end = ptr[nodes][owner], ptr[nodes + 1][owner]
    assert ((pos >= start) & (pos < end)).all()
    if not replace:
        for i in range(5):
            mine = pos[owner == i]
            assert len(set(mine.tolist())) == len(mine)  # distinct edges


def test_sample_incoming_takes_all_with_minus_one():
    ptr = torch.tensor([0, 3, 3, 10])
    pos, owner = sample_incoming(ptr, torch.tensor([2, 0]), -1)
    assert sorted(pos.tolist()) == list(range(0, 3)) + list(range(3, 10))


def test_without_replacement_is_uniform():
    """Each of 6 edges should be drawn with probability 2/6 (Floyd's algorithm)."""
    ptr = torch.tensor([0, 6])
    nodes = torch.zeros(6000, dtype=torch.long)
    pos, _ = sample_incoming(ptr, nodes, 2, generator=torch.Generator().manual_seed(1))
    freq = torch.bincount(pos, minlength=6).float() / 6000
    assert torch.allclose(freq, torch.full((6,), 2 / 6), atol=0.03)


def test_sampled_edges_exist_and_fanout_holds(random_graph):
    sampler = CSRNeighborSampler(random_graph, num_neighbors=[5, 3], seed=0)
    edges = set(map(tuple, random_graph.edge_index.t().tolist()))
    seeds = torch.arange(0, 500, 3)
    for batch in loader(random_graph, sampler, seeds):
        n_id = batch.n_id
        assert torch.equal(n_id[: batch.batch_size], seeds[batch.input_id])  # seeds first
        assert len(set(n_id.tolist())) == len(n_id)  # each node once
        global_edges = n_id[batch.edge_index]
        assert all(tuple(e) in edges for e in global_edges.t().tolist())
        assert torch.equal(random_graph.edge_index[:, batch.e_id], global_edges)
        assert torch.equal(batch.edge_attr.squeeze(1).long(), batch.e_id)  # features follow
        assert len(set(batch.e_id.tolist())) == len(batch.e_id)
        # hop 1 targets are seeds (<= 5 each); hop 2 targets are hop-1 nodes (<= 3 each)
        e1, e2 = batch.num_sampled_edges
        tgt1, tgt2 = batch.edge_index[1, :e1], batch.edge_index[1, e1:]
        assert (tgt1 < batch.batch_size).all()
        assert torch.bincount(tgt1).max() <= 5
        if e2:
            assert torch.bincount(tgt2).max() <= 3
        assert sum(batch.num_sampled_nodes) == batch.num_nodes


def test_hub_gets_exactly_fanout_distinct_neighbours(random_graph):
    sampler = CSRNeighborSampler(random_graph, num_neighbors=[10], seed=0)
    out = sampler.sample_from_nodes(NodeSamplerInput(None, torch.tensor([7])))
    assert len(out.row) == 10
    assert (out.col == 0).all()
    assert len(set(out.edge.tolist())) == 10


def batches_of(sampler, data):
    return [(b.n_id.clone(), b.edge_index.clone()) for b in loader(data, sampler,
                                                                   torch.arange(100))]


def test_same_seed_same_batches_other_seed_differs(random_graph):
    a = batches_of(CSRNeighborSampler(random_graph, [4, 2], seed=3), random_graph)
    b = batches_of(CSRNeighborSampler(random_graph, [4, 2], seed=3), random_graph)
    c = batches_of(CSRNeighborSampler(random_graph, [4, 2], seed=4), random_graph)
    assert all(torch.equal(x[0], y[0]) and torch.equal(x[1], y[1]) for x, y in zip(a, b))
    assert any(not torch.equal(x[0], y[0]) for x, y in zip(a, c))


def test_with_replacement_draws_exactly_k(random_graph):
    sampler = CSRNeighborSampler(random_graph, num_neighbors=[6], replace=True, seed=0)
    seeds = torch.arange(50)
    out = sampler.sample_from_nodes(NodeSamplerInput(None, seeds))
    deg = torch.bincount(random_graph.edge_index[1], minlength=500)[seeds]
    assert torch.equal(torch.bincount(out.col, minlength=50), torch.where(deg > 0, 6, 0))


def test_hetero_sampling_is_valid_per_edge_type(toy_hetero):
    sampler = CSRNeighborSampler(toy_hetero, num_neighbors=[2, 2], seed=0)
    batches = loader(toy_hetero, sampler, ("patient", torch.arange(30)), batch_size=8)
    for batch in batches:
        assert batch["patient"].batch_size == len(batch["patient"].input_id)
        assert torch.equal(batch["patient"].n_id[: batch["patient"].batch_size],
                           batch["patient"].input_id)
        for et in toy_hetero.edge_types:
            index = batch[et].edge_index
            if index.numel() == 0:
                continue
            src = batch[et[0]].n_id[index[0]]
            dst = batch[et[2]].n_id[index[1]]
            full = set(map(tuple, toy_hetero[et].edge_index.t().tolist()))
            assert all(e in full for e in zip(src.tolist(), dst.tolist()))
            assert torch.bincount(index[1]).max() <= 2


def test_hetero_fanout_per_edge_type(toy_hetero):
    fanouts = {("visit", "rev_has_visit", "patient"): [1, 0],
               ("disease", "rev_has_diagnosis", "visit"): [0, 1]}
    sampler = CSRNeighborSampler(toy_hetero, num_neighbors=fanouts, seed=0)
    out = sampler.sample_from_nodes(NodeSamplerInput(None, torch.arange(5), input_type="patient"))
    assert out.num_sampled_edges[("visit", "rev_has_visit", "patient")] == [5, 0]
    assert out.num_sampled_edges[("disease", "rev_has_diagnosis", "visit")] == [0, 5]
    assert out.num_sampled_edges[("drug", "rev_has_drug", "visit")] == [0, 0]


def test_link_loader_with_negative_sampling(random_graph):
    sampler = CSRNeighborSampler(random_graph, num_neighbors=[3], seed=0)
    links = random_graph.edge_index[:, :64]
    link_loader = LinkLoader(random_graph, link_sampler=sampler, edge_label_index=links,
                             neg_sampling=NegativeSampling("binary"), batch_size=16)
    batch = next(iter(link_loader))
    assert batch.edge_label.tolist() == [1.0] * 16 + [0.0] * 16
    pos = batch.n_id[batch.edge_label_index[:, :16]]
    assert torch.equal(pos, links[:, :16])


def test_graphsage_trains_on_minibatches(toy_graph):
    torch.manual_seed(0)
    sampler = CSRNeighborSampler(toy_graph, num_neighbors=[8, 4], seed=0)
    train = torch.nonzero(toy_graph.train_mask).flatten()
    model = GraphSAGE(toy_graph.num_features, 16, num_layers=2, out_channels=3)
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    epoch_losses = []
    for _ in range(15):
        total = 0.0
        for batch in loader(toy_graph, sampler, train, batch_size=16, shuffle=True):
            opt.zero_grad()
            out = model(batch.x, batch.edge_index)[: batch.batch_size]
            loss = F.cross_entropy(out, batch.y[: batch.batch_size])
            loss.backward()
            opt.step()
            total += loss.item() * batch.batch_size
        epoch_losses.append(total / len(train))
    assert epoch_losses[-1] < 0.5 * epoch_losses[0]
    model.eval()
    with torch.no_grad():
        pred = model(toy_graph.x, toy_graph.edge_index).argmax(-1)
    test = toy_graph.test_mask
    assert (pred[test] == toy_graph.y[test]).float().mean() > 0.8


@pytest.mark.parametrize("fanout", [[], [0.5], [-2], "10"])
def test_bad_fanout_raises_config_error(random_graph, fanout):
    with pytest.raises(ConfigError, match="num_neighbors"):
        CSRNeighborSampler(random_graph, num_neighbors=fanout)


def test_bad_inputs_raise(random_graph):
    with pytest.raises(InputError, match="Data or HeteroData"):
        CSRNeighborSampler(object(), [2])
    bad = Data(edge_index=torch.tensor([[0, 9], [1, 2]]), num_nodes=3)
    with pytest.raises(InputError, match=r"outside \[0, 3\)"):
        CSRNeighborSampler(bad, [2])
    sampler = CSRNeighborSampler(random_graph, [2])
    with pytest.raises(ConfigError, match="temporal"):
        sampler.sample_from_nodes(NodeSamplerInput(None, torch.tensor([0]), time=torch.tensor([1])))
