"""2D image encoders in plain torch: a small residual CNN and a small Vision Transformer.

Both take a path (DICOM/PNG/JPEG/...) or an ``[H, W]``/``[H, W, C]`` array, preprocess it
with :mod:`graphs.encoders.image_io` (optional window, resize to ``image_size``,
channel conversion, intensity normalisation) and return one ``dim``-vector per image.
No pretrained weights ship with the project: by default the networks are randomly
initialised (the base class logs so) and meant to be trained; ``weights=`` loads a
``state_dict`` saved with ``torch.save(encoder.state_dict(), path)``.

Examples:
    >>> import numpy as np
    >>> enc = ResNetEncoder(dim=16, image_size=32, widths=(8, 16), seed=0)
    >>> enc.encode([np.zeros((40, 40)), np.ones((20, 30, 3))], progress=False).shape
    torch.Size([2, 16])
    >>> vit = ViTEncoder(dim=16, image_size=32, patch_size=8, width=32, depth=1, heads=2)
    >>> vit.encode([np.zeros((32, 32))], progress=False).shape
    torch.Size([1, 16])
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from graphs.encoders.base import ENCODERS, Encoder
from graphs.encoders.image_io import prepare_image
from ontologies.atomic import safe_torch_load
from ontologies.errors import ConfigError, DataNotFoundError, InputError, ParseError, SchemaError

__all__ = ["ImageEncoder", "ResNetEncoder", "ViTEncoder", "load_weights", "seeded",
           "reset_all_parameters"]


@contextlib.contextmanager
def seeded(seed: int | None) -> Iterator[None]:
    """Runs the block with torch's CPU RNG seeded, leaving the global RNG state untouched.

    Examples:
        >>> with seeded(3):
        ...     a = torch.rand(2)
        >>> with seeded(3):
        ...     b = torch.rand(2)
        >>> bool(torch.equal(a, b))
        True
    """
    if seed is None:
        yield
        return
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        yield


def reset_all_parameters(root: nn.Module) -> None:
    """Re-initialises every submodule of ``root`` (each copy of a repeated layer on its own).

    Convolutions get He (fan-out) init for the ReLU networks here; other layers their
    own ``reset_parameters``.

    Examples:
        >>> net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Linear(2, 2))
        >>> with seeded(0):
        ...     reset_all_parameters(net)
        >>> float(net[0].bias.detach().abs().sum())
        0.0
    """
    for m in root.modules():
        if m is root:
            continue
        if isinstance(m, nn.MultiheadAttention):
            m._reset_parameters()
        elif isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif hasattr(m, "reset_parameters"):
            m.reset_parameters()


def load_weights(module: nn.Module, path: str | os.PathLike) -> None:
    """Loads a ``state_dict`` file into ``module`` with ``torch.load(weights_only=True)``.

    Accepts a bare state dict or one wrapped as ``{"state_dict": ...}``/``{"model": ...}``.

    Raises:
        DataNotFoundError: ``path`` does not exist.
        ParseError: The file is not a torch checkpoint of tensors.
        SchemaError: Keys or shapes do not match ``module`` (lists the differences).
    """
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"weights file {str(path)!r} does not exist")
    state = safe_torch_load(path, "weights file (expected torch.save(encoder.state_dict()))")
    if isinstance(state, dict):
        for wrapper in ("state_dict", "model"):
            if isinstance(state.get(wrapper), dict):
                state = state[wrapper]
                break
    if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
        raise ParseError("checkpoint is not a state_dict of tensors", path)
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = sorted(f"{k}: {tuple(state[k].shape)} vs {tuple(own[k].shape)}"
                    for k in set(own) & set(state) if state[k].shape != own[k].shape)
    if missing or unexpected or shapes:
        def few(xs: list[str]) -> str:
            return ", ".join(xs[:5]) + (f" (+{len(xs) - 5} more)" if len(xs) > 5 else "")
        raise SchemaError(
            f"{str(path)!r} does not match {type(module).__name__}: "
            f"missing keys [{few(missing)}], unexpected keys [{few(unexpected)}], "
            f"shape mismatches [{few(shapes)}]; expected a state_dict of this architecture "
            "with the same constructor arguments")
    module.load_state_dict(state, strict=True)


class ImageEncoder(Encoder):
    """Shared preprocessing, seeding and weight loading of the 2D encoders.

    Args:
        dim: Output embedding size.
        in_channels: 1 (grey; colour inputs become luminance) or 3 (RGB; grey repeated).
        image_size: Side of the square network input; inputs are resized to it.
        normalize: Intensity normalisation of each image (``"zscore"``, ``"minmax"``,
            ``"percentile"`` or ``None``).
        window_range: ``(level, width)``, ``"header"`` (DICOM WindowCenter/Width) or None.
        pretrained: Must be ``False`` unless ``weights`` is given (no weights ship).
        weights: Path of a state dict to load (sets ``pretrained=True``).
        cache_dir: Optional embedding cache folder.

    Subclasses build their layers inside ``with seeded(seed):`` and end ``__init__`` with
    :meth:`_finish_init`, so a seed fixes the initialisation without touching the global
    RNG.
    """

    def __init__(self, dim: int, in_channels: int = 1, image_size: int = 64,
                 normalize: str | None = "zscore",
                 window_range: tuple[float, float] | str | None = None,
                 pretrained: bool = False, weights: str | os.PathLike | None = None,
                 cache_dir: str | os.PathLike | None = None):
        if pretrained and weights is None:
            raise ConfigError(f"{self.name}: no pretrained weights ship with medkg; pass "
                              "weights=<state_dict file> or pretrained=False")
        if in_channels not in (1, 3):
            raise ConfigError(f"in_channels must be 1 or 3, got {in_channels!r}")
        if int(image_size) < 8:
            raise ConfigError(f"image_size must be >= 8, got {image_size!r}")
        if normalize not in (None, "zscore", "minmax", "percentile"):
            raise ConfigError(f"normalize must be 'zscore', 'minmax', 'percentile' or None, "
                              f"got {normalize!r}")
        super().__init__(dim=dim, pretrained=weights is not None, cache_dir=cache_dir)
        self.in_channels = int(in_channels)
        self.image_size = int(image_size)
        self.normalize = normalize
        self.window_range = window_range

    def _finish_init(self, weights: str | os.PathLike | None) -> None:
        """Call at the end of a subclass's seeded ``__init__`` block."""
        self.reset_parameters()
        if weights is not None:
            load_weights(self, weights)

    def reset_parameters(self) -> None:
        """Re-initialises every layer (each copy of a repeated layer independently)."""
        reset_all_parameters(self)

    def config(self) -> dict[str, Any]:
        return {"dim": self.dim, "in_channels": self.in_channels,
                "image_size": self.image_size, "normalize": self.normalize,
                "window_range": self.window_range}

    def prepare(self, item: Any) -> torch.Tensor:
        """Path or array -> ``[in_channels, image_size, image_size]`` float tensor."""
        return prepare_image(item, self.image_size, self.in_channels, self.normalize,
                             self.window_range)

    def _check_batch(self, batch: torch.Tensor) -> None:
        if not torch.is_tensor(batch) or batch.ndim != 4 or batch.shape[1] != self.in_channels:
            shape = tuple(batch.shape) if torch.is_tensor(batch) else type(batch).__name__
            raise InputError(f"{self.name}: batch of shape {shape}; expected "
                             f"[b, {self.in_channels}, H, W]")

    def extra_repr(self) -> str:
        return (f"{super().extra_repr()}, in_channels={self.in_channels}, "
                f"image_size={self.image_size}")


class _BasicBlock(nn.Module):
    """Two 3x3 convolutions with a (projected when needed) identity shortcut."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                          nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


@ENCODERS.register("image_cnn")
class ResNetEncoder(ImageEncoder):
    """A small ResNet: stride-2 stem, residual stages, global average pool, linear head.

    Args:
        dim: Output size.
        widths: Channels per stage; every stage after the first halves the resolution.
            Four small stages fit 64-px inputs (64 -> 32 stem -> 4x4 at the last stage).
        blocks: Residual blocks per stage (same length as ``widths``).
        seed: Seed of the random initialisation.
        **kwargs: See :class:`ImageEncoder` (in_channels, image_size, normalize, ...).
    """

    name = "image_cnn"

    def __init__(self, dim: int = 256, in_channels: int = 1, image_size: int = 64,
                 widths: Sequence[int] = (32, 64, 128, 256),
                 blocks: Sequence[int] | None = None, seed: int | None = None,
                 weights: str | os.PathLike | None = None, **kwargs: Any):
        super().__init__(dim, in_channels, image_size, weights=weights, **kwargs)
        widths = [int(w) for w in widths]
        blocks = [1] * len(widths) if blocks is None else [int(b) for b in blocks]
        if not widths or len(blocks) != len(widths) or min(widths + blocks) < 1:
            raise ConfigError(f"widths and blocks must be equally long positive lists, got "
                              f"{widths!r} and {blocks!r}")
        self.widths, self.blocks = widths, blocks
        # Seeding the whole construction keeps default inits off the global RNG too.
        with seeded(seed):
            self.stem = nn.Sequential(nn.Conv2d(in_channels, widths[0], 3, 2, 1, bias=False),
                                      nn.BatchNorm2d(widths[0]), nn.ReLU(inplace=True))
            stages, cin = [], widths[0]
            for i, (w, n) in enumerate(zip(widths, blocks, strict=True)):
                for j in range(n):
                    stages.append(_BasicBlock(cin, w, 2 if (i > 0 and j == 0) else 1))
                    cin = w
            self.stages = nn.Sequential(*stages)
            self.head = nn.Linear(cin, dim)
            self._finish_init(weights)

    def config(self) -> dict[str, Any]:
        return {**super().config(), "widths": self.widths, "blocks": self.blocks}

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        """``[b, in_channels, H, W]`` (any H, W >= 8) -> ``[b, dim]``."""
        self._check_batch(batch)
        x = self.stages(self.stem(batch))
        return self.head(x.mean(dim=(2, 3)))


@ENCODERS.register("image_vit")
class ViTEncoder(ImageEncoder):
    """A small Vision Transformer: patch embedding, CLS token, learned positions.

    Args:
        dim: Output size (a linear head maps the CLS token of size ``width`` to it).
        patch_size: Side of the square patches; must divide ``image_size``.
        width: Token size inside the transformer.
        depth: Number of transformer layers.
        heads: Attention heads (must divide ``width``).
        mlp_ratio: Feed-forward size relative to ``width``.
        dropout: Dropout inside the transformer layers (training only).
        seed: Seed of the random initialisation.
        **kwargs: See :class:`ImageEncoder`.
    """

    name = "image_vit"

    def __init__(self, dim: int = 256, in_channels: int = 1, image_size: int = 64,
                 patch_size: int = 8, width: int = 128, depth: int = 4, heads: int = 4,
                 mlp_ratio: float = 2.0, dropout: float = 0.0, seed: int | None = None,
                 weights: str | os.PathLike | None = None, **kwargs: Any):
        super().__init__(dim, in_channels, image_size, weights=weights, **kwargs)
        if int(patch_size) < 1 or self.image_size % int(patch_size):
            raise ConfigError(f"patch_size must divide image_size={self.image_size}, got "
                              f"{patch_size!r}")
        if int(width) % int(heads):
            raise ConfigError(f"heads ({heads}) must divide width ({width})")
        if int(depth) < 1:
            raise ConfigError(f"depth must be >= 1, got {depth!r}")
        self.patch_size, self.width, self.depth, self.heads = (int(patch_size), int(width),
                                                               int(depth), int(heads))
        self.mlp_ratio, self.dropout = float(mlp_ratio), float(dropout)
        with seeded(seed):
            n_patches = (self.image_size // self.patch_size) ** 2
            self.patch_embed = nn.Conv2d(in_channels, width, patch_size, stride=patch_size)
            self.cls_token = nn.Parameter(torch.zeros(1, 1, width))
            self.pos_embed = nn.Parameter(torch.zeros(1, n_patches + 1, width))
            layer = nn.TransformerEncoderLayer(width, heads, int(width * mlp_ratio), dropout,
                                               activation="gelu", batch_first=True,
                                               norm_first=True)
            # Nested tensors only pay off with padding masks, which images never have.
            self.encoder = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
            self.norm = nn.LayerNorm(width)
            self.head = nn.Linear(width, dim)
            self._finish_init(weights)

    def reset_parameters(self) -> None:
        super().reset_parameters()
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)

    def config(self) -> dict[str, Any]:
        return {**super().config(), "patch_size": self.patch_size, "width": self.width,
                "depth": self.depth, "heads": self.heads, "mlp_ratio": self.mlp_ratio}

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        """``[b, in_channels, image_size, image_size]`` -> ``[b, dim]`` (CLS token)."""
        self._check_batch(batch)
        if tuple(batch.shape[2:]) != (self.image_size, self.image_size):
            raise InputError(f"{self.name}: images of size {tuple(batch.shape[2:])}; expected "
                             f"({self.image_size}, {self.image_size}) (positions are learned "
                             "per patch; resize with prepare())")
        tokens = self.patch_embed(batch).flatten(2).transpose(1, 2)  # [b, n, width]
        cls = self.cls_token.expand(tokens.shape[0], -1, -1)
        x = torch.cat([cls, tokens], dim=1) + self.pos_embed
        x = self.encoder(x)
        return self.head(self.norm(x[:, 0]))
