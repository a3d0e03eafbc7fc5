"""A graph-free MLP baseline on patient feature vectors.

It takes (and ignores) an ``edge_index`` so that a training loop can swap it for a GNN
on the same split, labels and metrics.

Examples:
    >>> import torch
    >>> model = MLPModel(5, 16, 3, num_layers=3)
    >>> model(torch.randn(4, 5)).shape
    torch.Size([4, 3])
    >>> model
    MLPModel(5, 3, num_layers=3)
"""

from __future__ import annotations

from torch import Tensor, nn
from torch_geometric.nn import MLP

from gnn.models.base import MODELS, init_layer_stack
from ontologies.errors import InputError

__all__ = ["MLPModel"]


@MODELS.register("mlp")
class MLPModel(nn.Module):
    """Linear -> (BatchNorm) -> ReLU -> Dropout blocks, plain Linear at the end.

    Args:
        in_channels: Input feature size.
        hidden_channels: Width of hidden layers.
        out_channels: Output size.
        num_layers: Number of Linear layers (>= 1).
        dropout: Dropout after every hidden layer.
        batch_norm: Use BatchNorm in hidden layers (off for tiny or single-row batches).
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        out_channels: int,
        num_layers: int = 2,
        dropout: float = 0.5,
        batch_norm: bool = False,
    ):
        super().__init__()
        sizes = init_layer_stack(self, in_channels, hidden_channels, out_channels,
                                 num_layers, dropout)
        self.batch_norm = batch_norm
        self.mlp = MLP(sizes, dropout=self.dropout, norm="batch_norm" if batch_norm else None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-initialises every layer."""
        self.mlp.reset_parameters()

    def forward(self, x: Tensor, edge_index: Tensor | None = None) -> Tensor:
        """Maps features ``[N, in_channels]`` to ``[N, out_channels]``; ``edge_index``
        is accepted for interface parity with the GNNs and ignored."""
        if x.dim() != 2 or x.size(1) != self.in_channels:
            raise InputError(f"x must be [N, {self.in_channels}], got shape {tuple(x.shape)}")
        return self.mlp(x)

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.in_channels}, {self.out_channels}, "
            f"num_layers={self.num_layers})"
        )
