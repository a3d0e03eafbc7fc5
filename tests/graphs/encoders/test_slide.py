"""Tests of whole-slide tiling, MIL pooling and the slide encoder on synthetic slides."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from graphs.encoders.base import ENCODERS
from graphs.encoders.image import ViTEncoder
from graphs.encoders.slide import MILPooling, SlideEncoder, tile, tissue_mask
from ontologies.errors import ConfigError, InputError

PATCH_OPTS = dict(dim=16, image_size=16, widths=(4, 8))


@pytest.fixture(scope="module")
def half_white() -> np.ndarray:
    """448 x 448 RGB: left half white glass, right half pink H&E-like tissue with noise."""
    rng = np.random.default_rng(0)
    img = np.full((448, 448, 3), 250, np.uint8)
    tissue = np.array([190, 110, 170]) + rng.integers(-30, 30, (448, 224, 3))
    img[:, 224:] = np.clip(tissue, 0, 255).astype(np.uint8)
    return img


def test_background_tiles_dropped(half_white):
    t = tile(half_white, patch=56)
    assert t.patches.shape == (32, 56, 56, 3) and t.patches.dtype == np.uint8
    assert (t.coords[:, 1] >= 224).all()          # only the tissue half
    assert sorted(set(t.coords[:, 0].tolist())) == list(range(0, 448, 56))
    np.testing.assert_array_equal(t.patches[0], half_white[0:56, 224:280])
    assert np.allclose(t.tissue, 1.0)


@pytest.mark.parametrize("stride", [15, 20])  # summed-area table and block-sum paths
def test_tissue_fraction_matches_brute_force(stride):
    rng = np.random.default_rng(1)
    img = np.full((100, 90, 3), 255, np.uint8)
    blobs = rng.random((100, 90)) < 0.35
    img[blobs] = (150, 60, 130)
    t = tile(img, patch=20, stride=stride, background_threshold=0.7, pad=False)
    mask = tissue_mask(img)
    np.testing.assert_array_equal(mask, blobs)
    expected = [(y, x) for y in range(0, 81, stride) for x in range(0, 71, stride)
                if mask[y:y + 20, x:x + 20].mean() >= 0.3 - 1e-9]
    assert [tuple(c) for c in t.coords.tolist()] == expected
    for (y, x), frac, p in zip(t.coords, t.tissue, t.patches):
        assert frac == pytest.approx(mask[y:y + 20, x:x + 20].mean())
        np.testing.assert_array_equal(p, img[y:y + 20, x:x + 20])


def test_tissue_mask_float_and_grey_scales():
    rgb = np.array([[[1.0, 1.0, 1.0], [0.8, 0.4, 0.7], [0.3, 0.3, 0.3]]], np.float32)
    assert tissue_mask(rgb).tolist() == [[False, True, True]]  # glass, pink, dark
    assert tissue_mask(rgb * 255).tolist() == [[False, True, True]]
    assert tissue_mask(np.array([[65535, 1000]], np.uint16)).tolist() == [[False, True]]


def test_thresholds_and_padding(half_white):
    assert len(tile(half_white, patch=64, background_threshold=1.0).coords) == 49
    # column 192..256 is half tissue: kept at 0.5, dropped when stricter
    assert 192 in tile(half_white, patch=64, background_threshold=0.5).coords[:, 1]
    assert 192 not in tile(half_white, patch=64, background_threshold=0.4).coords[:, 1]
    odd = np.full((100, 130, 3), (120, 40, 90), np.uint8)
    padded = tile(odd, patch=64)
    assert padded.coords.tolist() == [[0, 0], [0, 64], [64, 0], [64, 64]]
    assert padded.tissue[-1] == pytest.approx((36 * 64) / 64 ** 2)  # rows 64..99 real
    assert len(tile(odd, patch=64, pad=False, background_threshold=1.0).coords) == 2
    white = np.full((128, 128), 1.0, np.float32)
    empty = tile(white, patch=32)
    assert empty.patches.shape == (0, 32, 32) and empty.coords.shape == (0, 2)
    gray = white.copy()
    gray[:32, :32] = 0.3
    assert tile(gray, patch=32).coords.tolist() == [[0, 0]]


def test_tile_errors():
    with pytest.raises(InputError, match="expected"):
        tile(np.zeros((3, 64, 64)), patch=32)
    with pytest.raises(ConfigError):
        tile(np.zeros((64, 64)), patch=0)
    with pytest.raises(ConfigError, match="background_threshold"):
        tile(np.zeros((64, 64)), patch=32, background_threshold=1.5)


@pytest.mark.parametrize("mode", ["mean", "max", "attention"])
def test_pooling_shapes_and_weights(mode):
    torch.manual_seed(0)
    pool = MILPooling(8, mode=mode, hidden=16)
    x = torch.randn(5, 8)
    pooled, w = pool(x)
    assert pooled.shape == (8,) and w.shape == (5,)
    assert float(w.detach().sum()) == pytest.approx(1.0, abs=1e-6) and (w >= 0).all()
    bags = torch.randn(3, 6, 8)
    mask = torch.tensor([[1] * 6, [1] * 2 + [0] * 4, [1] * 4 + [0] * 2], dtype=torch.bool)
    pooled, w = pool(bags, mask)
    assert pooled.shape == (3, 8) and w.shape == (3, 6)
    assert torch.allclose(w.sum(dim=1), torch.ones(3), atol=1e-6)
    assert (w[~mask] == 0).all()
    # a padded bag pools exactly like the same bag alone
    alone, _ = pool(bags[1, :2])
    assert torch.allclose(pooled[1], alone, atol=1e-6)
    perm = torch.randperm(5)
    assert torch.allclose(pool(x)[0], pool(x[perm])[0], atol=1e-6)  # order-invariant


def test_pooling_values_and_errors():
    x = torch.tensor([[1.0, 5.0], [3.0, 2.0], [2.0, 0.0], [0.0, 4.0]])
    assert MILPooling(2, "mean")(x)[0].tolist() == [1.5, 2.75]
    pooled, w = MILPooling(2, "max")(x)
    assert pooled.tolist() == [3.0, 5.0] and w.tolist() == [0.5, 0.5, 0.0, 0.0]
    attn = MILPooling(2, "attention", hidden=4)
    pooled, w = attn(x)
    assert torch.allclose(pooled, (w[:, None] * x).sum(0))
    pooled.sum().backward()
    assert attn.attn_w.weight.grad is not None
    with pytest.raises(InputError, match="no instances"):
        attn(x[None], torch.zeros(1, 4, dtype=torch.bool))
    with pytest.raises(InputError, match=r"\[N, 2\]"):
        attn(torch.zeros(4, 3))
    with pytest.raises(ConfigError, match="mode"):
        MILPooling(2, "median")
    assert MILPooling(2, "attention", gated=False)(x)[1].shape == (4,)


def test_slide_encoder(half_white, tmp_path):
    assert ENCODERS.get("slide_mil") is SlideEncoder
    enc = SlideEncoder(dim=12, patch=56, patch_options=PATCH_OPTS, seed=0)
    path = tmp_path / "slide.png"
    Image.fromarray(half_white).save(path)
    out = enc.encode([half_white, path], progress=False)
    assert out.shape == (2, 12)
    assert torch.allclose(out[0], out[1], atol=1e-5)  # PNG is lossless
    again = SlideEncoder(dim=12, patch=56, patch_options=PATCH_OPTS, seed=0)
    assert torch.allclose(again.encode([half_white], progress=False), out[:1], atol=1e-6)
    info = enc.explain(half_white)
    assert info["coords"].shape == (32, 2) and info["weights"].shape == (32,)
    assert info["weights"].sum() == pytest.approx(1.0, abs=1e-5)
    assert enc.prepare(half_white).shape == (32, 3, 16, 16)


def test_slide_encoder_options(half_white):
    few = SlideEncoder(dim=8, patch=56, max_tiles=5, mode="mean", patch_options=PATCH_OPTS)
    assert few.prepare(half_white).shape[0] == 5
    vit = ViTEncoder(dim=16, in_channels=1, image_size=16, patch_size=8, width=16, depth=1,
                     heads=2, seed=0)
    grey = SlideEncoder(dim=8, patch=56, patch_encoder=vit, mode="max")
    assert grey.prepare(half_white).shape[1] == 1
    assert grey.encode([half_white], progress=False).shape == (1, 8)
    bags = torch.randn(2, 3, 1, 16, 16)
    assert grey(bags, torch.tensor([[1, 1, 0], [1, 1, 1]], dtype=torch.bool)).shape == (2, 8)


def test_slide_without_tissue_raises():
    enc = SlideEncoder(dim=8, patch=32, patch_options=PATCH_OPTS)
    with pytest.raises(InputError, match="no tile of 32 px has enough tissue"):
        enc.encode([np.full((64, 64, 3), 255, np.uint8)], progress=False)
    with pytest.raises(ConfigError, match="patch_encoder"):
        SlideEncoder(patch_encoder=42)
