"""Cross-modal alignment: loss values, learnable pairing, resumable training, evaluation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from graphs.encoders.alignment import (
    ContrastiveAligner,
    ProjectionHead,
    info_nce,
    retrieval_recall_at_k,
    train_contrastive,
    zero_shot_classify,
)
from graphs.encoders.genomic import MotifCNNEncoder
from graphs.encoders.signal import TemporalCNNEncoder
from ontologies.errors import ConfigError, InputError, ParseError, SchemaError


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny tensors: one thread avoids oversubscribing the shared 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_info_nce_hand_checked():
    eye = torch.eye(2)
    assert info_nce(eye, eye, 1.0).item() == pytest.approx(math.log(1 + math.exp(-1)))
    # a b^T = [[1, 1], [0, 0]]: a->b rows give log 2 each; b->a rows give
    # log(1 + e^-1) and log(1 + e); the loss is the mean of both directions
    b = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    expected = (math.log(2) + (math.log(1 + math.exp(-1)) + math.log(1 + math.e)) / 2) / 2
    assert info_nce(eye, b, 1.0, normalize=False).item() == pytest.approx(expected, rel=1e-6)
    assert info_nce(eye, eye, 0.01).item() < 1e-6  # perfect pairs, sharp softmax
    assert info_nce(eye, b, 1.0).item() == pytest.approx(info_nce(b, eye, 1.0).item())


def test_info_nce_errors_and_temperature_gradient():
    with pytest.raises(InputError, match="at least 2"):
        info_nce(torch.ones(1, 3), torch.ones(1, 3))
    with pytest.raises(InputError):
        info_nce(torch.ones(2, 3), torch.ones(3, 3))
    with pytest.raises(InputError):
        info_nce(torch.eye(2), torch.eye(2), temperature=0.0)
    model = ContrastiveAligner(3, 3, dim=4)
    model.loss(torch.randn(4, 3), torch.randn(4, 3)).backward()
    assert model.logit_scale.grad is not None and model.logit_scale.grad != 0
    with torch.no_grad():
        model.logit_scale.fill_(10.0)  # exp(10) > 100: CLIP clamp applies
    assert model.current_temperature().item() == pytest.approx(0.01)
    fixed = ContrastiveAligner(3, 3, dim=4, temperature=0.2, learn_temperature=False)
    assert "logit_scale" not in dict(fixed.named_parameters())
    assert fixed.current_temperature().item() == pytest.approx(0.2)


def test_projection_head_and_config_errors():
    head = ProjectionHead(5, 3, hidden=8, dropout=0.1)
    z = head(torch.randn(4, 5))
    torch.testing.assert_close(z.norm(dim=1), torch.ones(4))
    with pytest.raises(InputError):
        head(torch.randn(4, 6))
    with pytest.raises(ConfigError):
        ProjectionHead(0, 3)
    with pytest.raises(ConfigError, match="pass a_dim="):
        ContrastiveAligner(torch.nn.Linear(3, 3), 4)
    with pytest.raises(ConfigError):
        ContrastiveAligner("text", 4)


def test_retrieval_recall_and_zero_shot_basics():
    q = torch.eye(4)
    r = retrieval_recall_at_k(q, q[[1, 0, 2, 3]], k=(1, 2))
    assert r == {"a2b@1": 0.5, "b2a@1": 0.5, "a2b@2": 1.0, "b2a@2": 1.0}
    tied = retrieval_recall_at_k(torch.ones(3, 2), torch.ones(3, 2), k=(1,))
    assert tied["a2b@1"] == 1.0  # ties count in the query's favour
    probs = zero_shot_classify(torch.tensor([[0.0, 2.0], [1.0, 0.1]]), torch.eye(2))
    torch.testing.assert_close(probs.sum(1), torch.ones(2))
    assert probs.argmax(1).tolist() == [1, 0]
    with pytest.raises(InputError):
        retrieval_recall_at_k(q, q, k=(0,))
    with pytest.raises(InputError):
        zero_shot_classify(torch.ones(2, 3), torch.ones(2, 4))


N_PAIRS, N_CLASSES, LATENT = 64, 4, 8


@pytest.fixture(scope="module")
def toy():
    """64 ECG-like 4-channel signals and 384-d "report" vectors from one latent each.

    The latent is a class centre plus noise; signals mix sinusoids and per-channel
    offsets weighted by the latent, texts are a fixed random projection of it. Class
    prompts are the projections of the centres.
    """
    g = torch.Generator().manual_seed(0)
    centers = 2 * torch.randn(N_CLASSES, LATENT, generator=g)
    labels = torch.arange(N_PAIRS) % N_CLASSES
    z = centers[labels] + 0.7 * torch.randn(N_PAIRS, LATENT, generator=g)
    t = torch.arange(64) / 64
    freqs = [1.0, 2, 3, 5, 7, 9, 11, 13]
    basis = torch.stack([torch.sin(2 * np.pi * f * t + c) for f in freqs for c in range(4)])
    basis = basis.reshape(LATENT, 4, 64)
    offsets = z @ torch.randn(LATENT, 4, generator=g)  # sign information for pooling
    signals = torch.einsum("nd,dcl->ncl", z, basis) + offsets[:, :, None]
    signals = signals + 0.1 * torch.randn(N_PAIRS, 4, 64, generator=g)
    proj = torch.randn(LATENT, 384, generator=g)
    text = z @ proj + 0.1 * torch.randn(N_PAIRS, 384, generator=g)
    return signals, text, labels, centers @ proj


@pytest.fixture(scope="module")
def trained(toy):
    signals, text, _, _ = toy
    torch.manual_seed(0)
    encoder = TemporalCNNEncoder(in_channels=4, dim=32, width=16, n_blocks=2, normalize=False,
                                 dropout=0.0)
    model = ContrastiveAligner(encoder, 384, dim=32)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(signals, text),
                                         batch_size=32, shuffle=True)
    history = train_contrastive(model, loader, epochs=30, lr=3e-3, progress=False)
    return model, history


def test_contrastive_alignment_learns_pairing(toy, trained):
    signals, text, _, _ = toy
    model, history = trained
    assert len(history) == 30 and history[-1] < 0.5 * history[0]
    za, zb = model.embed(signals, text)
    recall = retrieval_recall_at_k(za, zb, k=(1, 5))
    chance = 1 / N_PAIRS
    assert recall["a2b@1"] >= 0.5 and recall["b2a@1"] >= 0.5, recall  # chance = 1/64
    assert recall["a2b@5"] >= 0.8 and recall["b2a@5"] >= 0.8
    assert recall["a2b@1"] > 20 * chance
    untrained = ContrastiveAligner(TemporalCNNEncoder(in_channels=4, dim=32, width=16,
                                                      n_blocks=2, normalize=False), 384, dim=32)
    assert retrieval_recall_at_k(*untrained.embed(signals, text), k=(1,))["a2b@1"] < 0.3


def test_zero_shot_above_chance(toy, trained):
    signals, _, labels, prompts = toy
    model, _ = trained
    za, class_z = model.embed(signals, prompts)
    probs = zero_shot_classify(za, class_z)
    accuracy = (probs.argmax(1) == labels).float().mean().item()
    assert accuracy >= 0.75  # chance = 0.25


def _small_run(tmp_path, epochs, init_seed):
    torch.manual_seed(init_seed)
    model = ContrastiveAligner(6, 5, dim=4, hidden=8, dropout=0.3)  # dropout: RNG matters
    g = torch.Generator().manual_seed(1)
    xa, xb = torch.randn(24, 6, generator=g), torch.randn(24, 5, generator=g)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(xa, xb),
                                         batch_size=8, shuffle=True)
    history = train_contrastive(model, loader, epochs=epochs, lr=1e-2,
                                checkpoint_dir=tmp_path, seed=7, progress=False)
    return model, history


def test_checkpoint_resume_equals_uninterrupted(tmp_path):
    full, full_hist = _small_run(tmp_path / "full", epochs=4, init_seed=0)
    _, part_hist = _small_run(tmp_path / "resumed", epochs=2, init_seed=0)
    assert part_hist == full_hist[:2]
    # a fresh process would build the model anew (even differently initialised)
    resumed, resumed_hist = _small_run(tmp_path / "resumed", epochs=4, init_seed=123)
    assert resumed_hist == full_hist
    for (name, a), (_, b) in zip(full.state_dict().items(), resumed.state_dict().items(),
                                 strict=True):
        assert torch.equal(a, b), name
    state = torch.load(tmp_path / "resumed" / "last.pt", weights_only=True)
    assert state["epoch"] == 4 and len(state["history"]) == 4
    assert sorted(p.name for p in (tmp_path / "resumed").iterdir()) == ["last.pt"]
    # already finished: nothing more to do, weights unchanged
    again, again_hist = _small_run(tmp_path / "resumed", epochs=4, init_seed=5)
    assert again_hist == full_hist
    assert torch.equal(again.head_a.net[0].weight, full.head_a.net[0].weight)


def test_encoder_side_takes_raw_items_and_can_be_frozen():
    torch.manual_seed(0)
    motif = MotifCNNEncoder(dim=6, n_motifs=4, motif_length=3)
    model = ContrastiveAligner(motif, 5, dim=4)
    loss = model.loss(["ACGTAC", "GGA", "TTTTTTTT"], torch.randn(3, 5))
    loss.backward()
    assert motif.motifs.weight.grad is not None and motif.motifs.weight.grad.abs().sum() > 0
    frozen = ContrastiveAligner(MotifCNNEncoder(dim=6, n_motifs=4, motif_length=3), 5, dim=4,
                                freeze_a=True)
    assert not any(p.requires_grad for p in frozen.encoder_a.parameters())
    assert all(p.requires_grad for p in frozen.head_a.parameters())


def test_train_contrastive_rejects_bad_settings():
    model = ContrastiveAligner(2, 2, dim=2)
    with pytest.raises(ConfigError):
        train_contrastive(model, [], epochs=1, lr=0, progress=False)
    with pytest.raises(InputError, match="no batches"):
        train_contrastive(model, [], epochs=1, lr=1e-3, progress=False)


def _resume_from(folder):
    batches = [(torch.randn(4, 3), torch.randn(4, 3))]
    return train_contrastive(ContrastiveAligner(3, 3, dim=4), batches, epochs=2,
                             checkpoint_dir=folder, progress=False)


@pytest.mark.parametrize("name, write, error, message", [
    ("truncated", lambda p: p.write_bytes(b"PK\x03\x04 cut short"), ParseError,
     "not a readable contrastive training checkpoint"),
    ("no_history", lambda p: torch.save({"epoch": 1, "model": {}, "optimizer": {}}, p),
     ParseError, "KeyError: 'history'"),
    ("epochs_vs_history", lambda p: torch.save({"epoch": 3, "history": [1.0], "model": {},
                                                "optimizer": {}}, p),
     ParseError, "epoch 3 with 1 history entries"),
    ("not_a_dict", lambda p: torch.save([1, 2], p), ParseError, "not a dict"),
    ("other_model", lambda p: p.write_bytes((p.parent.parent / "wide" / "last.pt").read_bytes()),
     SchemaError, "does not fit this model"),
])
def test_resume_rejects_bad_checkpoints_naming_them(tmp_path, name, write, error, message):
    wide = tmp_path / "wide"  # a finished run of another architecture
    train_contrastive(ContrastiveAligner(5, 3, dim=4), [(torch.randn(4, 5), torch.randn(4, 3))],
                      epochs=1, checkpoint_dir=wide, progress=False)
    folder = tmp_path / name
    folder.mkdir()
    write(folder / "last.pt")
    with pytest.raises(error, match=message) as info:
        _resume_from(folder)
    assert str(folder / "last.pt") in str(info.value)
