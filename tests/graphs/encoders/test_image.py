"""Tests of the 2D CNN and ViT encoders: shapes, seeding, batching, inputs, weights."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pydicom
import pytest
import torch
from PIL import Image

from graphs.encoders.base import ENCODERS, get
from graphs.encoders.image import ResNetEncoder, ViTEncoder, load_weights
from ontologies.errors import ConfigError, DataNotFoundError, InputError, ParseError, SchemaError

CT = Path(pydicom.__file__).parent / "data" / "test_files" / "CT_small.dcm"

SMALL = {
    "image_cnn": dict(dim=24, image_size=32, widths=(8, 16, 16)),
    "image_vit": dict(dim=24, image_size=32, patch_size=8, width=32, depth=2, heads=2),
}


def make(name: str, **kw):
    return get(name, **{**SMALL[name], **kw})


@pytest.fixture(scope="module")
def images() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.random((40, 36)).astype(np.float32), rng.random((32, 32, 3)),
            rng.normal(size=(64, 50)), np.tile(np.arange(32.0), (32, 1))]


def test_registered():
    assert ENCODERS.get("image_cnn") is ResNetEncoder
    assert ENCODERS.get("image_vit") is ViTEncoder


@pytest.mark.parametrize("name", ["image_cnn", "image_vit"])
@pytest.mark.parametrize("channels", [1, 3])
def test_shapes(name, channels, images):
    enc = make(name, in_channels=channels, seed=0)
    out = enc.encode(images, progress=False)
    assert out.shape == (4, 24) and torch.isfinite(out).all()
    assert enc.prepare(images[1]).shape == (channels, 32, 32)
    assert not torch.allclose(out[0], out[3])  # different images, different vectors


@pytest.mark.parametrize("name", ["image_cnn", "image_vit"])
def test_same_seed_same_model(name, images):
    a = make(name, seed=3).encode(images, progress=False)
    b = make(name, seed=3).encode(images, progress=False)
    c = make(name, seed=4).encode(images, progress=False)
    assert torch.equal(a, b) and not torch.allclose(a, c)


def test_seed_leaves_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    make("image_vit", seed=9)
    assert torch.equal(torch.rand(3), expected)


def test_vit_layers_initialised_independently():
    enc = make("image_vit", seed=0)
    w0 = enc.encoder.layers[0].linear1.weight
    w1 = enc.encoder.layers[1].linear1.weight
    assert not torch.equal(w0, w1)


@pytest.mark.parametrize("name", ["image_cnn", "image_vit"])
def test_batching_equals_one_by_one(name, images):
    enc = make(name, seed=1)
    batched = enc.encode(images, batch_size=4, progress=False)
    single = enc.encode(images, batch_size=1, progress=False)
    assert torch.allclose(batched, single, atol=1e-5)


@pytest.mark.parametrize("name", ["image_cnn", "image_vit"])
def test_wrong_input_dims(name):
    enc = make(name, seed=0)
    with pytest.raises(InputError, match="dims"):
        enc.encode([np.zeros((2, 8, 8, 3, 1))], progress=False)
    with pytest.raises(InputError, match="channel-first"):
        enc.prepare(np.zeros((3, 32, 32)))
    with pytest.raises(InputError, match=r"expected \[b, 1, H, W\]"):
        enc(torch.zeros(2, 3, 32, 32))
    with pytest.raises(InputError, match="expected"):
        enc(torch.zeros(32, 32))


def test_vit_rejects_unresized_batch():
    with pytest.raises(InputError, match=r"expected \(32, 32\)"):
        make("image_vit", seed=0)(torch.zeros(1, 1, 48, 48))


def test_paths_dicom_and_png(tmp_path):
    png = tmp_path / "x.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (50, 60, 3), np.uint8)).save(png)
    enc = make("image_cnn", in_channels=3, seed=0)
    out = enc.encode([CT, str(png)], progress=False)
    assert out.shape == (2, 24)
    assert torch.allclose(out[1], enc.encode([np.asarray(Image.open(png), np.float32)],
                                             progress=False)[0], atol=1e-5)


@pytest.mark.parametrize("name", ["image_cnn", "image_vit"])
def test_weights_round_trip(name, tmp_path, images):
    src = make(name, seed=5)
    path = tmp_path / "w.pt"
    torch.save({"state_dict": src.state_dict()}, path)
    dst = make(name, seed=6, weights=path)
    assert dst.pretrained and not src.pretrained
    assert torch.equal(src.encode(images, progress=False), dst.encode(images, progress=False))


def test_weights_errors(tmp_path):
    other = tmp_path / "other.pt"
    torch.save(make("image_cnn", seed=0).state_dict(), other)
    with pytest.raises(SchemaError, match="missing keys.*unexpected keys"):
        make("image_vit", weights=other)
    wider = tmp_path / "wider.pt"
    torch.save(make("image_cnn", dim=25, seed=0).state_dict(), wider)
    with pytest.raises(SchemaError, match=r"head.weight: \(25, 16\) vs \(24, 16\)"):
        make("image_cnn", weights=wider)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ParseError, match="junk.pt"):
        load_weights(make("image_cnn"), junk)
    with pytest.raises(DataNotFoundError, match="nope.pt"):
        make("image_cnn", weights=tmp_path / "nope.pt")
    with pytest.raises(ConfigError, match="no pretrained weights"):
        make("image_cnn", pretrained=True)


@pytest.mark.parametrize("kwargs", [dict(in_channels=2), dict(image_size=4),
                                    dict(normalize="l1")])
def test_bad_config(kwargs):
    with pytest.raises(ConfigError):
        make("image_cnn", **kwargs)


def test_vit_bad_config():
    with pytest.raises(ConfigError, match="patch_size"):
        make("image_vit", patch_size=7)
    with pytest.raises(ConfigError, match="heads"):
        make("image_vit", heads=5)


def test_random_init_is_announced(caplog):
    with caplog.at_level(logging.INFO, logger="graphs.encoders.base"):
        make("image_cnn")
    assert "randomly initialised" in caplog.text


@pytest.mark.parametrize("name", ["image_cnn", "image_vit"])
def test_trainable(name):
    enc = make(name, seed=0).train()
    batch = torch.randn(4, 1, 32, 32)
    enc(batch).pow(2).mean().backward()
    assert all(p.grad is not None for p in enc.parameters())
