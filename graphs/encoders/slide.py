"""Whole-slide images: tissue tiling, multiple-instance pooling and a slide encoder.

A slide is a large RGB (or grey) array or image file. :func:`tile` cuts it into square
patches and drops background (bright, unsaturated glass); a 2D encoder embeds each patch;
:class:`MILPooling` pools the bag of patch embeddings (mean, max, or the gated attention
of Ilse, Tomczak & Welling, 2018, "Attention-based deep multiple instance learning"),
returning per-tile weights that show which regions drove the slide vector.

Pyramidal formats (.svs, .ndpi, .mrxs) need OpenSlide, which medkg does not depend on:
export a level to PNG/TIFF or pass the array.

Examples:
    >>> img = np.full((128, 128, 3), 255, np.uint8)
    >>> img[:, 64:] = (180, 90, 160)                # tissue on the right half
    >>> t = tile(img, patch=64)
    >>> t.patches.shape, t.coords.tolist()
    ((2, 64, 64, 3), [[0, 64], [64, 64]])
"""

from __future__ import annotations

import os
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from graphs.encoders.base import ENCODERS, Encoder
from graphs.encoders.base import get as get_encoder
from graphs.encoders.image import reset_all_parameters, seeded
from graphs.encoders.image_io import check_image, read_image
from ontologies.errors import ConfigError, InputError

__all__ = ["Tiles", "tissue_mask", "tile", "MILPooling", "SlideEncoder", "unit_scale"]

_MODES = ("mean", "max", "attention")


class Tiles(NamedTuple):
    """Result of :func:`tile`.

    Attributes:
        patches: ``[N, patch, patch]`` or ``[N, patch, patch, C]`` in the input's units.
        coords: ``[N, 2]`` int (row, column) of each patch's top-left pixel.
        tissue: ``[N]`` tissue fraction of each kept patch.
    """

    patches: np.ndarray
    coords: np.ndarray
    tissue: np.ndarray


def _unit_divisor(arr: np.ndarray) -> float:
    """What :func:`unit_scale` divides by (1 when floats are already in [0, 1])."""
    if np.issubdtype(arr.dtype, np.integer):
        return float(np.iinfo(arr.dtype).max)
    top = float(arr.max()) if arr.size else 1.0
    return 1.0 if top <= 1.0 else (255.0 if top <= 255.0 else top)


def unit_scale(image: np.ndarray) -> np.ndarray:
    """Maps intensities to [0, 1]: integers by their dtype's maximum; floats as-is when
    already <= 1, by 255 when <= 255 (8-bit data read as float), else by their maximum.

    Examples:
        >>> unit_scale(np.array([0, 255], np.uint8)).tolist()
        [0.0, 1.0]
        >>> unit_scale(np.array([0.0, 127.5])).tolist()
        [0.0, 0.5]
    """
    arr = np.asarray(image)
    return arr.astype(np.float32) / np.float32(_unit_divisor(arr))


def tissue_mask(image: np.ndarray, saturation_threshold: float = 0.07,
                brightness_threshold: float = 0.85) -> np.ndarray:
    """Boolean ``[H, W]`` mask: True where a pixel looks like tissue, not background glass.

    Colour: tissue is saturated (HSV saturation > ``saturation_threshold``) or dark
    (HSV value < ``brightness_threshold``); white/grey glass is neither. Grey images use
    brightness only. Thresholds are on the [0, 1] scale of :func:`unit_scale`. Black
    padding counts as tissue (crop it beforehand).

    Examples:
        >>> tissue_mask(np.array([[[255, 255, 255], [200, 100, 180]]], np.uint8)).tolist()
        [[False, True]]
    """
    img = np.asarray(image)
    if img.ndim == 3 and img.shape[-1] == 1:
        img = img[..., 0]
    # Compare in the input's own units: no float copy of a gigapixel slide, and
    # channel-wise maximum/minimum is far faster than reducing over a length-3 axis.
    dark = brightness_threshold * _unit_divisor(img)
    if img.ndim == 2:
        return img < dark
    r, g, b = img[..., 0], img[..., 1], img[..., 2]
    value = np.maximum(np.maximum(r, g), b)
    spread = value - np.minimum(np.minimum(r, g), b)  # >= 0, so no unsigned wrap-around
    # saturation = spread / value > t  <=>  spread > t * value  (no division by zero)
    return (spread > saturation_threshold * value.astype(np.float32)) | (value < dark)


def tile(image: np.ndarray, patch: int = 224, stride: int | None = None,
         background_threshold: float = 0.5, *, saturation_threshold: float = 0.07,
         brightness_threshold: float = 0.85, pad: bool = True) -> Tiles:
    """Cuts an image into ``patch``-sized tiles, keeping those with enough tissue.

    Args:
        image: ``[H, W]`` or ``[H, W, C]`` array (uint8 or float).
        patch: Tile side in pixels.
        stride: Step between tiles (``patch`` = no overlap).
        background_threshold: Drop a tile whose background fraction exceeds this
            (0.5 keeps tiles that are at least half tissue).
        saturation_threshold, brightness_threshold: See :func:`tissue_mask`.
        pad: Pad the bottom/right border with background so the whole image is covered;
            otherwise the remainder narrower than a tile is dropped.

    Returns:
        :class:`Tiles` in row-major order of their top-left corners.
    """
    img = _check_slide(image, "slide")
    patch = int(patch)
    stride = patch if stride is None else int(stride)
    if patch < 1 or stride < 1:
        raise ConfigError(f"patch and stride must be >= 1, got {patch!r} and {stride!r}")
    if not 0.0 <= background_threshold <= 1.0:
        raise ConfigError(f"background_threshold must be in [0, 1], got "
                          f"{background_threshold!r}")
    mask = tissue_mask(img, saturation_threshold, brightness_threshold)
    h, w = mask.shape
    if pad:
        ph = max(patch, h) if h <= patch else patch + -(-(h - patch) // stride) * stride
        pw = max(patch, w) if w <= patch else patch + -(-(w - patch) // stride) * stride
        if (ph, pw) != (h, w):
            widths = [(0, ph - h), (0, pw - w)] + [(0, 0)] * (img.ndim - 2)
            fill = np.iinfo(img.dtype).max if np.issubdtype(img.dtype, np.integer) else \
                float(img.max()) if img.size else 1.0
            img = np.pad(img, widths, constant_values=fill)
            mask = np.pad(mask, widths[:2], constant_values=False)
            h, w = ph, pw
    empty = Tiles(np.zeros((0, patch, patch) + img.shape[2:], img.dtype),
                  np.zeros((0, 2), np.int64), np.zeros(0, np.float32))
    if h < patch or w < patch:
        return empty
    ys = np.arange(0, h - patch + 1, stride)
    xs = np.arange(0, w - patch + 1, stride)
    if stride == patch:  # non-overlapping grid: block sums by reshaping
        grid = mask[:len(ys) * patch, :len(xs) * patch]
        counts = grid.reshape(len(ys), patch, len(xs), patch).sum(axis=(1, 3))
    else:  # summed-area table: every tile's tissue count in O(1), all tiles at once
        sat = np.zeros((h + 1, w + 1), np.int64)
        sat[1:, 1:] = mask.cumsum(0, dtype=np.int64).cumsum(1)
        y0, x0 = ys[:, None], xs[None, :]
        counts = sat[y0 + patch, x0 + patch] - sat[y0, x0 + patch] - \
            sat[y0 + patch, x0] + sat[y0, x0]
    fraction = counts / float(patch * patch)
    keep_y, keep_x = np.nonzero(1.0 - fraction <= background_threshold + 1e-12)
    if len(keep_y) == 0:
        return empty
    windows = np.lib.stride_tricks.sliding_window_view(img, (patch, patch), axis=(0, 1))
    patches = windows[ys[keep_y], xs[keep_x]]  # [N, (C,) patch, patch]
    if img.ndim == 3:
        patches = np.moveaxis(patches, 1, -1)
    coords = np.stack([ys[keep_y], xs[keep_x]], axis=1).astype(np.int64)
    return Tiles(np.ascontiguousarray(patches), coords,
                 fraction[keep_y, keep_x].astype(np.float32))


def _check_slide(image: Any, name: str) -> np.ndarray:
    """Shape check that keeps the dtype (a uint8 slide would grow 4x as float32)."""
    if torch.is_tensor(image):
        image = image.detach().cpu().numpy()
    img = np.asarray(image)
    if not (np.issubdtype(img.dtype, np.integer) or np.issubdtype(img.dtype, np.floating)):
        raise InputError(f"{name}: dtype {img.dtype}; expected integer or float pixels")
    if img.ndim == 3 and img.shape[-1] in (1, 3, 4) or img.ndim == 2:
        return img
    return check_image(img, name)  # raises with the precise complaint


class MILPooling(nn.Module):
    """Pools a bag of instance embeddings into one vector, returning instance weights.

    Args:
        dim: Instance embedding size.
        mode: ``"mean"``, ``"max"`` or ``"attention"`` (gated attention, Ilse et al. 2018:
            ``a_i = softmax_i(w^T (tanh(V h_i) * sigmoid(U h_i)))``).
        hidden: Size of the attention network.
        gated: Use the sigmoid gate (``False`` gives plain tanh attention).

    Weights always sum to 1 over a bag's real instances: uniform for mean, the share of
    features each instance wins for max, the attention for attention.

    Examples:
        >>> pool = MILPooling(4, mode="mean")
        >>> pooled, w = pool(torch.tensor([[0.0, 0, 0, 0], [2, 2, 2, 2]]))
        >>> pooled.tolist(), w.tolist()
        ([1.0, 1.0, 1.0, 1.0], [0.5, 0.5])
    """

    def __init__(self, dim: int, mode: str = "attention", hidden: int = 128,
                 gated: bool = True):
        super().__init__()
        if mode not in _MODES:
            raise ConfigError(f"MIL pooling mode must be one of {_MODES}, got {mode!r}")
        if int(dim) < 1 or int(hidden) < 1:
            raise ConfigError(f"dim and hidden must be >= 1, got {dim!r}, {hidden!r}")
        self.dim, self.mode, self.hidden, self.gated = int(dim), mode, int(hidden), gated
        if mode == "attention":
            self.attn_v = nn.Linear(dim, hidden)
            self.attn_u = nn.Linear(dim, hidden) if gated else None
            self.attn_w = nn.Linear(hidden, 1)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for m in self.children():
            m.reset_parameters()

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """Pools ``x`` ``[N, dim]`` (one bag) or ``[B, N, dim]`` with ``mask`` ``[B, N]``
        (True = real instance) into ``[dim]``/``[B, dim]``; weights ``[N]``/``[B, N]``."""
        single = x.ndim == 2
        if single:
            x = x.unsqueeze(0)
        if x.ndim != 3 or x.shape[-1] != self.dim:
            raise InputError(f"MILPooling: input of shape {tuple(x.shape)}; expected "
                             f"[N, {self.dim}] or [B, N, {self.dim}]")
        if mask is None:
            mask = torch.ones(x.shape[:2], dtype=torch.bool, device=x.device)
        mask = mask.reshape(x.shape[:2]).bool()
        if not bool(mask.any(dim=1).all()):
            raise InputError("MILPooling: a bag has no instances (e.g. a slide without "
                             "tissue tiles); expected at least one per bag")
        m = mask.unsqueeze(-1).to(x.dtype)
        if self.mode == "mean":
            weights = m[..., 0] / m[..., 0].sum(dim=1, keepdim=True)
            pooled = (x * weights.unsqueeze(-1)).sum(dim=1)
        elif self.mode == "max":
            masked = x.masked_fill(~mask.unsqueeze(-1), float("-inf"))
            pooled, winner = masked.max(dim=1)  # winner: [B, dim] instance per feature
            weights = F.one_hot(winner, x.shape[1]).to(x.dtype).mean(dim=1)
        else:
            h = torch.tanh(self.attn_v(x))
            if self.attn_u is not None:
                h = h * torch.sigmoid(self.attn_u(x))
            scores = self.attn_w(h)[..., 0].masked_fill(~mask, float("-inf"))
            weights = torch.softmax(scores, dim=1)
            pooled = (x * weights.unsqueeze(-1)).sum(dim=1)
        return (pooled[0], weights[0]) if single else (pooled, weights)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, mode={self.mode!r}" + (
            f", hidden={self.hidden}, gated={self.gated}" if self.mode == "attention" else "")


@ENCODERS.register("slide_mil")
class SlideEncoder(Encoder):
    """Whole-slide embedding: tissue tiles -> 2D patch encoder -> MIL pooling -> linear.

    Args:
        dim: Output size.
        patch_encoder: A 2D encoder instance, or a registered name (``"image_cnn"``,
            ``"image_vit"``) built with ``patch_options``. Its ``forward`` gets tiles
            resized to its ``image_size``.
        patch_options: Options for a named patch encoder. The default is a small 3-channel
            ResNet on 64-px tiles with 128-d output.
        patch: Tile side in slide pixels (224 at 20x is the usual histology choice).
        stride: Tile step (``None`` = ``patch``).
        background_threshold: See :func:`tile`.
        mode: MIL pooling mode (``"attention"``, ``"mean"``, ``"max"``).
        max_tiles: Keep at most this many tiles per slide (a seeded random subset) to
            bound CPU time; ``None`` keeps all.
        tile_batch_size: Tiles per patch-encoder pass.
        cache_dir: Optional embedding cache folder.
        seed: Seeds the initialisation and the tile subset.

    Examples:
        >>> img = np.full((96, 96, 3), 255, np.uint8)
        >>> img[:64, :64] = (170, 80, 150)
        >>> enc = SlideEncoder(dim=8, patch=32, seed=0,
        ...                    patch_options=dict(dim=16, image_size=16, widths=(4, 8)))
        >>> enc.encode([img], progress=False).shape
        torch.Size([1, 8])
        >>> len(enc.explain(img)["weights"])
        4
    """

    name = "slide_mil"

    def __init__(self, dim: int = 128, patch_encoder: str | Encoder = "image_cnn",
                 patch_options: dict[str, Any] | None = None, patch: int = 224,
                 stride: int | None = None, background_threshold: float = 0.5,
                 mode: str = "attention", max_tiles: int | None = 256,
                 tile_batch_size: int = 64, cache_dir: str | os.PathLike | None = None,
                 seed: int | None = 0):
        if max_tiles is not None and int(max_tiles) < 1:
            raise ConfigError(f"max_tiles must be >= 1 or None, got {max_tiles!r}")
        if int(patch) < 1 or (stride is not None and int(stride) < 1):
            raise ConfigError(f"patch and stride must be >= 1, got {patch!r}, {stride!r}")
        if isinstance(patch_encoder, str):
            options = {"dim": 128, "in_channels": 3, "image_size": 64,
                       "widths": (16, 32, 64, 128), "seed": seed, **(patch_options or {})}
            patch_encoder = get_encoder(patch_encoder, **options)
        elif not isinstance(patch_encoder, Encoder):
            raise ConfigError(f"patch_encoder must be an Encoder or a registered name, got "
                              f"{type(patch_encoder).__name__}")
        for attr in ("image_size", "in_channels"):
            if not hasattr(patch_encoder, attr):
                raise ConfigError(f"patch encoder {patch_encoder.name!r} lacks {attr!r}; "
                                  "expected a 2D image encoder")
        super().__init__(dim=dim, pretrained=patch_encoder.pretrained, cache_dir=cache_dir)
        self.patch, self.stride = int(patch), None if stride is None else int(stride)
        self.background_threshold = float(background_threshold)
        self.max_tiles = None if max_tiles is None else int(max_tiles)
        self.tile_batch_size, self.seed = int(tile_batch_size), seed
        self.patch_encoder = patch_encoder
        with seeded(seed):
            self.pool = MILPooling(patch_encoder.dim, mode=mode)
            self.proj = nn.Linear(patch_encoder.dim, dim)
            reset_all_parameters(self.pool)
            self.proj.reset_parameters()

    def config(self) -> dict[str, Any]:
        return {"dim": self.dim, "patch": self.patch, "stride": self.stride,
                "background_threshold": self.background_threshold, "mode": self.pool.mode,
                "max_tiles": self.max_tiles, "seed": self.seed,
                "patch_encoder": self.patch_encoder.config()}

    def _tiles(self, item: Any) -> Tiles:
        if isinstance(item, (str, os.PathLike)):
            img, _ = read_image(item)
            name = str(item)
        else:
            img, name = _check_slide(item, "slide array"), "slide array"
        tiles = tile(img, self.patch, self.stride, self.background_threshold)
        if len(tiles.coords) == 0:
            raise InputError(f"{name}: no tile of {self.patch} px has enough tissue "
                             f"(background_threshold={self.background_threshold}); expected "
                             "a slide with stained tissue on a bright background")
        if self.max_tiles is not None and len(tiles.coords) > self.max_tiles:
            rng = np.random.default_rng(self.seed)
            keep = np.sort(rng.choice(len(tiles.coords), self.max_tiles, replace=False))
            tiles = Tiles(tiles.patches[keep], tiles.coords[keep], tiles.tissue[keep])
        return tiles

    def _to_input(self, patches: np.ndarray) -> torch.Tensor:
        """Tiles -> ``[N, C, S, S]`` in [-1, 1]: fixed scaling keeps stain intensity
        (per-tile z-scoring would erase it)."""
        t = torch.from_numpy(unit_scale(patches))
        t = t.unsqueeze(1) if t.ndim == 3 else t[..., :3].permute(0, 3, 1, 2)
        channels = self.patch_encoder.in_channels
        if channels == 3 and t.shape[1] == 1:
            t = t.expand(-1, 3, -1, -1)
        elif channels == 1 and t.shape[1] == 3:
            t = (t * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
        size = self.patch_encoder.image_size
        if t.shape[-1] != size:
            t = F.interpolate(t, size=(size, size), mode="bilinear", align_corners=False,
                              antialias=t.shape[-1] > size)
        return (t - 0.5) / 0.5

    def prepare(self, item: Any) -> torch.Tensor:
        """Slide (path or array) -> tissue tiles ``[N, C, S, S]`` for the patch encoder."""
        return self._to_input(self._tiles(item).patches)

    def embed_tiles(self, tiles: torch.Tensor) -> torch.Tensor:
        """``[N, C, S, S]`` -> patch embeddings ``[N, patch_dim]`` in chunks."""
        return torch.cat([self.patch_encoder(tiles[i:i + self.tile_batch_size])
                          for i in range(0, len(tiles), self.tile_batch_size)])

    def pool_bags(self, embeddings: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Pads bags of patch embeddings, pools them and projects: ``[B, dim]``, weights."""
        n = max(len(e) for e in embeddings)
        bags = torch.zeros(len(embeddings), n, self.patch_encoder.dim)
        mask = torch.zeros(len(embeddings), n, dtype=torch.bool)
        for i, e in enumerate(embeddings):
            bags[i, :len(e)], mask[i, :len(e)] = e, True
        pooled, weights = self.pool(bags, mask)
        return self.proj(pooled), weights

    def forward(self, bags: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """``[B, N, C, S, S]`` tile bags (``mask`` ``[B, N]``) -> ``[B, dim]``; for training."""
        if bags.ndim != 5:
            raise InputError(f"slide_mil: bags of shape {tuple(bags.shape)}; expected "
                             "[B, N, C, S, S]")
        b, n = bags.shape[:2]
        emb = self.patch_encoder(bags.flatten(0, 1)).view(b, n, -1)
        pooled, _ = self.pool(emb, mask)
        return self.proj(pooled)

    def encode_batch(self, items: list[Any]) -> torch.Tensor:
        """Slides one at a time through the patch encoder (bounded memory), pooled together."""
        return self.pool_bags([self.embed_tiles(self.prepare(x)) for x in items])[0]

    @torch.no_grad()
    def explain(self, item: Any) -> dict[str, np.ndarray]:
        """Tile coordinates, tissue fractions and pooling weights of one slide (a heatmap)."""
        was = self.training
        self.eval()
        try:
            tiles = self._tiles(item)
            _, weights = self.pool_bags([self.embed_tiles(self._to_input(tiles.patches))])
        finally:
            self.train(was)
        return {"coords": tiles.coords, "tissue": tiles.tissue,
                "weights": weights[0].numpy(), "patch": np.int64(self.patch)}
