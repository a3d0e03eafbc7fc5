"""Training checkpoints: written atomically, read with ``weights_only=True``.

A checkpoint holds model and optimizer state, the epoch, the best validation metric and
its epoch, the per-epoch history, the run's settings, a fingerprint of the data and the
random states of torch, numpy and Python's ``random``. Restoring all of them makes a
resumed run continue exactly where the killed one stopped (``tests/gnn/test_train.py``
checks resume == uninterrupted). Only tensors and plain Python values are stored, so
loading never runs code.

Examples:
    >>> import tempfile, pathlib, torch
    >>> model = torch.nn.Linear(2, 1)
    >>> opt = torch.optim.Adam(model.parameters())
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "last.pt"
    >>> _ = save_checkpoint(path, model, opt, epoch=3, best_metric=0.5, best_epoch=2)
    >>> ckpt = load_checkpoint(path)
    >>> ckpt["epoch"], ckpt["best_epoch"]
    (3, 2)
    >>> _ = path.write_bytes(path.read_bytes()[:100])  # truncated by a crash
    >>> load_checkpoint(path)
    Traceback (most recent call last):
    ...
    ontologies.errors.SchemaError: .../last.pt: not a readable medkg checkpoint (...)
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ontologies.atomic import atomic_torch_save, safe_torch_load
from ontologies.errors import SchemaError

__all__ = ["FORMAT", "save_checkpoint", "load_checkpoint", "restore", "rng_state",
           "set_rng_state", "save_state", "load_state"]

#: Version tag written into checkpoints.
FORMAT = "medkg-checkpoint/1"


def rng_state() -> dict[str, Any]:
    """The random states of torch, numpy and ``random`` as tensors and plain values."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "numpy": {"kind": str(kind), "keys": torch.from_numpy(keys.astype(np.int64)),
                  "pos": int(pos), "has_gauss": int(has_gauss), "cached": float(cached)},
        "python": {"version": int(version), "state": torch.tensor(internal, dtype=torch.int64),
                   "gauss": gauss},
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Restores what :func:`rng_state` captured, all three generators or none.

    Raises:
        SchemaError: ``state`` is not what :func:`rng_state` returns (missing keys, wrong
            types or sizes); the generators are then left as they were.

    Examples:
        >>> set_rng_state({})
        Traceback (most recent call last):
        ...
        ontologies.errors.SchemaError: malformed random state in checkpoint (KeyError: ...
    """
    previous = rng_state()
    try:
        _apply_rng_state(state)
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError, IndexError) as err:
        _apply_rng_state(previous)  # a half-restored state would silently change the run
        raise SchemaError(f"malformed random state in checkpoint ({type(err).__name__}: "
                          f"{err}); expected the dict rng_state() returns: 'torch' (uint8 "
                          "tensor), 'numpy' and 'python'") from err


def _apply_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"],
                         n["has_gauss"], n["cached"]))
    p = state["python"]
    random.setstate((p["version"], tuple(int(v) for v in p["state"].tolist()), p["gauss"]))


def _read(path: str | os.PathLike, what: str) -> dict[str, Any]:
    path = Path(path)
    payload = safe_torch_load(path, f"medkg {what}", error=SchemaError)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        got = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise SchemaError(f"{path}: format {got!r}, expected a medkg {what} ({FORMAT!r})")
    return payload


def save_checkpoint(path: str | os.PathLike, model: nn.Module,
                    optimizer: torch.optim.Optimizer | None, epoch: int,
                    best_metric: float = float("nan"), best_epoch: int = 0,
                    history: list[dict[str, Any]] | None = None,
                    config: dict[str, Any] | None = None,
                    fingerprint: dict[str, Any] | None = None) -> Path:
    """Writes a resumable checkpoint atomically (the previous file survives a crash).

    Args:
        path: Destination (conventionally ``<out_dir>/last.pt``).
        model: The model.
        optimizer: Its optimizer (``None``: not stored).
        epoch: Last completed epoch (1-based).
        best_metric: Best validation metric so far.
        best_epoch: Epoch of ``best_metric``.
        history: Per-epoch metric rows.
        config: The run's settings (plain values).
        fingerprint: Plain description of the data, checked on resume.

    Returns:
        ``path``.
    """
    return atomic_torch_save({
        "format": FORMAT, "kind": "checkpoint", "epoch": int(epoch),
        "model": model.state_dict(),
        "optimizer": None if optimizer is None else optimizer.state_dict(),
        "best_metric": float(best_metric), "best_epoch": int(best_epoch),
        "history": list(history or []), "config": dict(config or {}),
        "fingerprint": dict(fingerprint or {}), "rng": rng_state(),
    }, path)


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Reads a checkpoint written by :func:`save_checkpoint` or :func:`save_state`.

    Raises:
        DataNotFoundError: No file at ``path``.
        SchemaError: The file is truncated, corrupt or not a medkg checkpoint (the
            message names the file).
    """
    return _read(path, "checkpoint")


def restore(checkpoint: dict[str, Any], model: nn.Module,
            optimizer: torch.optim.Optimizer | None = None, rng: bool = True) -> None:
    """Loads model (and optimizer, random states) from a loaded checkpoint.

    Raises:
        SchemaError: The stored weights do not fit ``model`` (another architecture), or
            the stored random state is malformed.
    """
    try:
        model.load_state_dict(checkpoint["model"])
        if optimizer is not None and checkpoint.get("optimizer") is not None:
            optimizer.load_state_dict(checkpoint["optimizer"])
    except (RuntimeError, KeyError, ValueError, TypeError, AttributeError) as err:
        raise SchemaError(f"checkpoint does not fit this model/optimizer: {err}") from err
    if rng and "rng" in checkpoint:
        set_rng_state(checkpoint["rng"])


def save_state(path: str | os.PathLike, model: nn.Module | dict[str, torch.Tensor],
               **info: Any) -> Path:
    """Writes model weights only (``best.pt``) with plain-valued ``info`` (epoch, metric)."""
    state = model.state_dict() if isinstance(model, nn.Module) else model
    return atomic_torch_save({"format": FORMAT, "kind": "weights", "model": state, **info},
                             path)


def load_state(path: str | os.PathLike) -> dict[str, Any]:
    """Reads a file written by :func:`save_state` (same errors as :func:`load_checkpoint`)."""
    return _read(path, "checkpoint")
