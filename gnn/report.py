"""Ablation reports: ``report.json``, ``report.md`` and PNG plots, all written atomically.

The Markdown table has one row per model/baseline and columns AUROC and AUPRC (macro
and micro) and F1 (macro and micro), each as ``value [low, high]`` (bootstrap 95%
interval), plus seconds per epoch. Plots: ``loss.png`` (train/validation loss per
epoch), ``roc.png`` and ``pr.png`` (micro-averaged test curves).

Examples:
    >>> import tempfile, numpy as np
    >>> from gnn.experiment import Outcome
    >>> y = np.array([[1, 0], [0, 1], [1, 1], [0, 0]])
    >>> s = np.array([[0.9, 0.2], [0.3, 0.8], [0.6, 0.4], [0.1, 0.5]])
    >>> from gnn.metrics import evaluate_multilabel
    >>> o = Outcome("toy", "baseline", "scores", evaluate_multilabel(y, s, n_boot=0), y, s)
    >>> paths = write_report({"toy": o}, tempfile.mkdtemp(), plots=False)
    >>> sorted(paths)
    ['json', 'markdown']
    >>> print(markdown_table({"toy": o}).splitlines()[2])  # doctest: +ELLIPSIS
    | toy | baseline | scores | 0.875 [nan, nan] | ...
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ontologies.atomic import atomic_write
from ontologies.errors import InputError

__all__ = ["write_report", "markdown_table", "COLUMNS"]

#: (metric key, column title) of the Markdown table.
COLUMNS = (("auroc_macro", "AUROC macro"), ("auroc_micro", "AUROC micro"),
           ("auprc_macro", "AUPRC macro"), ("auprc_micro", "AUPRC micro"),
           ("f1_macro", "F1 macro"), ("f1_micro", "F1 micro"))


def _clean(value: Any) -> Any:
    """JSON-safe copy: NaN/inf -> None, numpy scalars -> Python numbers."""
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and not hasattr(value, "__len__"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _cell(metric: Mapping[str, float] | None) -> str:
    if not metric:
        return "–"
    return f"{metric['value']:.3f} [{metric['low']:.3f}, {metric['high']:.3f}]"


def markdown_table(outcomes: Mapping[str, Any]) -> str:
    """The comparison table (Markdown), rows in the order of ``outcomes``."""
    head = ["model", "kind", "inputs"] + [title for _, title in COLUMNS] + ["s/epoch"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for o in outcomes.values():
        seconds = "–" if not math.isfinite(o.epoch_seconds) else f"{o.epoch_seconds:.3f}"
        cells = [o.name, o.kind, o.inputs.replace("|", "/")]
        cells += [_cell(o.metrics.get(key)) for key, _ in COLUMNS] + [seconds]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_report(outcomes: Mapping[str, Any], out_dir: str | os.PathLike,
                 title: str = "medkg model comparison", plots: bool = True) -> dict[str, Path]:
    """Writes ``report.json``, ``report.md`` and (``plots``) ``loss/roc/pr.png``.

    Args:
        outcomes: Name -> :class:`gnn.experiment.Outcome`.
        out_dir: Folder (created if needed).
        title: Heading of the Markdown report.
        plots: Also draw the PNG plots.

    Returns:
        Paths by kind: ``json``, ``markdown`` and, with plots, ``loss``, ``roc``, ``pr``.
    """
    if not outcomes:
        raise InputError("write_report needs at least one outcome")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    payload = {"title": title, "columns": [k for k, _ in COLUMNS], "outcomes": [
        {"name": o.name, "kind": o.kind, "inputs": o.inputs, "metrics": o.metrics,
         "epoch_seconds": o.epoch_seconds, "epochs": len(o.history), "history": o.history,
         "config": o.config, "test_patients": int(len(o.y_true))}
        for o in outcomes.values()]}
    paths = {"json": out / "report.json", "markdown": out / "report.md"}
    with atomic_write(paths["json"], "w") as f:
        json.dump(_clean(payload), f, indent=2)
        f.write("\n")
    first = next(iter(outcomes.values()))
    text = [f"# {title}", "",
            f"Test split: {len(first.y_true)} patients, {first.y_true.shape[1]} labels. "
            "Cells: value [95% bootstrap interval].", "", markdown_table(outcomes), ""]
    if plots:
        from gnn.plots import loss_figure, pr_figure, roc_figure, save_png

        curves = {name: (o.y_true, o.y_score) for name, o in outcomes.items()}
        histories = {name: o.history for name, o in outcomes.items() if o.history}
        paths["loss"] = save_png(loss_figure(histories), out / "loss.png")
        paths["roc"] = save_png(roc_figure(curves), out / "roc.png")
        paths["pr"] = save_png(pr_figure(curves), out / "pr.png")
        text += ["![loss](loss.png) ![ROC](roc.png) ![PR](pr.png)", ""]
    with atomic_write(paths["markdown"], "w") as f:
        f.write("\n".join(text))
    return paths
