"""Genomic inputs: nucleotide encodings (one-hot, k-mers) and a motif CNN.

Sequences are DNA (``ACGTN``; RNA ``U`` is read as ``T``). :class:`MotifCNNEncoder`
(``"genomic_cnn"``) scans one-hot sequences with learned position weight matrices on
both strands. The FASTA and VCF readers (:func:`read_fasta`, :func:`read_vcf`,
:func:`gene_features`) live in :mod:`graphs.encoders.genomic_io` and are re-exported
here.

Examples:
    >>> one_hot("ACGTN")
    array([[1.  , 0.  , 0.  , 0.  , 0.25],
           [0.  , 1.  , 0.  , 0.  , 0.25],
           [0.  , 0.  , 1.  , 0.  , 0.25],
           [0.  , 0.  , 0.  , 1.  , 0.25]], dtype=float32)
    >>> kmer_tokens("ACGTA", 3)
    ['ACG', 'CGT', 'GTA']
    >>> enc = MotifCNNEncoder(dim=4, n_motifs=8, motif_length=5)
    >>> enc.encode(["ACGTACGTTT", "GGA"], progress=False).shape
    torch.Size([2, 4])
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
from graphs.encoders.genomic_io import (
    IMPACT_SCALE,
    FastaRecord,
    gene_features,
    read_fasta,
    read_vcf,
)
from graphs.encoders.signal import pad_with_mask
from ontologies.errors import InputError

__all__ = [
    "FastaRecord",
    "read_fasta",
    "one_hot",
    "kmer_tokens",
    "kmer_ids",
    "MotifCNNEncoder",
    "read_vcf",
    "gene_features",
    "IMPACT_SCALE",
]

# byte -> row of the one-hot matrix (A, C, G, T); N -> 4; anything else -> 5 (invalid)
_LOOKUP = np.full(256, 5, dtype=np.int8)
for _i, _chars in enumerate(["Aa", "Cc", "Gg", "TtUu", "Nn"]):
    for _c in _chars:
        _LOOKUP[ord(_c)] = _i


def _codes(seq: str) -> np.ndarray:
    """Sequence -> int8 codes 0-3 (ACGT/U), 4 (N); raises on anything else."""
    if not isinstance(seq, str):
        raise InputError(f"expected a nucleotide string, got {type(seq).__name__}")
    if not seq:
        raise InputError("empty sequence")
    try:
        raw = np.frombuffer(seq.encode("ascii"), dtype=np.uint8)
    except UnicodeEncodeError as err:
        raise InputError(f"non-ASCII character in sequence at position {err.start + 1}; "
                         "expected A, C, G, T, N or U") from err
    codes = _LOOKUP[raw]
    bad = np.flatnonzero(codes == 5)
    if bad.size:
        raise InputError(f"invalid nucleotide {seq[bad[0]]!r} at position {bad[0] + 1}; "
                         "expected A, C, G, T, N or U")
    return codes


def one_hot(seq: str, n_value: float = 0.25) -> np.ndarray:
    """One-hot encodes a sequence as float32 ``[4, L]`` with rows A, C, G, T.

    ``U`` counts as ``T``. ``N`` (unknown base) becomes ``n_value`` in all four rows:
    0.25 (the default) is a uniform base distribution, so a motif scores the expected
    value over bases; 0 makes unknown bases contribute nothing.

    Examples:
        >>> one_hot("aUn", n_value=0.0).astype(int)
        array([[1, 0, 0],
               [0, 0, 0],
               [0, 0, 0],
               [0, 1, 0]])
    """
    codes = _codes(seq)
    eye = np.vstack([np.eye(4, dtype=np.float32), np.full((1, 4), n_value, np.float32)])
    return np.ascontiguousarray(eye[codes].T)


def kmer_tokens(seq: str, k: int = 3, stride: int = 1) -> list[str]:
    """Overlapping k-mers as strings (upper-case, ``U`` kept as written).

    Examples:
        >>> kmer_tokens("acgtac", 4, stride=2)
        ['ACGT', 'GTAC']
    """
    if k <= 0 or stride <= 0:
        raise InputError(f"k and stride must be positive, got k={k}, stride={stride}")
    _codes(seq)  # validates the alphabet
    up = seq.upper()
    return [up[i:i + k] for i in range(0, len(up) - k + 1, stride)]


def kmer_ids(seq: str, k: int = 3) -> np.ndarray:
    """Overlapping k-mers as integer ids in ``[0, 4**k]`` (base 4, A=0 ... T=3).

    A k-mer containing ``N`` gets the extra id ``4**k`` (unknown), so the vocabulary
    has ``4**k + 1`` entries. Vectorised: no Python loop over positions.

    Examples:
        >>> kmer_ids("ACGTN", 2).tolist()
        [1, 6, 11, 16]
    """
    if k <= 0:
        raise InputError(f"k must be positive, got {k}")
    codes = _codes(seq).astype(np.int64)
    if len(codes) < k:
        return np.zeros(0, dtype=np.int64)
    windows = np.lib.stride_tricks.sliding_window_view(codes, k)
    ids = (windows.clip(max=3) * 4 ** np.arange(k - 1, -1, -1)).sum(axis=1)
    return np.where((windows == 4).any(axis=1), 4 ** k, ids)


@ENCODERS.register("genomic_cnn")
class MotifCNNEncoder(Encoder):
    """Motif detectors (1D convolutions) with masked global max pooling, both strands.

    Each filter is a learnable position weight matrix of ``motif_length`` bases. With
    ``both_strands`` the reverse complement is scanned too and the stronger hit kept,
    so a motif is found whichever strand it sits on.

    Args:
        dim: Embedding size.
        n_motifs: Number of motif filters.
        motif_length: Filter width in bases.
        n_value: One-hot value for ``N`` (see :func:`one_hot`).
        max_length: Crop sequences longer than this (``None`` = keep).
        both_strands: Also scan the reverse complement.
        dropout: Dropout on pooled motif scores.
        cache_dir: Optional embedding cache folder.

    Shapes:
        ``forward``: ``[b, 4, L]`` (+ mask ``[b, L]``) -> ``[b, dim]``.
    """

    name = "genomic_cnn"

    def __init__(self, dim: int = 128, n_motifs: int = 64, motif_length: int = 12,
                 n_value: float = 0.25, max_length: int | None = None,
                 both_strands: bool = True, dropout: float = 0.0,
                 cache_dir: str | os.PathLike | None = None):
        super().__init__(dim=dim, pretrained=False, cache_dir=cache_dir)
        if n_motifs <= 0 or motif_length <= 0:
            raise InputError(f"n_motifs and motif_length must be positive, got {n_motifs}, "
                             f"{motif_length}")
        self.n_motifs, self.motif_length, self.n_value = n_motifs, motif_length, n_value
        self.max_length, self.both_strands = max_length, both_strands
        self.motifs = nn.Conv1d(4, n_motifs, motif_length)  # "same" padding in _scan
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(n_motifs, dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-initialises the motif filters and the projection (PyTorch defaults)."""
        self.motifs.reset_parameters()
        self.head.reset_parameters()

    def config(self) -> dict[str, Any]:
        return {"dim": self.dim, "n_motifs": self.n_motifs, "motif_length": self.motif_length,
                "n_value": self.n_value, "max_length": self.max_length,
                "both_strands": self.both_strands}

    def prepare(self, item: Any) -> torch.Tensor:
        """Sequence string, :class:`FastaRecord`, one-hot ``[4, L]`` or a single-record
        FASTA path -> one-hot tensor ``[4, L]``."""
        if isinstance(item, (Path, os.PathLike)) or (
                isinstance(item, str) and os.path.isfile(item)):
            records = read_fasta(item)
            if len(records) != 1:
                raise InputError(f"{item}: holds {len(records)} FASTA records; encode "
                                 "read_fasta(path) to embed each one")
            item = records[0]
        if isinstance(item, FastaRecord):
            item = item.sequence
        if isinstance(item, str):
            x = one_hot(item, self.n_value)
        else:
            x = np.asarray(item.detach().cpu() if torch.is_tensor(item) else item,
                           dtype=np.float32)
            if x.ndim != 2 or x.shape[0] != 4 or x.shape[1] == 0:
                raise InputError(f"{self.name}: expected a one-hot array [4, L], got shape "
                                 f"{x.shape}")
        if self.max_length is not None:
            x = x[:, :self.max_length]
        return torch.from_numpy(np.ascontiguousarray(x))

    def collate(self, prepared: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Pads to the longest sequence with zeros: ``([b, 4, L], mask [b, L])``."""
        return pad_with_mask(prepared, dim=-1)

    def _scan(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        k = self.motif_length  # pad to keep length L (explicitly: even k is allowed)
        scores = F.relu(self.motifs(F.pad(x, ((k - 1) // 2, k // 2))))
        return scores.masked_fill(~mask[:, None, :], float("-inf")).amax(-1)

    def forward(self, batch: Any, mask: torch.Tensor | None = None) -> torch.Tensor:
        """``[b, 4, L]`` or ``(x, mask)`` -> ``[b, dim]``."""
        if isinstance(batch, (tuple, list)):
            batch, mask = batch
        x = batch
        if x.dim() != 3 or x.shape[1] != 4:
            raise InputError(f"{self.name}: expected one-hot [b, 4, L], got {tuple(x.shape)}")
        if mask is None:
            mask = torch.ones(x.shape[0], x.shape[2], dtype=torch.bool, device=x.device)
        pooled = self._scan(x, mask)
        if self.both_strands:
            # reverse complement: A<->T, C<->G is flipping the row order; then reverse
            # the positions. Right padding becomes left padding, which the mask follows.
            pooled = torch.maximum(pooled, self._scan(x.flip(1, 2), mask.flip(1)))
        return self.head(self.drop(pooled))

    def extra_repr(self) -> str:
        return (f"dim={self.dim}, n_motifs={self.n_motifs}, motif_length={self.motif_length}, "
                f"both_strands={self.both_strands}, pretrained={self.pretrained}")
