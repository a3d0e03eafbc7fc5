"""Tests of the MiniLM text encoder: shape, norm, semantics, chunking, cache, offline use."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from graphs.encoders.base import ENCODERS, EmbeddingCache
from graphs.encoders.text import TextEncoder, default_model_dir
from ontologies.errors import ConfigError, DataNotFoundError, InputError, MedKGError

os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[3]

LONG_HEAD = ("The patient fell from a ladder and sustained a displaced fracture of the left "
             "femur, treated with intramedullary nailing; physiotherapy and weight bearing "
             "as tolerated were advised. ") * 8
LONG_TAIL = ("Chronic problems: poorly controlled type 2 diabetes mellitus with HbA1c of 9.1 "
             "percent, on metformin and insulin glargine, with diabetic retinopathy and "
             "peripheral neuropathy; glucose monitoring and endocrinology follow-up. ") * 4


@pytest.fixture(scope="module")
def enc() -> TextEncoder:
    return TextEncoder()


def _cos(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.nn.functional.cosine_similarity(a, b, dim=-1))


def test_registered_and_default_folder_is_packaged():
    assert ENCODERS.get("text") is TextEncoder
    assert (default_model_dir() / "model.safetensors").is_file()


def test_shape_unit_norm_and_dim(enc):
    emb = enc.encode(["Chest pain radiating to the left arm.", "No acute distress."],
                     progress=False)
    assert emb.shape == (2, 384) and enc.dim == 384
    assert torch.allclose(emb.norm(dim=1), torch.ones(2), atol=1e-5)


def test_deterministic_and_batch_equals_single(enc):
    notes = ["Hypertension, on lisinopril.", "Asthma exacerbation treated with salbutamol "
             "nebulisers and oral prednisolone, discharged home after 2 days."]
    a = enc.encode(notes, progress=False)
    b = enc.encode(notes, progress=False)
    assert torch.equal(a, b)
    single = torch.cat([enc.encode([n], progress=False) for n in notes])
    assert torch.allclose(a, single, atol=1e-5)  # padding must not leak into the mean


@pytest.mark.parametrize("anchor, near, far", [
    ("type 2 diabetes mellitus", "diabetes mellitus type II", "fracture of the left femur"),
    ("myocardial infarction", "heart attack", "urinary tract infection"),
])
def test_semantic_sanity(enc, anchor, near, far):
    a, n, f = enc.encode([anchor, near, far], progress=False)
    assert _cos(a, n) > _cos(a, f) + 0.1


def test_long_note_is_chunked_not_truncated(enc):
    note = LONG_HEAD + LONG_TAIL
    assert enc.token_counts([note])[0] > 2 * enc.max_length
    ids = enc.tokenizer(note, add_special_tokens=False)["input_ids"][: enc.max_length - 2]
    truncated = enc.tokenizer.decode(ids)
    full, head, diabetes = enc.encode([note, truncated, "type 2 diabetes mellitus"],
                                      progress=False)
    assert not torch.allclose(full, head, atol=1e-3)
    # Only the tail mentions diabetes: the full note must move towards it.
    assert _cos(full, diabetes) > _cos(head, diabetes) + 0.05


def test_chunks_are_averaged_weighted_by_token_count(enc):
    note = LONG_HEAD + LONG_TAIL
    batch = enc.collate([note])
    assert batch["input_ids"].shape[0] >= 3 and set(batch["sample"].tolist()) == {0}
    with torch.no_grad():
        hidden = enc.model(input_ids=batch["input_ids"],
                           attention_mask=batch["attention_mask"]).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    counts = mask.sum(dim=1)                       # [chunks, 1]
    chunk_means = (hidden * mask).sum(dim=1) / counts
    expected = (chunk_means * counts).sum(dim=0) / counts.sum()
    expected = torch.nn.functional.normalize(expected, dim=0)
    got = enc.encode([note], progress=False)[0]
    assert torch.allclose(got, expected, atol=1e-5)


def test_empty_text_raises_naming_item(enc):
    with pytest.raises(InputError, match="item 1.*empty"):
        enc.encode(["fever", "   \n"], progress=False)
    with pytest.raises(InputError, match="expects str"):
        enc.encode([42], progress=False)


def test_on_empty_zeros_gives_zero_row():
    enc = TextEncoder(on_empty="zeros")
    out = enc.encode(["", "fever and cough"], progress=False)
    assert torch.count_nonzero(out[0]) == 0
    assert float(out[1].norm()) == pytest.approx(1.0, abs=1e-5)
    assert torch.count_nonzero(enc.encode(["  "], progress=False)) == 0


def test_path_items_are_read_as_utf8(enc, tmp_path):
    p = tmp_path / "note.txt"
    p.write_text("Community acquired pneumonia.", encoding="utf-8")
    assert torch.allclose(enc.encode([p], progress=False),
                          enc.encode(["Community acquired pneumonia."], progress=False))


def test_cache_hit_skips_forward(enc, tmp_path, monkeypatch):
    calls = []
    real = enc.forward

    def counting(batch):
        calls.append(int(batch["n_texts"]))
        return real(batch)

    monkeypatch.setattr(enc, "cache", EmbeddingCache(tmp_path))
    monkeypatch.setattr(enc, "forward", counting)
    notes = ["sepsis of unknown origin", "acute kidney injury"]
    first = enc.encode(notes, progress=False)
    assert calls == [2]
    second = enc.encode(notes, progress=False)
    assert calls == [2]  # all from the cache
    assert torch.allclose(first, second)
    enc.encode(notes + ["new note on anaemia"], progress=False)
    assert calls == [2, 1]  # only the miss is computed


@pytest.mark.parametrize("kwargs, match", [
    ({"pooling": "median"}, "pooling"),
    ({"stride": 300}, "stride"),
    ({"max_length": 4096}, "max_length"),
    ({"on_empty": "skip"}, "on_empty"),
])
def test_bad_config(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        TextEncoder(**kwargs)


def test_missing_model_dir_names_it(tmp_path):
    missing = tmp_path / "no-such-model"
    with pytest.raises(DataNotFoundError, match="no-such-model.*model_dir"):
        TextEncoder(model_dir=missing)
    with pytest.raises(MedKGError):
        TextEncoder(model_dir=tmp_path)  # exists but holds no model


def test_other_poolings_and_threads_restore(enc):
    before = torch.get_num_threads()
    notes = ["pulmonary embolism", LONG_HEAD[:700]]  # the second spans several 64-token chunks
    cls = TextEncoder(pooling="cls", num_threads=1, normalize=False, max_length=64, stride=8)
    out = cls.encode(notes, progress=False)
    assert out.shape == (2, 384) and torch.isfinite(out).all()
    assert float(out[0].norm()) != pytest.approx(1.0, abs=1e-3)  # normalize=False honoured
    assert torch.get_num_threads() == before
    mx = TextEncoder(pooling="max", max_length=64, stride=8).encode(notes, progress=False)
    assert torch.allclose(mx.norm(dim=1), torch.ones(2), atol=1e-5)
    assert not torch.allclose(mx, enc.encode(notes, progress=False), atol=1e-2)


def test_works_offline_in_process(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    assert TextEncoder().encode(["fever"], progress=False).shape == (1, 384)


@pytest.mark.slow
def test_works_offline_in_fresh_process():
    # A dead proxy makes any attempted download fail loudly instead of succeeding.
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONPATH=str(ROOT),
               HTTPS_PROXY="http://127.0.0.1:9", HTTP_PROXY="http://127.0.0.1:9")
    code = ("from graphs.encoders.text import TextEncoder; "
            "print(tuple(TextEncoder().encode(['fever'], progress=False).shape))")
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=300, cwd=ROOT)
    assert res.returncode == 0, res.stderr
    assert "(1, 384)" in res.stdout
