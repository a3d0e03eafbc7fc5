"""Tiny learnable graphs for the gnn tests, built in code (session-scoped)."""

from __future__ import annotations

import pytest
import torch
import torch_geometric.transforms as T
from torch_geometric.data import Data, HeteroData


def community_graph(num_classes: int = 3, per_class: int = 40, seed: int = 0) -> Data:
    """Stochastic block model: dense within a class, sparse across; weak noisy features.

    Features alone give a mediocre classifier; averaging over neighbours (same class
    mostly) cleans the signal, so a working GNN clearly beats chance (1/num_classes).
    """
    g = torch.Generator().manual_seed(seed)
    n = num_classes * per_class
    y = torch.arange(num_classes).repeat_interleave(per_class)
    same = y.unsqueeze(0) == y.unsqueeze(1)
    prob = torch.where(same, 0.15, 0.01)
    upper = torch.triu(torch.rand(n, n, generator=g) < prob, diagonal=1)
    adj = upper | upper.t()
    edge_index = adj.nonzero().t().contiguous()
    x = torch.nn.functional.one_hot(y, num_classes).float() * 1.2
    x = torch.cat([x, torch.zeros(n, 5)], 1) + torch.randn(n, num_classes + 5, generator=g)
    train = torch.rand(n, generator=g) < 0.7
    return Data(x=x, edge_index=edge_index, y=y, train_mask=train, test_mask=~train)


def patient_graph(num_patients: int = 80, seed: int = 0) -> HeteroData:
    """Patients (features) -> visits (features) -> diseases (ids only) and drugs (ids).

    A patient's label is whether any of its visits has disease 0 or 1 (~44% positive):
    it is only learnable by passing messages from the id-only disease embeddings
    through visits to patients.
    """
    g = torch.Generator().manual_seed(seed)
    num_diseases, num_drugs = 8, 5
    visits_per_patient = 2
    num_visits = num_patients * visits_per_patient
    data = HeteroData()
    data["patient"].x = torch.randn(num_patients, 4, generator=g)
    data["visit"].x = torch.randn(num_visits, 3, generator=g)
    data["disease"].num_nodes = num_diseases
    data["drug"].num_nodes = num_drugs
    visit_owner = torch.arange(num_patients).repeat_interleave(visits_per_patient)
    data["patient", "has_visit", "visit"].edge_index = torch.stack(
        [visit_owner, torch.arange(num_visits)]
    )
    diag = torch.randint(0, num_diseases, (num_visits,), generator=g)
    data["visit", "has_diagnosis", "disease"].edge_index = torch.stack(
        [torch.arange(num_visits), diag]
    )
    drug = torch.randint(0, num_drugs, (num_visits,), generator=g)
    data["visit", "has_drug", "drug"].edge_index = torch.stack([torch.arange(num_visits), drug])
    data["disease", "is_a", "disease"].edge_index = torch.tensor([[1, 2, 5, 6], [0, 0, 4, 4]])
    positive = torch.zeros(num_patients, dtype=torch.bool)
    positive[visit_owner[diag < 2]] = True
    data["patient"].y = positive.long()
    return T.ToUndirected()(data)


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny tensors: one intra-op thread is faster, and immune to a busy host."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def toy_graph() -> Data:
    return community_graph()


@pytest.fixture(scope="session")
def toy_hetero() -> HeteroData:
    return patient_graph()
