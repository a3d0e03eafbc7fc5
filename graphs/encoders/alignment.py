"""Cross-modal alignment: projection heads, the CLIP loss, training, zero-shot, retrieval.

Two modalities (say ECG and report text) are mapped by an encoder each, then by a
:class:`ProjectionHead` into one L2-normalised space where matching pairs score high.
:func:`info_nce` is the symmetric CLIP/InfoNCE loss with in-batch negatives;
:func:`train_contrastive` is a short, resumable training loop; :func:`zero_shot_classify`
and :func:`retrieval_recall_at_k` evaluate the shared space.

Examples:
    >>> import torch
    >>> _ = torch.manual_seed(0)
    >>> text = torch.randn(16, 384)                  # e.g. TextEncoder().encode(reports)
    >>> signals = text[:, :12] + 0.1 * torch.randn(16, 12)   # a paired second modality
    >>> model = ContrastiveAligner(12, 384, dim=32)  # both sides precomputed vectors
    >>> loader = [(signals, text)]                   # one batch of 16 pairs
    >>> history = train_contrastive(model, loader, epochs=20, lr=1e-2, progress=False)
    >>> history[-1] < history[0]
    True
    >>> za, zb = model.embed(signals, text)
    >>> retrieval_recall_at_k(za, zb, k=(1,))["a2b@1"] > 0.5
    True
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from graphs.encoders.base import Encoder
from ontologies.atomic import atomic_torch_save, safe_torch_load
from ontologies.errors import ConfigError, InputError, ParseError, SchemaError

__all__ = [
    "ProjectionHead",
    "info_nce",
    "ContrastiveAligner",
    "train_contrastive",
    "zero_shot_classify",
    "retrieval_recall_at_k",
]

log = logging.getLogger(__name__)

CHECKPOINT_NAME = "last.pt"
_MAX_LOGIT_SCALE = math.log(100.0)  # CLIP clamps exp(logit_scale) at 100


class ProjectionHead(nn.Module):
    """Maps ``[n, in_dim]`` into the shared space ``[n, out_dim]`` with unit L2 norm.

    Linear when ``hidden`` is ``None``, else Linear-GELU-Dropout-Linear.

    Args:
        in_dim: Input size (the encoder's embedding size).
        out_dim: Shared space size.
        hidden: Hidden width of a two-layer head, or ``None`` for a linear map.
        dropout: Dropout after the hidden layer.

    Examples:
        >>> z = ProjectionHead(8, 4, hidden=16)(torch.randn(3, 8))
        >>> z.shape, torch.allclose(z.norm(dim=1), torch.ones(3))
        (torch.Size([3, 4]), True)
    """

    def __init__(self, in_dim: int, out_dim: int, hidden: int | None = None,
                 dropout: float = 0.0):
        super().__init__()
        if in_dim <= 0 or out_dim <= 0 or (hidden is not None and hidden <= 0):
            raise ConfigError(f"in_dim, out_dim and hidden must be positive, got {in_dim}, "
                              f"{out_dim}, {hidden}")
        self.in_dim, self.out_dim, self.hidden, self.dropout = in_dim, out_dim, hidden, dropout
        if hidden is None:
            self.net = nn.Linear(in_dim, out_dim)
        else:
            self.net = nn.Sequential(nn.Linear(in_dim, hidden), nn.GELU(), nn.Dropout(dropout),
                                     nn.Linear(hidden, out_dim))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-initialises the linear layers (PyTorch defaults)."""
        for module in self.modules():
            if isinstance(module, nn.Linear):
                module.reset_parameters()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[n, in_dim]`` -> unit-norm ``[n, out_dim]``."""
        if x.dim() != 2 or x.shape[1] != self.in_dim:
            raise InputError(f"projection head expects [n, {self.in_dim}], got "
                             f"{tuple(x.shape)}")
        return F.normalize(self.net(x), dim=-1)

    def extra_repr(self) -> str:
        return f"in_dim={self.in_dim}, out_dim={self.out_dim}, hidden={self.hidden}"


def info_nce(a: torch.Tensor, b: torch.Tensor,
             temperature: float | torch.Tensor = 0.07, normalize: bool = True) -> torch.Tensor:
    """Symmetric InfoNCE (CLIP) loss: row ``i`` of ``a`` and ``b`` are a pair, every
    other row in the batch is a negative.

    ``loss = (CE(a b^T / T, I) + CE(b a^T / T, I)) / 2``.

    Args:
        a: ``[n, d]`` embeddings of modality A.
        b: ``[n, d]`` embeddings of modality B (row-aligned with ``a``).
        temperature: Softmax temperature ``T`` (float or a tensor, e.g.
            ``1 / logit_scale.exp()``).
        normalize: L2-normalise rows first (cosine similarity).

    Examples:
        >>> e = torch.eye(2)
        >>> round(info_nce(e, e, temperature=1.0).item(), 5)   # log(1 + 1/e)
        0.31326
    """
    if a.dim() != 2 or a.shape != b.shape:
        raise InputError(f"info_nce needs two [n, d] tensors of equal shape, got "
                         f"{tuple(a.shape)} and {tuple(b.shape)}")
    if a.shape[0] < 2:
        raise InputError("info_nce needs at least 2 pairs per batch (in-batch negatives)")
    if isinstance(temperature, (int, float)) and temperature <= 0:
        raise InputError(f"temperature must be positive, got {temperature}")
    if normalize:
        a, b = F.normalize(a, dim=-1), F.normalize(b, dim=-1)
    logits = a @ b.T / temperature
    target = torch.arange(a.shape[0], device=a.device)
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2


def _side(side: nn.Module | int, dim: int | None, label: str) -> tuple[nn.Module | None, int]:
    if isinstance(side, int):
        return None, side
    if not isinstance(side, nn.Module):
        raise ConfigError(f"encoder_{label} must be a torch module or an int (the size of "
                          f"precomputed embeddings), got {type(side).__name__}")
    out = dim if dim is not None else getattr(side, "dim", None)
    if out is None:
        raise ConfigError(f"cannot tell the output size of encoder_{label} "
                          f"({type(side).__name__}); pass {label}_dim=")
    return side, int(out)


class ContrastiveAligner(nn.Module):
    """Two encoders (or precomputed embeddings) plus projection heads into a shared space.

    Args:
        encoder_a: Module for modality A (e.g. ``TemporalCNNEncoder``), or an int: the
            size of precomputed A embeddings fed directly.
        encoder_b: Same for modality B; typically ``384`` for precomputed MiniLM text
            embeddings.
        dim: Shared space size.
        hidden: Hidden width of both projection heads (``None`` = linear).
        dropout: Dropout in the heads.
        temperature: Initial softmax temperature.
        learn_temperature: Learn ``logit_scale = log(1/T)`` (clamped to <= log 100, as
            in CLIP) instead of keeping ``T`` fixed.
        a_dim, b_dim: Output sizes of modules without a ``dim`` attribute.
        freeze_a, freeze_b: Keep that encoder's weights fixed (heads still train).

    An :class:`~graphs.encoders.base.Encoder` side given raw items (lists of strings,
    paths, arrays) runs them through ``prepare``/``collate`` with gradients.

    Examples:
        >>> m = ContrastiveAligner(6, 10, dim=4)
        >>> za, zb = m.embed(torch.randn(5, 6), torch.randn(5, 10))
        >>> za.shape, bool(m.loss(torch.randn(5, 6), torch.randn(5, 10)) > 0)
        (torch.Size([5, 4]), True)
    """

    def __init__(self, encoder_a: nn.Module | int, encoder_b: nn.Module | int, dim: int = 128,
                 hidden: int | None = None, dropout: float = 0.0, temperature: float = 0.07,
                 learn_temperature: bool = True, a_dim: int | None = None,
                 b_dim: int | None = None, freeze_a: bool = False, freeze_b: bool = False):
        super().__init__()
        if not temperature > 0:
            raise ConfigError(f"temperature must be positive, got {temperature}")
        self.encoder_a, self.a_dim = _side(encoder_a, a_dim, "a")
        self.encoder_b, self.b_dim = _side(encoder_b, b_dim, "b")
        self.dim, self.temperature = dim, temperature
        self.learn_temperature = learn_temperature
        self.head_a = ProjectionHead(self.a_dim, dim, hidden, dropout)
        self.head_b = ProjectionHead(self.b_dim, dim, hidden, dropout)
        init = torch.tensor(math.log(1.0 / temperature))
        if learn_temperature:
            self.logit_scale = nn.Parameter(init)
        else:
            self.register_buffer("logit_scale", init)
        for enc, frozen in ((self.encoder_a, freeze_a), (self.encoder_b, freeze_b)):
            if enc is not None and frozen:
                enc.requires_grad_(False)

    @staticmethod
    def _run(encoder: nn.Module | None, x: Any) -> torch.Tensor:
        if encoder is None:
            return torch.as_tensor(x, dtype=torch.float32)
        if isinstance(encoder, Encoder) and not torch.is_tensor(x) and not (
                isinstance(x, tuple) and all(torch.is_tensor(t) for t in x)):
            return encoder.encode_batch(list(x))  # raw items: prepare + collate + forward
        return encoder(x)

    def embed_a(self, x: Any) -> torch.Tensor:
        """Modality A batch -> unit vectors ``[n, dim]``."""
        return self.head_a(self._run(self.encoder_a, x))

    def embed_b(self, x: Any) -> torch.Tensor:
        """Modality B batch -> unit vectors ``[n, dim]``."""
        return self.head_b(self._run(self.encoder_b, x))

    def embed(self, xa: Any, xb: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """Both sides, in eval mode without gradients (for evaluation)."""
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                return self.embed_a(xa), self.embed_b(xb)
        finally:
            self.train(was_training)

    def forward(self, xa: Any, xb: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """``(za, zb)``, each ``[n, dim]`` with unit rows."""
        return self.embed_a(xa), self.embed_b(xb)

    def current_temperature(self) -> torch.Tensor:
        """``1 / exp(logit_scale)`` with the CLIP clamp applied."""
        return 1.0 / self.logit_scale.clamp(max=_MAX_LOGIT_SCALE).exp()

    def loss(self, xa: Any, xb: Any) -> torch.Tensor:
        """Symmetric InfoNCE of one batch of pairs."""
        za, zb = self(xa, xb)
        return info_nce(za, zb, self.current_temperature(), normalize=False)

    def extra_repr(self) -> str:
        return (f"a_dim={self.a_dim}, b_dim={self.b_dim}, dim={self.dim}, "
                f"learn_temperature={self.learn_temperature}")


def _seed_epoch(loader: Iterable, seed: int) -> None:
    """Seeds everything an epoch draws from, so epoch ``e`` is the same whether or not
    training was interrupted before it (global RNG: shuffling, dropout)."""
    torch.manual_seed(seed)
    for owner in (loader, getattr(loader, "sampler", None),
                  getattr(getattr(loader, "batch_sampler", None), "sampler", None)):
        gen = getattr(owner, "generator", None)
        if isinstance(gen, torch.Generator):
            gen.manual_seed(seed)


def train_contrastive(model: ContrastiveAligner, loader: Iterable, epochs: int = 10,
                      lr: float = 1e-3, checkpoint_dir: str | os.PathLike | None = None,
                      seed: int = 0, progress: bool = True,
                      weight_decay: float = 0.0) -> list[float]:
    """Trains ``model`` with AdamW on batches ``(xa, xb)`` of paired items.

    Every epoch starts by seeding torch with ``seed + epoch`` (and the loader's own
    generator, if any), so an interrupted run resumed from its checkpoint ends with the
    same weights as an uninterrupted one.

    Args:
        model: The aligner.
        loader: Re-iterable batches ``(xa, xb)`` (a DataLoader, or a list of pairs).
        epochs: Total epochs (a resumed run continues up to this number).
        lr: AdamW learning rate.
        checkpoint_dir: If set, ``last.pt`` (model, optimiser, epoch, history) is written
            atomically there after every epoch and training resumes from it.
        seed: Base seed.
        progress: Show a tqdm bar over epochs.
        weight_decay: AdamW weight decay.

    Returns:
        Mean training loss per epoch (including epochs from a resumed checkpoint).

    Raises:
        ParseError: ``checkpoint_dir`` holds a ``last.pt`` that is truncated, corrupt or
            not written by this function (the message names it).
        SchemaError: That checkpoint is of another model or optimiser.
    """
    if epochs < 0 or not lr > 0:
        raise ConfigError(f"epochs must be >= 0 and lr > 0, got epochs={epochs}, lr={lr}")
    torch.manual_seed(seed)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    history: list[float] = []
    start = 0
    path = Path(checkpoint_dir) / CHECKPOINT_NAME if checkpoint_dir is not None else None
    if path is not None and path.is_file():
        start, history = _resume(path, model, optimizer)
        log.info("resuming contrastive training from %s at epoch %d", path, start)
    bar = tqdm(range(start, epochs), desc="align", disable=not progress, leave=False)
    for epoch in bar:
        _seed_epoch(loader, seed + epoch)
        model.train()
        total, batches = 0.0, 0
        for xa, xb in loader:
            loss = model.loss(xa, xb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total, batches = total + float(loss.detach()), batches + 1
        if batches == 0:
            raise InputError("the loader yielded no batches")
        history.append(total / batches)
        bar.set_postfix(loss=f"{history[-1]:.4f}")
        if path is not None:
            atomic_torch_save({"epoch": epoch + 1, "model": model.state_dict(),
                               "optimizer": optimizer.state_dict(), "history": history,
                               "seed": seed}, path)
    model.eval()
    return history


def _resume(path: Path, model: nn.Module, optimizer: torch.optim.Optimizer
            ) -> tuple[int, list[float]]:
    """Loads a :func:`train_contrastive` checkpoint into ``model`` and ``optimizer``;
    returns the completed epochs and their losses."""
    state = safe_torch_load(path, "contrastive training checkpoint")
    try:
        if not isinstance(state, dict):
            raise TypeError(f"payload is a {type(state).__name__}, not a dict")
        start, history = int(state["epoch"]), [float(v) for v in state["history"]]
        if len(history) != start:
            raise ValueError(f"epoch {start} with {len(history)} history entries")
    except (KeyError, TypeError, ValueError) as err:
        raise ParseError(f"malformed contrastive training checkpoint ({type(err).__name__}: "
                         f"{err}); expected the keys epoch, model, optimizer and history "
                         "that train_contrastive writes", path) from err
    try:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
    except (KeyError, RuntimeError, ValueError, TypeError, AttributeError) as err:
        raise SchemaError(f"{path}: checkpoint does not fit this model/optimiser "
                          f"({type(err).__name__}: {err}); use another checkpoint_dir to "
                          "start afresh") from err
    return start, history


def zero_shot_classify(embeddings: torch.Tensor, class_text_embeddings: torch.Tensor,
                       temperature: float = 0.01) -> torch.Tensor:
    """Class probabilities from cosine similarity to one text embedding per class.

    Args:
        embeddings: ``[n, d]`` items in the shared space.
        class_text_embeddings: ``[k, d]`` class prompts (e.g. "atrial fibrillation") in
            the same space.
        temperature: Softmax temperature (0.01 = CLIP's clamped logit scale 100).

    Returns:
        ``[n, k]`` probabilities (rows sum to 1).

    Examples:
        >>> probs = zero_shot_classify(torch.tensor([[1.0, 0.1]]), torch.eye(2))
        >>> probs.argmax(1).tolist()
        [0]
    """
    if embeddings.dim() != 2 or class_text_embeddings.dim() != 2 or \
            embeddings.shape[1] != class_text_embeddings.shape[1]:
        raise InputError(f"expected [n, d] and [k, d], got {tuple(embeddings.shape)} and "
                         f"{tuple(class_text_embeddings.shape)}")
    sims = F.normalize(embeddings, dim=-1) @ F.normalize(class_text_embeddings, dim=-1).T
    return torch.softmax(sims / temperature, dim=-1)


def retrieval_recall_at_k(query: torch.Tensor, gallery: torch.Tensor,
                          k: Iterable[int] = (1, 5, 10)) -> dict[str, float]:
    """Recall@k in both directions where ``query[i]`` matches ``gallery[i]``.

    A hit at ``k`` means fewer than ``k`` wrong items score strictly higher than the
    right one (ties count in the query's favour).

    Returns:
        ``{"a2b@k": ..., "b2a@k": ...}`` for each ``k`` (``a`` = query side).

    Examples:
        >>> q = torch.eye(3)
        >>> retrieval_recall_at_k(q, q[[0, 2, 1]], k=(1, 2))
        {'a2b@1': 0.3333333432674408, 'b2a@1': 0.3333333432674408, 'a2b@2': 1.0, 'b2a@2': 1.0}
    """
    if query.dim() != 2 or query.shape != gallery.shape:
        raise InputError(f"query and gallery must be [n, d] of equal shape, got "
                         f"{tuple(query.shape)} and {tuple(gallery.shape)}")
    sims = F.normalize(query.float(), dim=-1) @ F.normalize(gallery.float(), dim=-1).T
    right = sims.diagonal()
    rank_a2b = (sims > right[:, None]).sum(1)  # wrong gallery items above the right one
    rank_b2a = (sims > right[None, :]).sum(0)
    out: dict[str, float] = {}
    for kk in k:
        if int(kk) <= 0:
            raise InputError(f"k must be positive, got {kk}")
        out[f"a2b@{kk}"] = float((rank_a2b < kk).float().mean())
        out[f"b2a@{kk}"] = float((rank_b2a < kk).float().mean())
    return out
