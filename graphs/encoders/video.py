"""Video (ultrasound cine loops, endoscopy, echo): frame sampling + per-frame 2D encoder
+ temporal pooling.

A video is a ``[T, H, W]``/``[T, H, W, C]`` array, a multi-frame DICOM or a folder of
frame images (sorted in natural order, ``frame_2`` before ``frame_10``). Compressed
containers (.mp4, .avi) need a decoder medkg does not depend on: extract frames first,
e.g. ``ffmpeg -i clip.mp4 frames/%05d.png``.

Examples:
    >>> sample_indices(10, 4).tolist()
    [1, 3, 6, 8]
    >>> enc = VideoEncoder(dim=8, frames=4, seed=0,
    ...                    frame_options=dict(dim=8, image_size=16, widths=(4, 8)))
    >>> enc.encode([np.zeros((12, 20, 20))], progress=False).shape
    torch.Size([1, 8])
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from graphs.encoders.base import ENCODERS, Encoder
from graphs.encoders.base import get as get_encoder
from graphs.encoders.image import reset_all_parameters, seeded
from graphs.encoders.image_io import RASTER_SUFFIXES, read_dicom, read_image
from graphs.encoders.slide import MILPooling
from ontologies.errors import ConfigError, DataNotFoundError, InputError

__all__ = ["sample_indices", "read_frames", "VideoEncoder"]

_CONTAINERS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv")


def sample_indices(n_frames: int, k: int) -> np.ndarray:
    """``k`` frame indices at the centres of ``k`` equal segments of ``n_frames``.

    Shorter videos repeat frames so every clip yields exactly ``k``.

    Examples:
        >>> sample_indices(3, 5).tolist()
        [0, 0, 1, 2, 2]
    """
    if n_frames < 1 or k < 1:
        raise InputError(f"need n_frames >= 1 and k >= 1, got {n_frames} and {k}")
    return ((np.arange(k) + 0.5) * n_frames / k).astype(np.int64)


def _natural_key(path: Path) -> list[Any]:
    return [int(part) if part.isdigit() else part.lower()
            for part in re.split(r"(\d+)", path.name)]


def read_frames(source: Any, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Uniformly samples ``k`` frames: returns ``(frames [k, H, W(, C)], indices)``.

    Args:
        source: ``[T, H, W]``/``[T, H, W, C]`` array, multi-frame DICOM path, or a folder
            of frame images (only the sampled files are read).
        k: Frames to sample.
    """
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.exists():
            raise DataNotFoundError(f"video {str(path)!r} does not exist")
        if path.suffix.lower() in _CONTAINERS:
            raise InputError(f"{str(path)!r}: compressed video containers need a decoder; "
                             "extract frames first (ffmpeg -i clip.mp4 frames/%05d.png) and "
                             "pass the folder")
        if path.is_dir():
            files = sorted((p for p in path.iterdir() if p.suffix.lower() in RASTER_SUFFIXES
                            + (".dcm",) and not p.name.startswith(".")), key=_natural_key)
            if not files:
                raise InputError(f"{str(path)!r} holds no frame images; expected "
                                 f"{', '.join(RASTER_SUFFIXES)} or .dcm files")
            idx = sample_indices(len(files), k)
            cache: dict[int, np.ndarray] = {}
            for i in set(idx.tolist()):
                cache[i] = read_image(files[i])[0]
            shapes = {a.shape for a in cache.values()}
            if len(shapes) > 1:
                raise InputError(f"{str(path)!r}: frames differ in shape {sorted(shapes)}")
            return np.stack([cache[i] for i in idx.tolist()]), idx
        arr, meta = read_dicom(path, multiframe="all")
        source = arr if meta["n_frames"] > 1 else arr[None]
    arr = source.detach().cpu().numpy() if torch.is_tensor(source) else np.asarray(source)
    if not (arr.ndim == 3 or (arr.ndim == 4 and arr.shape[-1] in (1, 3, 4))):
        raise InputError(f"video array of shape {arr.shape}; expected [T, H, W] or "
                         "[T, H, W, C] with C in (1, 3, 4)")
    idx = sample_indices(arr.shape[0], k)
    return np.asarray(arr[idx], dtype=np.float32), idx


@ENCODERS.register("video")
class VideoEncoder(Encoder):
    """Per-frame 2D encoder, learned frame-position embedding, temporal pooling.

    Args:
        dim: Output size.
        frame_encoder: A 2D encoder instance or registered name (``"image_cnn"``...).
        frame_options: Options for a named frame encoder (default: 1-channel ResNet on
            64-px frames, 128-d; grey suits ultrasound/echo).
        frames: Frames sampled per clip (uniform segments).
        pooling: ``"mean"`` or ``"attention"`` (gated attention over frames).
        cache_dir: Optional embedding cache folder.
        seed: Seeds the initialisation.
    """

    name = "video"

    def __init__(self, dim: int = 128, frame_encoder: str | Encoder = "image_cnn",
                 frame_options: dict[str, Any] | None = None, frames: int = 8,
                 pooling: str = "mean", cache_dir: str | os.PathLike | None = None,
                 seed: int | None = 0):
        if int(frames) < 1:
            raise ConfigError(f"frames must be >= 1, got {frames!r}")
        if pooling not in ("mean", "attention"):
            raise ConfigError(f"pooling must be 'mean' or 'attention', got {pooling!r}")
        if isinstance(frame_encoder, str):
            options = {"dim": 128, "in_channels": 1, "image_size": 64,
                       "widths": (16, 32, 64, 128), "seed": seed, **(frame_options or {})}
            frame_encoder = get_encoder(frame_encoder, **options)
        elif not isinstance(frame_encoder, Encoder):
            raise ConfigError(f"frame_encoder must be an Encoder or a registered name, got "
                              f"{type(frame_encoder).__name__}")
        super().__init__(dim=dim, pretrained=frame_encoder.pretrained, cache_dir=cache_dir)
        self.frames, self.seed = int(frames), seed
        self.frame_encoder = frame_encoder
        fd = frame_encoder.dim
        with seeded(seed):
            self.time_embed = nn.Parameter(torch.zeros(self.frames, fd))
            self.pool = MILPooling(fd, mode=pooling)
            self.proj = nn.Linear(fd, dim)
            reset_all_parameters(self.pool)
            self.proj.reset_parameters()
            nn.init.normal_(self.time_embed, std=0.02)

    def config(self) -> dict[str, Any]:
        return {"dim": self.dim, "frames": self.frames, "pooling": self.pool.mode,
                "seed": self.seed, "frame_encoder": self.frame_encoder.config()}

    def prepare(self, item: Any) -> torch.Tensor:
        """Video (array, DICOM, frame folder) -> ``[frames, C, S, S]``."""
        frames, _ = read_frames(item, self.frames)
        return torch.stack([self.frame_encoder.prepare(f) for f in frames])

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        """``[B, frames, C, S, S]`` -> ``[B, dim]``."""
        if batch.ndim != 5 or batch.shape[1] != self.frames:
            raise InputError(f"video: batch of shape {tuple(batch.shape)}; expected "
                             f"[B, {self.frames}, C, H, W]")
        b = batch.shape[0]
        emb = self.frame_encoder(batch.flatten(0, 1)).view(b, self.frames, -1)
        pooled, _ = self.pool(emb + self.time_embed)
        return self.proj(pooled)
