"""PNG plots of training runs: loss curves, micro-averaged ROC and precision-recall curves.

Figures are drawn with matplotlib's object API on the Agg canvas (no global pyplot
state, no display needed) and written atomically.

Examples:
    >>> import numpy as np
    >>> fpr, tpr = roc_points(np.array([0, 1, 1, 0]), np.array([0.1, 0.9, 0.4, 0.4]))
    >>> fpr.tolist(), tpr.tolist()
    ([0.0, 0.0, 0.5, 1.0], [0.0, 0.5, 1.0, 1.0])
    >>> recall, precision = pr_points(np.array([0, 1, 1, 0]), np.array([0.1, 0.9, 0.4, 0.4]))
    >>> recall.tolist(), precision.tolist()
    ([0.0, 0.5, 1.0, 1.0], [1.0, 1.0, 0.6666666666666666, 0.5])
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ontologies.atomic import atomic_write

__all__ = ["roc_points", "pr_points", "loss_figure", "roc_figure", "pr_figure", "save_png"]


def _cumulative(y_true: Any, y_score: Any) -> tuple[np.ndarray, np.ndarray, float, float]:
    """True/false positive counts at each distinct threshold (pooled over all entries)."""
    y = np.asarray(y_true, dtype=bool).ravel()
    s = np.asarray(y_score, dtype=np.float64).ravel()
    order = np.argsort(-s, kind="stable")
    y, s = y[order], s[order]
    last = np.r_[np.flatnonzero(s[1:] != s[:-1]), len(s) - 1]  # end of each tie group
    tps = np.cumsum(y)[last].astype(np.float64)
    fps = (last + 1) - tps
    return tps, fps, float(y.sum()), float((~y).sum())


def roc_points(y_true: Any, y_score: Any) -> tuple[np.ndarray, np.ndarray]:
    """Micro-averaged ROC curve ``(fpr, tpr)``, starting at (0, 0)."""
    tps, fps, pos, neg = _cumulative(y_true, y_score)
    fpr = np.r_[0.0, fps / neg if neg else np.zeros_like(fps)]
    tpr = np.r_[0.0, tps / pos if pos else np.zeros_like(tps)]
    return fpr, tpr


def pr_points(y_true: Any, y_score: Any) -> tuple[np.ndarray, np.ndarray]:
    """Micro-averaged precision-recall curve ``(recall, precision)``, starting at (0, 1)."""
    tps, fps, pos, _ = _cumulative(y_true, y_score)
    recall = np.r_[0.0, tps / pos if pos else np.zeros_like(tps)]
    precision = np.r_[1.0, tps / np.maximum(tps + fps, 1)]
    return recall, precision


def _figure(title: str, xlabel: str, ylabel: str) -> tuple[Figure, Any]:
    fig = Figure(figsize=(6.4, 4.8), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    return fig, ax


def loss_figure(histories: Mapping[str, Sequence[Mapping[str, Any]]]) -> Figure:
    """Train (solid) and validation (dashed) loss per epoch, one colour per model."""
    fig, ax = _figure("Loss per epoch", "epoch", "BCE loss")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    for i, (name, rows) in enumerate(histories.items()):
        if not rows:
            continue
        color = f"C{i % 10}"
        epochs = [r["epoch"] for r in rows]
        ax.plot(epochs, [r["train_loss"] for r in rows], color=color, label=f"{name} train")
        val = [r.get("val_loss") for r in rows]
        if any(v is not None and np.isfinite(v) for v in val):
            ax.plot(epochs, [np.nan if v is None else v for v in val], color=color,
                    linestyle="--", label=f"{name} val")
    if ax.lines:  # outside the axes: with many models it would hide the curves
        ax.legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


def roc_figure(curves: Mapping[str, tuple[Any, Any]]) -> Figure:
    """Micro-averaged ROC curves; ``curves`` maps a name to ``(y_true, y_score)``."""
    fig, ax = _figure("ROC (micro-averaged, test)", "false positive rate",
                      "true positive rate")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    for name, (y, s) in curves.items():
        fpr, tpr = roc_points(y, s)
        ax.plot(fpr, tpr, label=name)
    ax.legend(fontsize="small", loc="lower right")
    return fig


def pr_figure(curves: Mapping[str, tuple[Any, Any]]) -> Figure:
    """Micro-averaged precision-recall curves (steps); same input as :func:`roc_figure`."""
    fig, ax = _figure("Precision-recall (micro-averaged, test)", "recall", "precision")
    for name, (y, s) in curves.items():
        recall, precision = pr_points(y, s)
        ax.step(recall, precision, where="post", label=name)
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize="small", loc="upper right")
    return fig


def save_png(fig: Figure, path: str | os.PathLike) -> Path:
    """Renders ``fig`` to PNG and writes it atomically."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    path = Path(path)
    with atomic_write(path, "wb") as f:
        f.write(buf.getvalue())
    return path
