"""Tests of graphs.embed (records -> modality embeddings) and graphs.pretrain (alignment,
probes): row/key alignment, synthetic and file resolution, skipped modalities, unreadable
items, caching, pretraining and the planted-signal probe."""

from __future__ import annotations

import functools
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from graphs.cohort.features import ModalityFeatures
from graphs.embed import DEFAULT_ENCODERS, FAST_OPTIONS, ItemError, build_encoder, \
    embed_records, load_items
from graphs.encoders.base import Encoder
from graphs.pretrain import ENCODER_CHECKPOINT, code_targets, linear_probe, paired_items, \
    pretrain_encoder, pretrain_supervised, split_patients
from graphs.records import PatientRecords
from graphs.synthetic import generate_cohort, resolve
from ontologies.errors import ConfigError, SchemaError, UnknownNameError

# small encoders: the point is the pipeline, not the network
SMALL = {"image": {"widths": (4, 8), "dim": 8, "image_size": 32},
         "signal": {"width": 8, "n_blocks": 2, "stride": 4, "dim": 8},
         "genomic": {"n_motifs": 8, "motif_length": 6, "dim": 8}}


class CharCounts(Encoder):
    """A fast stand-in for MiniLM: letter-frequency vectors; counts forward calls."""

    name = "char-counts"

    def __init__(self, cache_dir=None):
        super().__init__(dim=26, cache_dir=cache_dir)
        self.calls = 0

    def prepare(self, item):
        if not isinstance(item, str):
            raise ValueError(f"expected text, got {type(item).__name__}")
        codes = np.frombuffer(item.lower().encode("ascii", "ignore"), np.uint8).astype(int) - 97
        codes = codes[(codes >= 0) & (codes < 26)]
        return torch.from_numpy(np.bincount(codes, minlength=26).astype(np.float32))

    def forward(self, batch):
        self.calls += 1
        return torch.nn.functional.normalize(batch, dim=1)


@pytest.fixture(scope="module")
def cohort():
    return generate_cohort(40, seed=3)


@pytest.fixture(scope="module")
def feats(cohort):
    enc = {"note": CharCounts(), "image": "image_cnn", "signal": "signal_cnn",
           "genomic": "genomic_cnn"}
    return embed_records(cohort.records, enc, resolver=functools.partial(resolve, cohort),
                         encoder_options=SMALL, progress=False, batch_size=16)


def _png(path: Path, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 255, (20, 24), dtype=np.uint8)
    Image.fromarray(pixels).save(path)


@pytest.fixture()
def file_records(tmp_path):
    """Three patients with PNG images stored relative to the records root."""
    for i in range(3):
        _png(tmp_path / "img" / f"x{i}.png", i)
    rec = PatientRecords.empty(root=tmp_path)
    rec.patients = pd.DataFrame({"patient_id": ["a", "b", "c"], "sex": ["F", "M", "F"],
                                 "birth_date": [None] * 3, "death_date": [None] * 3})
    rec.visits = pd.DataFrame({"patient_id": ["a", "b", "c"], "visit_id": ["va", "vb", "vc"],
                               "start": ["2100-01-01"] * 3, "end": [None] * 3,
                               "visit_type": ["outpatient"] * 3})
    rec.modalities = pd.DataFrame({"patient_id": ["a", "b", "c"],
                                   "visit_id": ["va", "vb", "vc"], "modality": "image",
                                   "path": ["img/x0.png", "img/x1.png", "img/x2.png"],
                                   "time": ["2100-01-01"] * 3})
    return rec.validate()


def test_synthetic_rows_and_keys_follow_the_records(cohort, feats):
    rec = cohort.records
    assert set(feats) == {"note", "image", "signal", "genomic"}
    note = feats["note"]
    assert note.table["key"].tolist() == rec.notes["note_id"].tolist()
    assert note.table["visit_id"].tolist() == rec.notes["visit_id"].tolist()
    assert note.x.shape == (len(rec.notes), 26)
    for modality in ("image", "signal", "genomic"):
        rows = rec.modalities[rec.modalities["modality"] == modality]
        f = feats[modality]
        assert f.table["key"].tolist() == rows["path"].tolist()
        assert f.table["patient_id"].tolist() == rows["patient_id"].tolist()
        assert f.table["time"].tolist() == rows["time"].tolist()
        assert f.x.shape == (len(rows), 8)
        assert torch.isfinite(f.x).all() and f.x.std(0).sum() > 0


def test_synthetic_embedding_equals_encoding_the_rendered_item(cohort, feats):
    enc = build_encoder("signal_cnn", "signal", SMALL["signal"], example=np.zeros((3, 5)))
    assert enc.in_channels == 3  # inferred from the rendered 3-lead ECG
    path = feats["signal"].table["key"].iloc[4]
    direct = enc.encode(resolve(cohort, [path]), progress=False)
    torch.testing.assert_close(feats["signal"].x[4:5], direct, atol=1e-5, rtol=1e-4)


def test_relative_file_paths_resolve_against_root(file_records, tmp_path):
    enc = build_encoder("image_cnn", "image", SMALL["image"])
    out = embed_records(file_records, {"image": enc}, progress=False)["image"]
    assert out.table["key"].tolist() == ["img/x0.png", "img/x1.png", "img/x2.png"]
    direct = enc.encode([str(tmp_path / "img" / "x1.png")], progress=False)
    torch.testing.assert_close(out.x[1:2], direct)
    assert not torch.allclose(out.x[0], out.x[1])


def test_missing_encoder_is_skipped_with_a_warning(cohort, caplog):
    with caplog.at_level(logging.WARNING, logger="graphs.embed"):
        out = embed_records(cohort.records, {"note": CharCounts()}, progress=False)
    assert list(out) == ["note"]
    n_images = int((cohort.records.modalities["modality"] == "image").sum())
    assert f"no encoder for modality 'image': skipped its {n_images} rows" in caplog.text
    assert "'signal'" in caplog.text and "'genomic'" in caplog.text


def test_unreadable_file_raises_naming_row_and_path(file_records, tmp_path):
    (tmp_path / "img" / "x1.png").write_bytes(b"not a png at all")
    with pytest.raises(ItemError, match=r"row 1 \(path 'img/x1.png'\)") as err:
        embed_records(file_records, {"image": "image_cnn"}, encoder_options=SMALL,
                      progress=False)
    assert err.value.row == 1 and err.value.modality == "image"


def test_unreadable_items_are_skipped_and_counted(file_records, tmp_path, caplog):
    (tmp_path / "img" / "x1.png").write_bytes(b"not a png at all")
    (tmp_path / "img" / "x2.png").unlink()
    with caplog.at_level(logging.WARNING, logger="graphs.embed"):
        out = embed_records(file_records, {"image": "image_cnn"}, encoder_options=SMALL,
                            on_error="skip", progress=False)["image"]
    assert out.table["key"].tolist() == ["img/x0.png"]
    assert "image: skipped 2 of 3 rows" in caplog.text


def test_path_escaping_root_is_an_item_error(file_records):
    file_records.modalities.loc[2, "path"] = "../../etc/passwd"
    with pytest.raises(ItemError, match="escapes the records root"):
        embed_records(file_records, {"image": "image_cnn"}, encoder_options=SMALL,
                      progress=False)


def test_resolver_failures_are_located(cohort, caplog):
    bad = cohort.records.modalities.query("modality == 'image'")["path"].iloc[3]

    def resolver(paths):
        return [None if p == bad else x for p, x in zip(paths, resolve(cohort, paths))]

    with pytest.raises(ItemError, match="resolver returned nothing"):
        embed_records(cohort.records, {"image": "image_cnn"}, resolver=resolver,
                      encoder_options=SMALL, progress=False)
    with caplog.at_level(logging.WARNING, logger="graphs.embed"):
        out = embed_records(cohort.records, {"image": "image_cnn"}, resolver=resolver,
                            encoder_options=SMALL, progress=False, on_error="skip")
    assert bad not in set(out["image"].table["key"])
    assert "image: skipped 1 of" in caplog.text


def test_empty_note_text_is_reported_without_the_text(cohort):
    rec = cohort.records.subset(cohort.patient_ids[:5])
    rec.notes = rec.notes.copy()
    rec.notes.loc[2, "text"] = "   "
    with pytest.raises(ItemError, match=r"records.notes row 2 \(note_id") as err:
        embed_records(rec, {"note": CharCounts()}, progress=False)
    assert "empty" in str(err.value)
    out = embed_records(rec, {"note": CharCounts()}, progress=False, on_error="skip")
    assert len(out["note"].table) == len(rec.notes) - 1


def test_cache_hit_on_rerun_does_not_recompute(cohort, tmp_path):
    first = CharCounts()
    a = embed_records(cohort.records, {"note": first}, cache_dir=tmp_path, progress=False)
    assert first.calls > 0 and first.cache is None  # cache lent for the run only
    second = CharCounts()
    b = embed_records(cohort.records, {"note": second}, cache_dir=tmp_path, progress=False)
    assert second.calls == 0
    torch.testing.assert_close(a["note"].x, b["note"].x)


def test_named_encoders_are_seeded_so_the_cache_hits(cohort, tmp_path):
    res = functools.partial(resolve, cohort)
    opts = {"signal": SMALL["signal"]}
    a = embed_records(cohort.records, {"signal": "signal_cnn"}, resolver=res,
                      encoder_options=opts, cache_dir=tmp_path, progress=False)
    n_files = len(list(tmp_path.rglob("*.npy")))
    b = embed_records(cohort.records, {"signal": "signal_cnn"}, resolver=res,
                      encoder_options=opts, cache_dir=tmp_path, progress=False)
    assert n_files == len(a["signal"].table) == len(list(tmp_path.rglob("*.npy")))
    torch.testing.assert_close(a["signal"].x, b["signal"].x)
    c = embed_records(cohort.records, {"signal": "signal_cnn"}, resolver=res,
                      encoder_options=opts, seed=1, progress=False)
    assert not torch.allclose(a["signal"].x, c["signal"].x)


def test_bad_configuration_is_rejected(cohort):
    rec = cohort.records
    with pytest.raises(ConfigError, match="on_error"):
        embed_records(rec, {"note": CharCounts()}, on_error="ignore")
    with pytest.raises(ConfigError, match="unknown modalities"):
        embed_records(rec, {"xray": "image_cnn"})
    with pytest.raises(UnknownNameError, match="image_cnn"):
        embed_records(rec, {"image": "image_cnnn"}, resolver=functools.partial(resolve, cohort),
                      progress=False)
    with pytest.raises(ConfigError, match="rejected options"):
        embed_records(rec, {"genomic": "genomic_cnn"}, encoder_options={"genomic": {"x": 1}},
                      resolver=functools.partial(resolve, cohort), progress=False)
    dup = rec.subset(cohort.patient_ids[:3])
    dup.notes = dup.notes.assign(note_id="same")
    with pytest.raises(SchemaError, match="note_id at records row 1 repeats"):
        embed_records(dup, {"note": CharCounts()}, progress=False)


def test_defaults_cover_every_modality():
    from graphs.cohort.features import MODALITY_TYPES
    assert set(DEFAULT_ENCODERS) == set(MODALITY_TYPES)
    assert set(FAST_OPTIONS) <= set(MODALITY_TYPES)


def test_paired_items_use_only_the_given_patients(cohort, feats):
    train, test = split_patients(cohort.patient_ids, 0.3, seed=0)
    assert not set(train) & set(test) and len(train) + len(test) == 40
    items, text, table = paired_items(cohort.records, "image", feats["note"],
                                      functools.partial(resolve, cohort), patients=train)
    assert set(table["patient_id"]) <= set(train)
    assert len(items) == len(text) == len(table) > 0
    # the text row of each image is the note of the same visit
    notes = feats["note"].table.reset_index(drop=True)
    i = int(np.flatnonzero(notes["visit_id"] == table["visit_id"].iloc[0])[0])
    torch.testing.assert_close(text[0], feats["note"].x[i])


def test_pretrain_encoder_lowers_loss_and_resumes(cohort, feats, tmp_path):
    train, _ = split_patients(cohort.patient_ids, 0.3, seed=0)
    items, text, _ = paired_items(cohort.records, "signal", feats["note"],
                                  functools.partial(resolve, cohort), patients=train)

    def fresh():
        return build_encoder("signal_cnn", "signal", SMALL["signal"], example=items[0])

    enc = fresh()
    before = enc.encode(items[:4], progress=False)
    hist = pretrain_encoder(enc, items, text, epochs=4, lr=3e-3, batch_size=16,
                            progress=False, checkpoint_dir=tmp_path)
    assert len(hist) == 4 and hist[-1] < hist[0]
    assert not torch.allclose(before, enc.encode(items[:4], progress=False))
    assert not enc.training and (tmp_path / ENCODER_CHECKPOINT).is_file()
    # a finished run resumes from its checkpoint without training further
    again = fresh()
    assert pretrain_encoder(again, items, text, epochs=4, lr=3e-3, batch_size=16,
                            progress=False, checkpoint_dir=tmp_path) == hist
    torch.testing.assert_close(again.encode(items[:4], progress=False),
                               enc.encode(items[:4], progress=False))
    with pytest.raises(Exception, match="len\\(items\\)"):
        pretrain_encoder(fresh(), items, text[:-1], epochs=1)


def test_code_targets_follow_recorded_diagnoses(cohort):
    table, _ = load_items(cohort.records, "image", functools.partial(resolve, cohort))
    dx = cohort.records.diagnoses
    y, names = code_targets(cohort.records, table, level=3, min_count=1)
    row = int(np.flatnonzero(y.sum(1) > 0)[0])
    visit, patient = table["visit_id"].iloc[row], table["patient_id"].iloc[row]
    expected = {c[:11] for c in dx.loc[dx["visit_id"] == visit, "code"]}
    assert {names[j] for j in np.flatnonzero(y[row].numpy())} == expected
    yp, names_p = code_targets(cohort.records, table, level=None, scope="patient",
                               min_count=1)
    expected = set(dx.loc[dx["patient_id"] == patient, "code"])
    assert {names_p[j] for j in np.flatnonzero(yp[row].numpy())} == expected
    again, _ = code_targets(cohort.records, table.iloc[:3], codes=names)
    torch.testing.assert_close(again, y[:3])
    with pytest.raises(ConfigError, match="scope"):
        code_targets(cohort.records, table, scope="visits")


def test_pretrain_supervised_fits_codes(cohort):
    train, _ = split_patients(cohort.patient_ids, 0.3, seed=0)
    res = functools.partial(resolve, cohort)
    table, items = load_items(cohort.records, "image", res, patients=train)
    y, _ = code_targets(cohort.records, table, level=3, min_count=2)
    enc = build_encoder("image_cnn", "image", SMALL["image"])
    before = enc.encode(items[:3], progress=False)
    hist = pretrain_supervised(enc, items, y, epochs=8, lr=1e-2, batch_size=16,
                               progress=False)
    assert len(hist) == 8 and hist[-1] < 0.9 * hist[0] and not enc.training
    assert not torch.allclose(before, enc.encode(items[:3], progress=False))


def test_load_items_filters_patients(cohort):
    table, items = load_items(cohort.records, "note", patients=cohort.patient_ids[:2])
    assert set(table["patient_id"]) <= set(cohort.patient_ids[:2])
    assert all(isinstance(t, str) and t for t in items)


def test_random_init_image_embeddings_carry_planted_signs():
    # the recommended setting for images: FAST_OPTIONS, random init, no training
    c = generate_cohort(250, seed=0, note_text=False)
    image = embed_records(c.records, {"image": "image_cnn"},
                          resolver=functools.partial(resolve, c, size=32),
                          encoder_options=FAST_OPTIONS, progress=False)["image"]
    _, test = split_patients(c.patient_ids, 0.4, seed=0)
    auroc = linear_probe(image, c.visit_labels(), test, ["copd", "hf", "depression"])
    assert auroc["copd"] > 0.85 and auroc["hf"] > 0.85, auroc
    assert auroc["depression"] < 0.7, auroc  # not shown in images: near chance


def test_linear_probe_needs_both_sides(feats, cohort):
    with pytest.raises(Exception, match="both sides"):
        linear_probe(feats["image"], cohort.visit_labels(), [])
    assert isinstance(feats["image"], ModalityFeatures)


@pytest.mark.slow
def test_default_note_encoder_is_minilm():
    from graphs.cohort.demo import tiny_records
    out = embed_records(tiny_records(), progress=False, encoder_options=FAST_OPTIONS)
    assert list(out) == ["note"] and out["note"].x.shape == (1, 384)
    torch.testing.assert_close(out["note"].x.norm(dim=1), torch.ones(1))
