"""GAT and GATv2 stacks that can hand back every layer's attention for explanations.

Examples:
    >>> import torch
    >>> edge_index = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])
    >>> model = GAT(4, 8, 3, heads=2)
    >>> out, attention = model(torch.randn(3, 4), edge_index, return_attention=True)
    >>> out.shape, len(attention)
    (torch.Size([3, 3]), 2)
    >>> index, alpha = attention[0]  # self-loops included: 4 edges + 3 loops
    >>> index.shape, alpha.shape
    (torch.Size([2, 7]), torch.Size([7, 2]))
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import GATConv, GATv2Conv

from gnn.models.base import (
    MODELS,
    as_long_index,
    check_dropout,
    check_positive,
    init_layer_stack,
    reset_all,
)
from ontologies.errors import ConfigError, InputError

__all__ = ["GAT", "GATv2"]

#: Per layer: (edge_index [2, E'] including any added self-loops, alpha [E', heads]).
Attention = list[tuple[Tensor, Tensor]]


@MODELS.register("gat")
class GAT(nn.Module):
    """A stack of graph attention layers (Velickovic et al.), ELU between layers.

    Hidden layers concatenate ``heads`` heads of ``hidden_channels // heads`` channels
    each; the last layer averages ``out_heads`` heads into ``out_channels``.

    Args:
        in_channels: Input feature size.
        hidden_channels: Hidden size (all heads together); divisible by ``heads``.
        out_channels: Output size.
        num_layers: Number of attention layers (>= 1).
        heads: Attention heads of the hidden layers.
        out_heads: Attention heads of the last layer (averaged).
        dropout: Dropout on the input of every layer.
        attention_dropout: Dropout on the attention coefficients.
        add_self_loops: Let every node attend to itself.
        edge_dim: Size of edge features fed to the attention, if any.
    """

    conv_cls: type[nn.Module] = GATConv

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        out_channels: int,
        num_layers: int = 2,
        heads: int = 4,
        out_heads: int = 1,
        dropout: float = 0.5,
        attention_dropout: float = 0.0,
        add_self_loops: bool = True,
        edge_dim: int | None = None,
    ):
        super().__init__()
        init_layer_stack(self, in_channels, hidden_channels, out_channels, num_layers,
                         dropout)
        self.heads = check_positive("heads", heads)
        self.out_heads = check_positive("out_heads", out_heads)
        self.attention_dropout = check_dropout(attention_dropout, "attention_dropout")
        self.add_self_loops = add_self_loops
        self.edge_dim = edge_dim
        if num_layers > 1 and hidden_channels % heads:
            raise ConfigError(
                f"hidden_channels ({hidden_channels}) must be divisible by heads ({heads})"
            )
        common = dict(
            dropout=self.attention_dropout, add_self_loops=add_self_loops, edge_dim=edge_dim
        )
        convs = []
        size = in_channels
        for _ in range(num_layers - 1):
            convs.append(self.conv_cls(size, hidden_channels // heads, heads=heads, **common))
            size = hidden_channels
        convs.append(
            self.conv_cls(size, out_channels, heads=out_heads, concat=False, **common)
        )
        self.convs = nn.ModuleList(convs)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-initialises every layer."""
        reset_all(self.convs)

    def forward(
        self,
        x: Tensor,
        edge_index: Tensor,
        edge_attr: Tensor | None = None,
        return_attention: bool = False,
    ) -> Tensor | tuple[Tensor, Attention]:
        """Node representations, optionally with each layer's attention weights.

        Args:
            x: Node features ``[N, in_channels]``.
            edge_index: ``[2, E]`` source/target node indices.
            edge_attr: Edge features ``[E, edge_dim]`` if the model was built with
                ``edge_dim``.
            return_attention: Also return, per layer, ``(edge_index [2, E'], alpha
                [E', heads])``; ``E'`` includes self-loops when they are added.

        Returns:
            ``[N, out_channels]``, or that and the list of per-layer attention.
        """
        if x.dim() != 2 or x.size(1) != self.in_channels:
            raise InputError(f"x must be [N, {self.in_channels}], got shape {tuple(x.shape)}")
        edge_index = as_long_index(edge_index)
        attention: Attention = []
        for i, conv in enumerate(self.convs):
            x = F.dropout(x, p=self.dropout, training=self.training)
            if return_attention:
                x, (index, alpha) = conv(
                    x, edge_index, edge_attr, return_attention_weights=True
                )
                attention.append((index, alpha))
            else:
                x = conv(x, edge_index, edge_attr)
            if i < self.num_layers - 1:
                x = F.elu(x)
        return (x, attention) if return_attention else x

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.in_channels}, {self.out_channels}, "
            f"num_layers={self.num_layers}, heads={self.heads})"
        )


@MODELS.register("gatv2")
class GATv2(GAT):
    """:class:`GAT` with GATv2's dynamic attention (Brody et al.); same arguments."""

    conv_cls = GATv2Conv
