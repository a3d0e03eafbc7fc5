"""Task heads on top of node embeddings: link scoring and multi-label prediction.

Examples:
    >>> import torch
    >>> z = torch.randn(5, 8)
    >>> LinkPredictor(8, mode="dot")(z[[0, 1]], z[[2, 3]]).shape
    torch.Size([2])
    >>> MultiLabelHead(8, num_labels=4)(z).shape
    torch.Size([5, 4])
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch_geometric.nn import MLP

from gnn.models.base import check_dropout, check_positive
from ontologies.errors import ConfigError, InputError

__all__ = ["LinkPredictor", "MultiLabelHead"]


class LinkPredictor(nn.Module):
    """Scores (src, dst) pairs from their embeddings; returns logits (apply sigmoid).

    Args:
        in_channels: Embedding size of both ends.
        hidden_channels: Hidden width of the ``"mlp"`` scorer.
        mode: ``"dot"`` (inner product, no parameters) or ``"mlp"`` (MLP on the
            elementwise product and absolute difference, symmetric in src/dst).
        num_layers: Layers of the MLP scorer.
        dropout: Dropout inside the MLP scorer.
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int = 64,
        mode: str = "dot",
        num_layers: int = 2,
        dropout: float = 0.0,
    ):
        super().__init__()
        if mode not in ("dot", "mlp"):
            raise ConfigError(f"mode must be 'dot' or 'mlp', got {mode!r}")
        self.in_channels = check_positive("in_channels", in_channels)
        self.hidden_channels = check_positive("hidden_channels", hidden_channels)
        self.mode = mode
        self.num_layers = check_positive("num_layers", num_layers)
        self.dropout = check_dropout(dropout)
        self.mlp = None
        if mode == "mlp":
            sizes = [2 * in_channels] + [hidden_channels] * (num_layers - 1) + [1]
            self.mlp = MLP(sizes, dropout=self.dropout, norm=None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-initialises the MLP scorer (the dot scorer has no parameters)."""
        if self.mlp is not None:
            self.mlp.reset_parameters()

    def forward(self, z_src: Tensor, z_dst: Tensor) -> Tensor:
        """Scores pairs ``z_src [B, d]``, ``z_dst [B, d]`` -> logits ``[B]``."""
        if z_src.shape != z_dst.shape or z_src.dim() != 2 or z_src.size(1) != self.in_channels:
            raise InputError(
                f"z_src and z_dst must both be [B, {self.in_channels}], got "
                f"{tuple(z_src.shape)} and {tuple(z_dst.shape)}"
            )
        if self.mlp is None:
            return (z_src * z_dst).sum(-1)
        pair = torch.cat([z_src * z_dst, (z_src - z_dst).abs()], dim=-1)
        return self.mlp(pair).squeeze(-1)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.in_channels}, mode={self.mode!r})"


class MultiLabelHead(nn.Module):
    """A linear layer over a label vocabulary (diagnoses, drugs); returns logits.

    Args:
        in_channels: Embedding size.
        num_labels: Size of the label vocabulary.
        dropout: Dropout on the embedding.
        bias: Learn a per-label bias (the label prior).
    """

    def __init__(self, in_channels: int, num_labels: int, dropout: float = 0.0, bias: bool = True):
        super().__init__()
        self.in_channels = check_positive("in_channels", in_channels)
        self.num_labels = check_positive("num_labels", num_labels)
        self.dropout = check_dropout(dropout)
        self.lin = nn.Linear(in_channels, num_labels, bias=bias)
        self.drop = nn.Dropout(self.dropout)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-initialises the linear layer."""
        self.lin.reset_parameters()

    def forward(self, h: Tensor) -> Tensor:
        """Maps ``h [B, in_channels]`` to logits ``[B, num_labels]``."""
        if h.dim() != 2 or h.size(1) != self.in_channels:
            raise InputError(f"h must be [B, {self.in_channels}], got shape {tuple(h.shape)}")
        return self.lin(self.drop(h))

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.in_channels}, num_labels={self.num_labels})"
