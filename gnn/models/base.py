"""The model registry and the small helpers every model family shares.

Models are found by name (``gnn.models.get("gat", ...)``); a duplicate name raises, an
unknown name lists the valid choices.

Examples:
    >>> import gnn.models  # registers the built-in families
    >>> "gcn" in MODELS and "hetero_sage" in MODELS
    True
    >>> get("mlp", in_channels=3, hidden_channels=8, out_channels=2)
    MLPModel(3, 2, num_layers=2)
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ontologies.errors import ConfigError, InputError
from ontologies.registry import Registry

__all__ = ["MODELS", "get", "check_positive", "check_dropout", "init_layer_stack", "reset_all",
           "as_long_index"]

#: Registry of model classes by name ("gcn", "gat", "hetero_sage", ...).
MODELS: Registry[type[nn.Module]] = Registry("model")


def get(name: str, **kwargs: Any) -> nn.Module:
    """Instantiates the model registered as ``name`` with ``kwargs``.

    Args:
        name: A registered model name (case-insensitive), see ``MODELS.names()``.
        **kwargs: Constructor arguments of that model.

    Returns:
        The freshly initialised model.
    """
    return MODELS.get(name)(**kwargs)


def check_positive(name: str, value: int, minimum: int = 1) -> int:
    """Returns ``value`` as int, raising :class:`ConfigError` if it is below ``minimum``.

    Examples:
        >>> check_positive("num_layers", 2)
        2
        >>> check_positive("num_layers", 0)
        Traceback (most recent call last):
        ...
        ontologies.errors.ConfigError: num_layers must be an integer >= 1, got 0
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def check_dropout(value: float, name: str = "dropout") -> float:
    """Returns ``value`` as float, raising :class:`ConfigError` outside ``[0, 1)``.

    Examples:
        >>> check_dropout(0.5)
        0.5
        >>> check_dropout(1.0)
        Traceback (most recent call last):
        ...
        ontologies.errors.ConfigError: dropout must be in [0, 1), got 1.0
    """
    if not isinstance(value, (int, float)) or not 0.0 <= float(value) < 1.0:
        raise ConfigError(f"{name} must be in [0, 1), got {value!r}")
    return float(value)


def init_layer_stack(model: nn.Module, in_channels: int, hidden_channels: int,
                     out_channels: int, num_layers: int, dropout: float) -> list[int]:
    """Validates and stores the sizes every layered model shares; returns layer widths.

    Sets ``in_channels``, ``hidden_channels``, ``out_channels``, ``num_layers`` and
    ``dropout`` on ``model`` (raising :class:`ConfigError` on bad values) and returns
    ``[in, hidden, ..., hidden, out]`` (``num_layers + 1`` widths).

    Examples:
        >>> init_layer_stack(nn.Module(), 4, 8, 2, num_layers=3, dropout=0.1)
        [4, 8, 8, 2]
    """
    model.in_channels = check_positive("in_channels", in_channels)
    model.hidden_channels = check_positive("hidden_channels", hidden_channels)
    model.out_channels = check_positive("out_channels", out_channels)
    model.num_layers = check_positive("num_layers", num_layers)
    model.dropout = check_dropout(dropout)
    return [in_channels] + [hidden_channels] * (num_layers - 1) + [out_channels]


def reset_all(modules: nn.ModuleList | list[nn.Module]) -> None:
    """Calls ``reset_parameters`` on every module that has one (PyG layers, Linear, ...)."""
    for module in modules:
        if hasattr(module, "reset_parameters"):
            module.reset_parameters()


def as_long_index(edge_index: torch.Tensor, what: str = "edge_index") -> torch.Tensor:
    """Validates a ``[2, E]`` integer edge index (raises :class:`InputError`)."""
    if not torch.is_tensor(edge_index) or edge_index.dim() != 2 or edge_index.size(0) != 2:
        shape = tuple(edge_index.shape) if torch.is_tensor(edge_index) else type(edge_index)
        raise InputError(f"{what} must be a [2, E] tensor, got shape {shape}")
    if edge_index.is_floating_point():
        raise InputError(f"{what} must hold integer node indices, got dtype {edge_index.dtype}")
    return edge_index.long()
