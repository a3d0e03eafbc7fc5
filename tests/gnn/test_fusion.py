"""Fusion strategies: missing modalities never contribute, they learn, attention is exposed."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from gnn import fusion
from ontologies.errors import InputError, UnknownNameError

NAMES = ["early", "intermediate", "late", "attention", "gated"]
DIMS = {"text": 6, "image": 4, "signal": 3}


def make_inputs(n: int = 64, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    feats = {m: torch.randn(n, d, generator=g) for m, d in DIMS.items()}
    masks = {m: torch.rand(n, generator=g) < 0.7 for m in DIMS}
    masks["signal"][:3] = False
    masks["text"][:3] = False
    masks["image"][:3] = False  # rows 0-2: no modality at all
    return feats, masks


def build(name: str, **kwargs):
    torch.manual_seed(0)
    return fusion.get(name, in_channels=DIMS, out_channels=2, hidden_channels=16, **kwargs)


def test_registry_names_and_unknown():
    assert set(NAMES) <= set(fusion.FUSIONS.names())
    with pytest.raises(UnknownNameError, match="attention"):
        fusion.get("erly", in_channels=DIMS, out_channels=2)


@pytest.mark.parametrize("name", NAMES)
def test_output_shape_and_finite_for_rows_without_modalities(name):
    feats, masks = make_inputs()
    out = build(name).eval()(feats, masks)
    assert out.shape == (64, 2)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", NAMES)
def test_masked_out_modality_does_not_change_output(name):
    feats, masks = make_inputs()
    model = build(name).eval()
    before = model(feats, masks)
    changed = dict(feats)
    for m in DIMS:  # garbage (even NaN) where the modality is missing
        noise = torch.randn_like(feats[m]) * 100
        noise[0] = float("nan")
        changed[m] = torch.where(masks[m].unsqueeze(1), feats[m], noise)
    assert torch.equal(model(changed, masks), before)


@pytest.mark.parametrize("name", NAMES)
def test_available_modality_does_change_output(name):
    feats, masks = make_inputs()
    model = build(name).eval()
    changed = dict(feats, text=feats["text"] + 1.0)
    row = int(torch.nonzero(masks["text"])[0])
    assert not torch.allclose(model(changed, masks)[row], model(feats, masks)[row])


@pytest.mark.parametrize("name", NAMES)
def test_masked_gradients_are_finite(name):
    feats, masks = make_inputs()
    model = build(name).train()
    model(feats, masks).sum().backward()
    for p in model.parameters():
        assert p.grad is None or torch.isfinite(p.grad).all()


@pytest.mark.parametrize("name", NAMES)
def test_fusion_learns_with_missing_modalities(name):
    """Label = sign of text[0] where text exists, else sign of image[0]."""
    feats, masks = make_inputs(n=200, seed=1)
    masks["image"] = masks["image"] | ~masks["text"]  # every row has text or image
    y = torch.where(masks["text"], feats["text"][:, 0] > 0, feats["image"][:, 0] > 0).long()
    model = build(name, dropout=0.0)
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    losses = []
    for _ in range(80):
        model.train()
        opt.zero_grad()
        loss = F.cross_entropy(model(feats, masks), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    model.eval()
    acc = (model(feats, masks).argmax(-1) == y).float().mean().item()
    assert losses[-1] < 0.7 * losses[0]
    assert acc > 0.8, acc


def test_attention_weights_are_exposed_and_skip_missing_modalities():
    feats, masks = make_inputs()
    model = build("attention", heads=2).eval()
    model(feats, masks)
    att = model.last_attention
    assert model.attention_labels == ["cls", "text", "image", "signal"]
    assert att.shape == (64, 4)
    assert torch.allclose(att.sum(1), torch.ones(64), atol=1e-5)
    missing = ~torch.stack([masks[m] for m in DIMS], 1)
    assert (att[:, 1:][missing] == 0).all()
    assert torch.allclose(att[:3, 0], torch.ones(3))  # nothing else to attend to


def test_gates_sum_to_one_over_available_modalities():
    feats, masks = make_inputs()
    model = build("gated").eval()
    model(feats, masks)
    gates = model.last_gates
    available = torch.stack([masks[m] for m in DIMS], 1)
    assert (gates[~available] == 0).all()
    has_any = available.any(1)
    assert torch.allclose(gates[has_any].sum(1), torch.ones(int(has_any.sum())), atol=1e-5)


def test_modality_dropout_hides_modalities_only_in_training_and_keeps_one():
    feats, masks = make_inputs(n=500)
    model = build("gated", modality_dropout=0.5)
    available = torch.stack([masks[m] for m in DIMS], 1)
    torch.manual_seed(0)
    _, kept = model.train().prepare(feats, masks)
    assert (kept <= available).all()  # never invents a modality
    assert kept.sum() < available.sum()  # does hide some
    assert torch.equal(kept.any(1), available.any(1))  # a row keeps at least one
    _, kept_eval = model.eval().prepare(feats, masks)
    assert torch.equal(kept_eval, available)


def test_gated_defaults_to_modality_dropout():
    assert build("gated").modality_dropout == 0.2
    assert build("early").modality_dropout == 0.0


def test_mask_may_be_omitted_for_always_present_modality():
    feats, masks = make_inputs()
    model = build("late").eval()
    del masks["text"]
    full = dict(masks, text=torch.ones(64, dtype=torch.bool))
    assert torch.equal(model(feats, masks), model(feats, full))


def test_late_fusion_mean_averages_available_predictions():
    feats, masks = make_inputs()
    model = build("late", combine="mean").eval()
    out = model(feats, masks)
    per = torch.stack([model.predictors[m](feats[m]) for m in DIMS], 1)
    available = torch.stack([masks[m] for m in DIMS], 1).float()
    expected = (per * available.unsqueeze(-1)).sum(1) / available.sum(1, keepdim=True)
    rows = available.sum(1) > 0
    assert torch.allclose(out[rows], expected[rows], atol=1e-6)
    assert torch.equal(out[~rows], model.prior.expand(int((~rows).sum()), 2))


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda f, m: f.update(text=torch.randn(64, 5)), r"features\['text'\] must be \[64, 6\]"),
        (lambda f, m: f.pop("image"), r"missing \['image'\]"),
        (lambda f, m: f.update(audio=torch.randn(64, 2)), r"unknown \['audio'\]"),
        (lambda f, m: m.update(text=torch.ones(64)), r"BoolTensor \[64\]"),
        (lambda f, m: m.update(text=torch.ones(63, dtype=torch.bool)), r"shape \(63,\)"),
    ],
)
def test_bad_inputs_raise_input_error(mutate, message):
    feats, masks = make_inputs()
    mutate(feats, masks)
    with pytest.raises(InputError, match=message):
        build("early")(feats, masks)


def test_repr_names_modalities():
    assert repr(build("early")) == "EarlyFusion({text=6, image=4, signal=3}, 2)"


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_fusion(name):
    feats, masks = make_inputs()
    assert torch.equal(build(name).eval()(feats, masks), build(name).eval()(feats, masks))
