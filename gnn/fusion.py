"""Multimodal fusion of per-patient modality vectors, robust to missing modalities.

Every fusion maps ``features: {modality: [n, d_m]}`` and ``masks: {modality: Bool[n]}``
(True = the patient has that modality) to ``[n, out_channels]``. A masked-out modality
never contributes: its input is replaced by zeros before anything reads it (so even
NaNs there are harmless) and its weight in any pooling is exactly zero.

Strategies (``get(name, ...)``): ``early`` (concatenate inputs + mask indicators),
``intermediate`` (per-modality encoders, then joint layers), ``late`` (per-modality
predictors, averaged or learned-weighted over the available ones), ``attention`` (a CLS
token cross-attends to modality tokens; weights in ``.last_attention``) and ``gated``
(softmax-gated sum of encoded modalities; gates in ``.last_gates``). All accept
``modality_dropout``: during training, available modalities are hidden at random (each
row keeps at least one) so the model learns to cope with missing ones; ``gated``
defaults it to 0.2.

Examples:
    >>> import torch
    >>> torch.manual_seed(0) and None
    >>> fusion = get("attention", in_channels={"text": 6, "image": 4}, out_channels=2)
    >>> feats = {"text": torch.randn(3, 6), "image": torch.randn(3, 4)}
    >>> masks = {"text": torch.tensor([True, True, False]),
    ...          "image": torch.tensor([True, False, True])}
    >>> fusion.eval()(feats, masks).shape
    torch.Size([3, 2])
    >>> fusion.last_attention[1]  # row 1 has no image: zero weight on that token
    tensor([..., ..., 0.0000])
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch_geometric.nn import MLP

from gnn.models.base import check_dropout, check_positive
from ontologies.errors import ConfigError, InputError
from ontologies.registry import Registry

__all__ = [
    "FUSIONS",
    "get",
    "Fusion",
    "EarlyFusion",
    "IntermediateFusion",
    "LateFusion",
    "AttentionFusion",
    "GatedFusion",
]

#: Registry of fusion classes by name.
FUSIONS: Registry[type[nn.Module]] = Registry("fusion")


def get(name: str, **kwargs: Any) -> Fusion:
    """Instantiates the fusion registered as ``name`` with ``kwargs``."""
    return FUSIONS.get(name)(**kwargs)


def _mlp(sizes: list[int], dropout: float) -> MLP:
    return MLP(sizes, dropout=dropout, norm=None)


def _masked_softmax(scores: Tensor, mask: Tensor) -> Tensor:
    """Softmax over the True entries of each row; rows with none get all zeros.

    A finite fill (not -inf) keeps gradients free of NaN for all-masked rows.
    """
    filled = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
    return torch.softmax(filled, dim=-1) * mask


class Fusion(nn.Module):
    """Base class: input validation, zero-filling of missing modalities, modality dropout.

    Args:
        in_channels: Feature size per modality; its key order fixes the modality order.
        out_channels: Output size.
        hidden_channels: Width of encoders/joint layers.
        dropout: Feature dropout inside the MLPs.
        modality_dropout: Probability of hiding an available modality per row in training.
    """

    def __init__(
        self,
        in_channels: dict[str, int],
        out_channels: int,
        hidden_channels: int = 64,
        dropout: float = 0.1,
        modality_dropout: float = 0.0,
    ):
        super().__init__()
        if not in_channels:
            raise ConfigError("in_channels must name at least one modality")
        self.in_channels = {m: check_positive(f"in_channels[{m!r}]", d)
                            for m, d in in_channels.items()}
        self.modalities = list(self.in_channels)
        self.out_channels = check_positive("out_channels", out_channels)
        self.hidden_channels = check_positive("hidden_channels", hidden_channels)
        self.dropout = check_dropout(dropout)
        self.modality_dropout = check_dropout(modality_dropout, "modality_dropout")

    def reset_parameters(self) -> None:
        """Re-initialises every sub-layer."""
        for module in self.modules():
            if module is not self and hasattr(module, "reset_parameters"):
                module.reset_parameters()

    def prepare(
        self, features: dict[str, Tensor], masks: dict[str, Tensor] | None
    ) -> tuple[list[Tensor], Tensor]:
        """Validates inputs; returns zero-filled features (modality order) and ``Bool[n, M]``.

        A modality absent from ``masks`` (or ``masks=None``) counts as available for every
        row.
        """
        masks = {} if masks is None else masks
        unknown = sorted(set(features) - set(self.modalities))
        unknown += sorted(set(masks) - set(self.modalities) - set(unknown))
        missing = [m for m in self.modalities if m not in features]
        if unknown or missing:
            raise InputError(
                f"fusion expects modalities {self.modalities}; missing {missing}, "
                f"unknown {unknown}"
            )
        bad = [m for m in self.modalities if not torch.is_tensor(features[m])]
        bad += [m for m, v in masks.items() if v is not None and not torch.is_tensor(v)]
        if bad:
            raise InputError(f"features/masks of {bad} must be tensors")
        first = features[self.modalities[0]]
        n = first.size(0) if first.dim() else -1
        xs, ms = [], []
        for m in self.modalities:
            x, d = features[m], self.in_channels[m]
            if x.dim() != 2 or x.size(0) != n or x.size(1) != d:
                raise InputError(
                    f"features[{m!r}] must be [{n}, {d}], got shape {tuple(x.shape)}"
                )
            mask = masks.get(m)
            if mask is None:
                mask = torch.ones(n, dtype=torch.bool, device=x.device)
            if mask.dtype != torch.bool or mask.shape != (n,):
                raise InputError(
                    f"masks[{m!r}] must be a BoolTensor [{n}], got {mask.dtype} of "
                    f"shape {tuple(mask.shape)}"
                )
            # where(), not multiply: 0 * NaN would leak NaN from a missing modality.
            xs.append(torch.where(mask.unsqueeze(-1), x, torch.zeros((), dtype=x.dtype)))
            ms.append(mask)
        mask = torch.stack(ms, dim=1)
        if self.training and self.modality_dropout > 0:
            drop = torch.rand(mask.shape, device=mask.device) < self.modality_dropout
            kept = mask & ~drop
            # A row that would lose every modality keeps what it had.
            kept = torch.where(kept.any(1, keepdim=True), kept, mask)
            xs = [torch.where(kept[:, i : i + 1], x, torch.zeros((), dtype=x.dtype))
                  for i, x in enumerate(xs)]
            mask = kept
        return xs, mask

    def __repr__(self) -> str:
        mods = ", ".join(f"{m}={d}" for m, d in self.in_channels.items())
        return f"{self.__class__.__name__}({{{mods}}}, {self.out_channels})"


@FUSIONS.register("early")
class EarlyFusion(Fusion):
    """Concatenates all (zero-filled) inputs and the mask indicators, then an MLP."""

    def __init__(self, in_channels: dict[str, int], out_channels: int, num_layers: int = 2,
                 **kwargs: Any):
        super().__init__(in_channels, out_channels, **kwargs)
        width = sum(self.in_channels.values()) + len(self.modalities)
        sizes = [width] + [self.hidden_channels] * (num_layers - 1) + [out_channels]
        self.mlp = _mlp(sizes, self.dropout)
        self.reset_parameters()

    def forward(self, features: dict[str, Tensor], masks: dict[str, Tensor]) -> Tensor:
        """``{m: [n, d_m]}``, ``{m: Bool[n]}`` -> ``[n, out_channels]``."""
        xs, mask = self.prepare(features, masks)
        return self.mlp(torch.cat(xs + [mask.to(xs[0].dtype)], dim=-1))


class _Encoded(Fusion):
    """Adds one MLP encoder ``d_m -> hidden`` per modality."""

    def __init__(self, in_channels: dict[str, int], out_channels: int, **kwargs: Any):
        super().__init__(in_channels, out_channels, **kwargs)
        h = self.hidden_channels
        self.encoders = nn.ModuleDict(
            {m: _mlp([d, h, h], self.dropout) for m, d in self.in_channels.items()}
        )

    def encode(self, xs: list[Tensor], mask: Tensor) -> Tensor:
        """``[n, M, hidden]`` encodings, zero for missing modalities."""
        hs = torch.stack([self.encoders[m](x) for m, x in zip(self.modalities, xs)], dim=1)
        return torch.where(mask.unsqueeze(-1), hs, torch.zeros((), dtype=hs.dtype))


@FUSIONS.register("intermediate")
class IntermediateFusion(_Encoded):
    """Per-modality encoders; their concatenation plus mask indicators feeds joint layers."""

    def __init__(self, in_channels: dict[str, int], out_channels: int, **kwargs: Any):
        super().__init__(in_channels, out_channels, **kwargs)
        m, h = len(self.modalities), self.hidden_channels
        self.joint = _mlp([m * h + m, h, out_channels], self.dropout)
        self.reset_parameters()

    def forward(self, features: dict[str, Tensor], masks: dict[str, Tensor]) -> Tensor:
        """``{m: [n, d_m]}``, ``{m: Bool[n]}`` -> ``[n, out_channels]``."""
        xs, mask = self.prepare(features, masks)
        hs = self.encode(xs, mask).flatten(1)
        return self.joint(torch.cat([hs, mask.to(hs.dtype)], dim=-1))


@FUSIONS.register("late")
class LateFusion(Fusion):
    """One predictor per modality; outputs combined over the available modalities.

    Args:
        combine: ``"weighted"`` (softmax of learned per-modality weights, renormalised
            over the available ones) or ``"mean"`` (plain average).
        **kwargs: See :class:`Fusion`.

    Rows with no modality get a learned constant (the prior).
    """

    def __init__(self, in_channels: dict[str, int], out_channels: int,
                 combine: str = "weighted", **kwargs: Any):
        super().__init__(in_channels, out_channels, **kwargs)
        if combine not in ("weighted", "mean"):
            raise ConfigError(f"combine must be 'weighted' or 'mean', got {combine!r}")
        self.combine = combine
        h = self.hidden_channels
        self.predictors = nn.ModuleDict(
            {m: _mlp([d, h, out_channels], self.dropout) for m, d in self.in_channels.items()}
        )
        self.weight = nn.Parameter(torch.zeros(len(self.modalities)))
        self.prior = nn.Parameter(torch.zeros(out_channels))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-initialises predictors; weights start equal and the prior at zero."""
        super().reset_parameters()
        nn.init.zeros_(self.weight)
        nn.init.zeros_(self.prior)

    def forward(self, features: dict[str, Tensor], masks: dict[str, Tensor]) -> Tensor:
        """``{m: [n, d_m]}``, ``{m: Bool[n]}`` -> ``[n, out_channels]``."""
        xs, mask = self.prepare(features, masks)
        ys = torch.stack([self.predictors[m](x) for m, x in zip(self.modalities, xs)], dim=1)
        if self.combine == "weighted":
            scores = self.weight.expand(mask.shape)
        else:
            scores = torch.zeros(mask.shape, dtype=ys.dtype, device=ys.device)
        alpha = _masked_softmax(scores, mask)  # [n, M], zero on missing modalities
        ys = torch.where(mask.unsqueeze(-1), ys, torch.zeros((), dtype=ys.dtype))
        out = (alpha.unsqueeze(-1) * ys).sum(1)
        return torch.where(mask.any(1, keepdim=True), out, self.prior.expand_as(out))


@FUSIONS.register("attention")
class AttentionFusion(Fusion):
    """A learned CLS query cross-attends to one token per available modality.

    Tokens are ``Linear(x_m) + modality embedding``; the CLS token is also a key, so a
    row with no modality still has something to attend to. ``last_attention`` holds the
    head-averaged weights of the last call, ``[n, 1 + M]`` in the order
    ``attention_labels`` (``"cls"`` first).

    Args:
        heads: Attention heads (divide ``hidden_channels``).
        **kwargs: See :class:`Fusion`.
    """

    def __init__(self, in_channels: dict[str, int], out_channels: int, heads: int = 4,
                 **kwargs: Any):
        super().__init__(in_channels, out_channels, **kwargs)
        h = self.hidden_channels
        self.heads = check_positive("heads", heads)
        if h % heads:
            raise ConfigError(f"hidden_channels ({h}) must be divisible by heads ({heads})")
        self.tokens = nn.ModuleDict({m: nn.Linear(d, h) for m, d in self.in_channels.items()})
        self.modality_embedding = nn.Parameter(torch.empty(len(self.modalities), h))
        self.cls = nn.Parameter(torch.empty(1, 1, h))
        self.attention = nn.MultiheadAttention(h, heads, dropout=self.dropout, batch_first=True)
        self.norm = nn.LayerNorm(h)
        self.head = _mlp([h, h, out_channels], self.dropout)
        self.last_attention: Tensor | None = None
        self.reset_parameters()

    @property
    def attention_labels(self) -> list[str]:
        """Column names of :attr:`last_attention`."""
        return ["cls"] + self.modalities

    def reset_parameters(self) -> None:
        """Re-initialises projections, attention and head; small random CLS/embeddings."""
        super().reset_parameters()
        self.attention._reset_parameters()
        nn.init.normal_(self.modality_embedding, std=0.02)
        nn.init.normal_(self.cls, std=0.02)

    def forward(self, features: dict[str, Tensor], masks: dict[str, Tensor]) -> Tensor:
        """``{m: [n, d_m]}``, ``{m: Bool[n]}`` -> ``[n, out_channels]``."""
        xs, mask = self.prepare(features, masks)
        tokens = torch.stack([self.tokens[m](x) for m, x in zip(self.modalities, xs)], dim=1)
        tokens = tokens + self.modality_embedding  # [n, M, h]
        n = tokens.size(0)
        cls = self.cls.expand(n, -1, -1)
        keys = torch.cat([cls, tokens], dim=1)  # [n, 1 + M, h]
        padding = torch.cat([torch.zeros(n, 1, dtype=torch.bool, device=mask.device), ~mask], 1)
        attended, weights = self.attention(
            cls, keys, keys, key_padding_mask=padding, need_weights=True,
            average_attn_weights=True,
        )
        self.last_attention = weights.squeeze(1).detach()  # [n, 1 + M]
        return self.head(self.norm(cls.squeeze(1) + attended.squeeze(1)))


@FUSIONS.register("gated")
class GatedFusion(_Encoded):
    """Softmax-gated sum of the encoded available modalities, then an MLP head.

    Gate scores come from each modality's encoding; ``last_gates`` holds the weights of
    the last call, ``[n, M]`` (zero on missing modalities). Modality dropout defaults to
    0.2 here so the gates learn to do without any one modality.

    Args:
        **kwargs: See :class:`Fusion`.
    """

    def __init__(self, in_channels: dict[str, int], out_channels: int, **kwargs: Any):
        kwargs.setdefault("modality_dropout", 0.2)
        super().__init__(in_channels, out_channels, **kwargs)
        h = self.hidden_channels
        self.gate = nn.Linear(h, 1)
        self.head = _mlp([h, h, out_channels], self.dropout)
        self.last_gates: Tensor | None = None
        self.reset_parameters()

    def forward(self, features: dict[str, Tensor], masks: dict[str, Tensor]) -> Tensor:
        """``{m: [n, d_m]}``, ``{m: Bool[n]}`` -> ``[n, out_channels]``."""
        xs, mask = self.prepare(features, masks)
        hs = self.encode(xs, mask)  # [n, M, h]
        gates = _masked_softmax(self.gate(hs).squeeze(-1), mask)
        self.last_gates = gates.detach()
        return self.head((gates.unsqueeze(-1) * hs).sum(1))
