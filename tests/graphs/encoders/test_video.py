"""Tests of video frame sampling and the video encoder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
import torch
from PIL import Image

from graphs.encoders.base import ENCODERS
from graphs.encoders.video import VideoEncoder, read_frames, sample_indices
from ontologies.errors import ConfigError, DataNotFoundError, InputError

FRAME_OPTS = dict(dim=8, image_size=16, widths=(4, 8))
RTDOSE = Path(pydicom.__file__).parent / "data" / "test_files" / "rtdose.dcm"


def clip(t: int = 12) -> np.ndarray:
    """[T, 20, 24] whose frame i is filled with the value i plus a moving bright square."""
    v = np.repeat(np.arange(t, dtype=np.float32)[:, None, None], 20, 1).repeat(24, 2)
    for i in range(t):
        v[i, 5:10, i % 20:i % 20 + 4] += 50
    return v


def test_sample_indices():
    assert sample_indices(10, 4).tolist() == [1, 3, 6, 8]
    assert sample_indices(8, 8).tolist() == list(range(8))
    assert sample_indices(2, 4).tolist() == [0, 0, 1, 1]
    with pytest.raises(InputError):
        sample_indices(0, 3)


def test_read_frames_array_and_folder(tmp_path):
    frames, idx = read_frames(clip(), 4)
    assert frames.shape == (4, 20, 24) and idx.tolist() == [1, 4, 7, 10]
    assert frames[:, 0, 0].tolist() == [1, 4, 7, 10]
    rgb, _ = read_frames(np.zeros((5, 8, 8, 3), np.uint8), 2)
    assert rgb.shape == (2, 8, 8, 3)
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(12):  # frame_2 must sort before frame_10
        Image.fromarray(np.full((10, 10), i * 20, np.uint8)).save(folder / f"frame_{i}.png")
    (folder / "notes.txt").write_text("ignored")
    frames, idx = read_frames(folder, 3)
    assert idx.tolist() == [2, 6, 10] and frames[:, 0, 0].tolist() == [40, 120, 200]
    dose, _ = read_frames(RTDOSE, 5)
    assert dose.shape == (5, 10, 10)


def test_read_frames_errors(tmp_path):
    mp4 = tmp_path / "clip.mp4"
    mp4.write_bytes(b"\x00" * 16)
    with pytest.raises(InputError, match="ffmpeg"):
        read_frames(mp4, 4)
    with pytest.raises(InputError, match=r"\[T, H, W\]"):
        read_frames(np.zeros((4, 4)), 2)
    with pytest.raises(DataNotFoundError):
        read_frames(tmp_path / "nope", 2)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no frame images"):
        read_frames(tmp_path / "empty", 2)


@pytest.mark.parametrize("pooling", ["mean", "attention"])
def test_video_encoder(pooling):
    assert ENCODERS.get("video") is VideoEncoder
    enc = VideoEncoder(dim=6, frames=4, pooling=pooling, frame_options=FRAME_OPTS, seed=0)
    clips = [clip(12), clip(5), np.random.default_rng(0).random((9, 16, 16, 3))]
    out = enc.encode(clips, batch_size=3, progress=False)
    assert out.shape == (3, 6) and torch.isfinite(out).all()
    single = enc.encode(clips, batch_size=1, progress=False)
    assert torch.allclose(out, single, atol=1e-5)
    again = VideoEncoder(dim=6, frames=4, pooling=pooling, frame_options=FRAME_OPTS, seed=0)
    assert torch.allclose(again.encode(clips, progress=False), out, atol=1e-6)
    reverse = enc.encode([clip(12)[::-1].copy()], progress=False)  # same frames, reversed
    if pooling == "mean":
        assert torch.allclose(reverse, out[:1], atol=1e-5)  # a mean ignores order
    else:
        assert not torch.allclose(reverse, out[:1], atol=1e-5)  # attention sees positions


def test_video_encoder_errors():
    enc = VideoEncoder(dim=6, frames=4, frame_options=FRAME_OPTS)
    with pytest.raises(InputError, match=r"\[B, 4, C, H, W\]"):
        enc(torch.zeros(2, 3, 1, 16, 16))
    with pytest.raises(ConfigError, match="pooling"):
        VideoEncoder(pooling="max")
    with pytest.raises(ConfigError, match="frames"):
        VideoEncoder(frames=0)
