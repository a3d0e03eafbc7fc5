"""Encoders for physiological signals: a dilated temporal CNN and a GRU (GRU-D inputs).

:class:`TemporalCNNEncoder` (``"signal_cnn"``) reads dense waveforms ``[channels,
samples]`` such as a 12-lead ECG; :class:`RecurrentSignalEncoder` (``"signal_rnn"``)
reads time-major series ``[T, C]``, typically irregular vitals gridded by
:func:`graphs.encoders.signal_io.to_grid` with their observation mask and time deltas.
Both accept arrays, tensors, or WFDB/DICOM paths in :meth:`prepare`, and pad
variable-length batches with a mask in :meth:`collate`.

Both are randomly initialised: train them (e.g. with
:mod:`graphs.encoders.alignment`) before using their embeddings.

Examples:
    >>> enc = TemporalCNNEncoder(in_channels=2, dim=8, width=8, n_blocks=2)
    >>> enc.encode([np.random.randn(2, 300), np.random.randn(2, 200)], progress=False).shape
    torch.Size([2, 8])
    >>> rnn = RecurrentSignalEncoder(in_channels=2, dim=4, hidden=8)
    >>> g = to_grid([0.5, 1.5], [80.0, 12.0], ["hr", "rr"], step=1, horizon=3)
    >>> rnn.encode([g], progress=False).shape
    torch.Size([1, 4])
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from graphs.encoders.base import ENCODERS, Encoder
from graphs.encoders.signal_io import (
    GridSeries,
    SignalRecord,
    fixed_length,
    read_signal,
    resample_signal,
    to_grid,
    zscore,
)
from ontologies.errors import InputError

__all__ = ["TemporalCNNEncoder", "RecurrentSignalEncoder", "ChannelNorm", "pad_with_mask"]


def pad_with_mask(items: list[torch.Tensor], dim: int = -1) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pads tensors along ``dim`` to the longest and returns ``(batch, mask)``.

    Args:
        items: Tensors equal in every dimension except ``dim``.
        dim: The variable (time/length) dimension.

    Returns:
        ``batch`` ``[b, ...]`` zero-padded and ``mask`` bool ``[b, max_len]`` (True = real).

    Examples:
        >>> x, m = pad_with_mask([torch.ones(2, 3), torch.ones(2, 1)])
        >>> x.shape, m.int().tolist()
        (torch.Size([2, 2, 3]), [[1, 1, 1], [1, 0, 0]])
    """
    if not items:
        raise InputError("cannot collate an empty batch")
    lengths = [t.shape[dim] for t in items]
    other = {tuple(s for i, s in enumerate(t.shape) if i != dim % t.dim()) for t in items}
    if len(other) > 1:
        raise InputError(f"items differ outside the length dimension: {sorted(other)}")
    longest = max(lengths)
    padded = []
    for t in items:
        pad = [0, 0] * t.dim()
        pad[2 * (t.dim() - 1 - dim % t.dim()) + 1] = longest - t.shape[dim]
        padded.append(F.pad(t, pad))
    mask = torch.arange(longest)[None, :] < torch.tensor(lengths)[:, None]
    return torch.stack(padded), mask


def _split_batch(batch: Any, mask: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
    if isinstance(batch, (tuple, list)):
        batch, mask = batch
    return batch, mask


def _load_record(item: Any) -> SignalRecord | None:
    if isinstance(item, SignalRecord):
        return item
    if isinstance(item, (str, Path, os.PathLike)):
        return read_signal(item)
    return None


class ChannelNorm(nn.Module):
    """LayerNorm over the channel axis (dim 1) at every position of ``[b, c, ...]``.

    Unlike BatchNorm/GroupNorm its statistics never mix positions, so zero padding added
    by :meth:`Encoder.collate` cannot change the embedding of a real item.
    """

    def __init__(self, channels: int):
        super().__init__()
        self.norm = nn.LayerNorm(channels)

    def reset_parameters(self) -> None:
        self.norm.reset_parameters()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.movedim(1, -1)).movedim(-1, 1)


class _ResidualBlock(nn.Module):
    """Conv-norm-GELU twice with dilation, plus the identity; padding keeps the length."""

    def __init__(self, width: int, kernel_size: int, dilation: int, dropout: float):
        super().__init__()
        self.conv1 = nn.Conv1d(width, width, kernel_size, dilation=dilation, padding="same")
        self.conv2 = nn.Conv1d(width, width, kernel_size, dilation=dilation, padding="same")
        self.norm1 = ChannelNorm(width)
        self.norm2 = ChannelNorm(width)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = self.drop(F.gelu(self.norm1(self.conv1(x)))) * mask
        h = self.norm2(self.conv2(h))
        return F.gelu(x + h) * mask  # re-zero padding so it never leaks into real samples


@ENCODERS.register("signal_cnn")
class TemporalCNNEncoder(Encoder):
    """1D residual CNN with exponentially growing dilation and masked global pooling.

    Args:
        in_channels: Signal channels (12 for a 12-lead ECG).
        dim: Embedding size.
        width: Feature maps per convolution.
        n_blocks: Residual blocks; block ``i`` uses dilation ``2**i`` so the receptive
            field grows exponentially with depth.
        kernel_size: Convolution width (odd, so "same" padding is symmetric).
        stride: Stride of the input convolution (2-4 shortens long waveforms cheaply).
        fs: Target sampling rate for inputs read from files or given as
            :class:`SignalRecord`; ``None`` keeps the file's rate.
        length: Crop/pad every signal to this many samples; ``None`` keeps lengths and
            pads per batch.
        normalize: Per-channel z-normalisation in :meth:`prepare`.
        dropout: Dropout inside the blocks.
        cache_dir: Optional embedding cache folder.

    Shapes:
        ``forward``: ``[b, in_channels, L]`` (+ optional mask ``[b, L]``) -> ``[b, dim]``.
    """

    name = "signal_cnn"

    def __init__(self, in_channels: int = 12, dim: int = 128, width: int = 64,
                 n_blocks: int = 4, kernel_size: int = 7, stride: int = 1,
                 fs: float | None = None, length: int | None = None, normalize: bool = True,
                 dropout: float = 0.1, cache_dir: str | os.PathLike | None = None):
        super().__init__(dim=dim, pretrained=False, cache_dir=cache_dir)
        if in_channels <= 0 or width <= 0 or n_blocks < 0 or stride <= 0 \
                or kernel_size <= 0 or kernel_size % 2 == 0:
            raise InputError("in_channels, width, stride must be positive, kernel_size odd "
                             f"and n_blocks >= 0; got {in_channels}, {width}, {stride}, "
                             f"{kernel_size}, {n_blocks}")
        self.in_channels, self.width, self.n_blocks = int(in_channels), int(width), int(n_blocks)
        self.kernel_size, self.stride, self.fs, self.length = kernel_size, stride, fs, length
        self.normalize, self.dropout = normalize, dropout
        self.stem = nn.Conv1d(in_channels, width, kernel_size, stride=stride,
                              padding="same" if stride == 1 else kernel_size // 2)
        self.blocks = nn.ModuleList(_ResidualBlock(width, kernel_size, 2 ** i, dropout)
                                    for i in range(n_blocks))
        self.head = nn.Linear(2 * width, dim)  # mean- and max-pooled features
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-initialises every layer (PyTorch defaults)."""
        for module in self.modules():
            if module is not self and hasattr(module, "reset_parameters"):
                module.reset_parameters()

    def config(self) -> dict[str, Any]:
        return {"dim": self.dim, "in_channels": self.in_channels, "width": self.width,
                "n_blocks": self.n_blocks, "kernel_size": self.kernel_size,
                "stride": self.stride, "fs": self.fs, "length": self.length,
                "normalize": self.normalize}

    def prepare(self, item: Any) -> torch.Tensor:
        """Array/tensor ``[C, L]`` (or ``[L]``), :class:`SignalRecord` or WFDB/DICOM path
        -> float tensor ``[C, L']`` (resampled, z-normalised, cropped/padded as set)."""
        record = _load_record(item)
        if record is not None:
            x = record.signal
            if self.fs is not None and record.fs != self.fs:
                x = resample_signal(x, record.fs, self.fs)
        else:
            x = item.detach().cpu().numpy() if torch.is_tensor(item) else np.asarray(item)
            x = x.astype(np.float32)
            if x.ndim == 1:
                x = x[None, :]
        if x.ndim != 2 or x.shape[1] == 0:
            raise InputError(f"{self.name}: expected a signal [channels, samples], got shape "
                             f"{x.shape}")
        if x.shape[0] != self.in_channels:
            raise InputError(f"{self.name}: got {x.shape[0]} channels, expected "
                             f"{self.in_channels} (set in_channels=)")
        if self.normalize:
            x = zscore(x)
        x = np.nan_to_num(x, nan=0.0)  # missing samples -> channel mean after zscore
        if self.length is not None:
            x, _ = fixed_length(x, self.length)
        return torch.from_numpy(np.ascontiguousarray(x))

    def collate(self, prepared: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Pads to the longest signal: ``([b, C, L], mask [b, L])``."""
        return pad_with_mask(prepared, dim=-1)

    def forward(self, batch: Any, mask: torch.Tensor | None = None) -> torch.Tensor:
        """``[b, C, L]`` or ``(x, mask)`` -> ``[b, dim]``."""
        x, mask = _split_batch(batch, mask)
        if x.dim() != 3 or x.shape[1] != self.in_channels:
            raise InputError(f"{self.name}: expected [b, {self.in_channels}, L], got "
                             f"{tuple(x.shape)}")
        if mask is None:
            mask = torch.ones(x.shape[0], x.shape[2], dtype=torch.bool, device=x.device)
        h = self.stem(x)
        if self.stride > 1:  # the output length an unpadded item would get (mask is right-padded)
            pad = self.kernel_size // 2
            out_len = (mask.sum(1) + 2 * pad - self.kernel_size) // self.stride + 1
            mask = torch.arange(h.shape[-1], device=x.device)[None, :] < out_len[:, None]
        m = mask[:, None, :].float()
        h = F.gelu(h) * m
        for block in self.blocks:
            h = block(h, m)
        count = m.sum(-1).clamp_min(1.0)
        mean = h.sum(-1) / count
        peak = h.masked_fill(m == 0, float("-inf")).amax(-1)
        peak = torch.where(torch.isfinite(peak), peak, torch.zeros_like(peak))
        return self.head(torch.cat([mean, peak], dim=-1))

    def extra_repr(self) -> str:
        return (f"in_channels={self.in_channels}, dim={self.dim}, width={self.width}, "
                f"n_blocks={self.n_blocks}, pretrained={self.pretrained}")


@ENCODERS.register("signal_rnn")
class RecurrentSignalEncoder(Encoder):
    """GRU over time-major series ``[T, C]`` with GRU-D style mask and delta inputs.

    Each time step feeds ``[values, mask, log1p(delta)]`` (the last two optional), so the
    network sees which values were measured and how stale the carried-forward ones are.
    The embedding is a projection of the last real hidden state.

    Args:
        in_channels: Number of measured channels ``C``.
        dim: Embedding size.
        hidden: GRU hidden size.
        num_layers: Stacked GRU layers.
        use_mask: Append the observation mask channels.
        use_delta: Append ``log1p`` of the time-since-last-observation channels.
        step: Grid step used to compute ``delta`` for plain arrays with NaNs.
        fs: Target sampling rate for waveform files (read ``[C, L]``, fed as ``[L, C]``).
        length: Crop/pad every series to this many steps.
        dropout: Dropout before the output projection.
        cache_dir: Optional embedding cache folder.

    Shapes:
        ``forward``: ``[b, T, in_features]`` (+ optional mask ``[b, T]``) -> ``[b, dim]``
        where ``in_features = in_channels * (1 + use_mask + use_delta)``.
    """

    name = "signal_rnn"

    def __init__(self, in_channels: int, dim: int = 128, hidden: int = 64, num_layers: int = 1,
                 use_mask: bool = True, use_delta: bool = True, step: float = 1.0,
                 fs: float | None = None, length: int | None = None, dropout: float = 0.0,
                 cache_dir: str | os.PathLike | None = None):
        super().__init__(dim=dim, pretrained=False, cache_dir=cache_dir)
        if in_channels <= 0 or hidden <= 0 or num_layers <= 0:
            raise InputError(f"in_channels, hidden, num_layers must be positive, got "
                             f"{in_channels}, {hidden}, {num_layers}")
        self.in_channels, self.hidden, self.num_layers = int(in_channels), hidden, num_layers
        self.use_mask, self.use_delta, self.step = use_mask, use_delta, float(step)
        self.fs, self.length, self.dropout_p = fs, length, dropout
        self.in_features = self.in_channels * (1 + int(use_mask) + int(use_delta))
        self.gru = nn.GRU(self.in_features, hidden, num_layers=num_layers, batch_first=True)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-initialises the GRU and the projection (PyTorch defaults)."""
        self.gru.reset_parameters()
        self.head.reset_parameters()

    def config(self) -> dict[str, Any]:
        return {"dim": self.dim, "in_channels": self.in_channels, "hidden": self.hidden,
                "num_layers": self.num_layers, "use_mask": self.use_mask,
                "use_delta": self.use_delta, "step": self.step, "fs": self.fs,
                "length": self.length}

    def _from_array(self, x: np.ndarray) -> GridSeries:
        """A dense ``[T, C]`` array; NaN = not observed (mask/delta/ffill derived)."""
        t_idx, c_idx = np.nonzero(~np.isnan(x))
        names = [str(i) for i in range(x.shape[1])]
        return to_grid(t_idx * self.step, x[t_idx, c_idx], np.asarray(names)[c_idx],
                       step=self.step, horizon=x.shape[0] * self.step, channel_names=names)

    def prepare(self, item: Any) -> torch.Tensor:
        """:class:`GridSeries`, array ``[T, C]`` (NaN = missing), :class:`SignalRecord` or
        WFDB/DICOM path -> float tensor ``[T, in_features]``."""
        record = _load_record(item)
        if record is not None:
            x = record.signal
            if self.fs is not None and record.fs != self.fs:
                x = resample_signal(x, record.fs, self.fs)
            item = zscore(x).T
        if isinstance(item, GridSeries):
            grid = item
        else:
            x = item.detach().cpu().numpy() if torch.is_tensor(item) else np.asarray(item)
            x = x.astype(np.float32)
            if x.ndim == 1:
                x = x[:, None]
            if x.ndim != 2 or x.shape[0] == 0:
                raise InputError(f"{self.name}: expected a series [T, C], got shape {x.shape}")
            if x.shape[1] != self.in_channels:
                raise InputError(f"{self.name}: got {x.shape[1]} channels, expected "
                                 f"{self.in_channels} (series are time-major [T, C])")
            if np.isnan(x).any():
                grid = self._from_array(x)
            else:
                ones = np.ones_like(x, dtype=bool)
                grid = GridSeries(x, ones, np.full_like(x, self.step), np.arange(len(x)),
                                  [str(i) for i in range(x.shape[1])])
        if grid.values.shape[1] != self.in_channels:
            raise InputError(f"{self.name}: got {grid.values.shape[1]} channels, expected "
                             f"{self.in_channels}")
        parts = [grid.values]
        if self.use_mask:
            parts.append(grid.mask.astype(np.float32))
        if self.use_delta:
            parts.append(np.log1p(grid.delta).astype(np.float32))
        feats = np.concatenate(parts, axis=1)
        if self.length is not None:
            feats = fixed_length(feats.T, self.length)[0].T
        return torch.from_numpy(np.ascontiguousarray(feats, dtype=np.float32))

    def collate(self, prepared: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Pads to the longest series: ``([b, T, F], mask [b, T])``."""
        return pad_with_mask(prepared, dim=0)

    def forward(self, batch: Any, mask: torch.Tensor | None = None) -> torch.Tensor:
        """``[b, T, F]`` or ``(x, mask)`` -> ``[b, dim]`` from the last real step."""
        x, mask = _split_batch(batch, mask)
        if x.dim() != 3 or x.shape[2] != self.in_features:
            raise InputError(f"{self.name}: expected [b, T, {self.in_features}], got "
                             f"{tuple(x.shape)}")
        lengths = (mask.sum(1) if mask is not None
                   else torch.full((x.shape[0],), x.shape[1])).clamp_min(1).cpu()
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True,
                                                   enforce_sorted=False)
        _, h_n = self.gru(packed)
        return self.head(self.drop(h_n[-1]))

    def extra_repr(self) -> str:
        return (f"in_channels={self.in_channels}, in_features={self.in_features}, "
                f"dim={self.dim}, hidden={self.hidden}, pretrained={self.pretrained}")
