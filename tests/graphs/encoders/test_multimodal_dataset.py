"""Image-report pairing dataset: name resolution, missing rows, loading, batching."""

from __future__ import annotations

import logging
import shutil

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from pydicom.data import get_testdata_file

from graphs.encoders.multimodal_dataset import MultimodalDataset, collate_pairs, load_image
from ontologies.errors import DataNotFoundError, InputError, ParseError, SchemaError


@pytest.fixture()
def cxr_folder(tmp_path):
    """A MIMIC-CXR-like tree: files/p1/s1/img_a.png, files/p2/s2.jpg, a DICOM and a CSV."""
    (tmp_path / "files" / "p1" / "s1").mkdir(parents=True)
    (tmp_path / "files" / "p2").mkdir(parents=True)
    Image.fromarray(np.full((8, 10), 200, np.uint8)).save(tmp_path / "files/p1/s1/img_a.png")
    Image.fromarray(np.zeros((12, 12, 3), np.uint8)).save(tmp_path / "files/p2/s2.jpg")
    shutil.copy(get_testdata_file("CT_small.dcm"), tmp_path / "s3.dcm")
    pd.DataFrame({
        "study_id": ["s1", "s2", "s3"],
        "image": ["files/p1/s1/img_a.png", "s2.jpg", "s3"],  # relative path, name, stem
        "report": ["No acute process.", "Small left effusion.", "CT slice."],
    }).to_csv(tmp_path / "reports.csv", index=False)
    return tmp_path


def test_pairs_images_with_reports(cxr_folder):
    ds = MultimodalDataset(cxr_folder, "reports.csv", id_column="study_id",
                           text_column="report", image_column="image", image_size=16, mode="L")
    assert len(ds) == 3 and ds.ids == ["s1", "s2", "s3"] and ds.n_skipped == 0
    image, text = ds[0]
    assert image.shape == (1, 16, 16) and text == "No acute process."
    assert image.mean().item() == pytest.approx(200 / 255, abs=1e-3)
    dicom, _ = ds[2]
    assert dicom.shape == (1, 16, 16) and 0 <= dicom.min() < dicom.max() <= 1
    loader = torch.utils.data.DataLoader(ds, batch_size=3, collate_fn=ds.collate)
    images, texts = next(iter(loader))
    assert images.shape == (3, 1, 16, 16) and texts[1] == "Small left effusion."


def test_missing_image_error_or_skip(cxr_folder, caplog):
    table = pd.read_csv(cxr_folder / "reports.csv")
    table.loc[3] = ["s9", "missing.png", "Lost film."]
    table.to_csv(cxr_folder / "reports.csv", index=False)
    with pytest.raises(DataNotFoundError, match="row 5: no image 'missing.png' for study_id='s9'"):
        MultimodalDataset(cxr_folder, id_column="study_id", text_column="report",
                          image_column="image")
    with caplog.at_level(logging.WARNING):
        ds = MultimodalDataset(cxr_folder, id_column="study_id", text_column="report",
                               image_column="image", on_missing="skip")
    assert len(ds) == 3 and ds.n_skipped == 1 and "skipped 1 of 4" in caplog.text


def test_missing_text_and_columns(cxr_folder):
    table = pd.read_csv(cxr_folder / "reports.csv")
    table.loc[1, "report"] = None
    table.to_csv(cxr_folder / "reports.csv", index=False)
    with pytest.raises(DataNotFoundError, match="row 3: no text"):
        MultimodalDataset(cxr_folder, id_column="study_id", text_column="report",
                          image_column="image")
    with pytest.raises(SchemaError, match="findings"):
        MultimodalDataset(cxr_folder, id_column="study_id", text_column="findings")
    with pytest.raises(DataNotFoundError):
        MultimodalDataset(cxr_folder, text_file="nope.csv")
    with pytest.raises(DataNotFoundError):
        MultimodalDataset(cxr_folder / "nowhere")


def test_id_column_names_the_image_and_transform(cxr_folder):
    pd.DataFrame({"study_id": ["s2", "s3"], "report": ["a", "b"]}).to_csv(
        cxr_folder / "by_id.csv", index=False)
    ds = MultimodalDataset(cxr_folder, "by_id.csv", image_size=(6, 4), mode="RGB",
                           transform=lambda x: x * 2)
    image, text = ds[0]
    assert image.shape == (3, 6, 4) and text == "a"
    assert ds.paths[1].name == "s3.dcm" and ds[1][0].shape == (3, 6, 4)


def test_unequal_images_need_a_size(cxr_folder):
    ds = MultimodalDataset(cxr_folder, id_column="study_id", text_column="report",
                           image_column="image", mode="L")
    with pytest.raises(InputError, match="image_size"):
        collate_pairs([ds[0], ds[1]])


def test_corrupt_image(tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG not really")
    with pytest.raises(ParseError, match="bad.png"):
        load_image(bad)
    pd.DataFrame({"study_id": ["bad"], "report": ["x"]}).to_csv(tmp_path / "reports.csv",
                                                                  index=False)
    ds = MultimodalDataset(tmp_path)
    with pytest.raises(ParseError):
        ds[0]


@pytest.mark.slow
def test_hands_on_with_real_text_encoder(cxr_folder):
    """The lecture's hands-on with MiniLM report embeddings (marked: loads a model)."""
    from graphs.encoders.alignment import ContrastiveAligner
    from graphs.encoders.image import ResNetEncoder
    from graphs.encoders.text import TextEncoder

    ds = MultimodalDataset(cxr_folder, id_column="study_id", text_column="report",
                           image_column="image", image_size=16, mode="L")
    images, texts = collate_pairs([ds[i] for i in range(len(ds))])
    text = TextEncoder().encode(texts, progress=False)
    assert text.shape == (3, 384)
    torch.manual_seed(0)
    model = ContrastiveAligner(ResNetEncoder(dim=32, image_size=16, widths=(8, 16)), 384,
                               dim=16, freeze_b=True)
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(5):
        loss = model.loss(images, text)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
