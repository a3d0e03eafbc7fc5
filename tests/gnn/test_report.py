"""Reports: JSON and Markdown parse back, PNGs are real images, curves are right."""

import json

import numpy as np
import pytest

from gnn.experiment import Outcome
from gnn.metrics import evaluate_multilabel
from gnn.plots import pr_points, roc_points
from gnn.report import markdown_table, write_report
from ontologies.errors import InputError


@pytest.fixture(scope="module")
def outcomes():
    rng = np.random.default_rng(0)
    y = (rng.random((40, 3)) < 0.4).astype(int)
    good = np.clip(y * 0.6 + rng.random(y.shape) * 0.5, 0, 1)
    noise = rng.random(y.shape)
    history = [{"epoch": e, "train_loss": 1.0 / e, "val_loss": 1.2 / e,
                "val_auroc_macro": 0.5, "val_auprc_macro": float("nan"), "seconds": 0.1}
               for e in range(1, 4)]
    return {
        "good": Outcome("good", "model", "graph (gat) + note", evaluate_multilabel(
            y, good, n_boot=50), y, good, history, 0.1, {"model": "gat"}),
        "noise": Outcome("noise", "baseline", "random", evaluate_multilabel(
            y, noise, n_boot=50), y, noise),
    }


def test_report_files(outcomes, tmp_path):
    paths = write_report(outcomes, tmp_path / "rep", title="Toy")
    assert set(paths) == {"json", "markdown", "loss", "roc", "pr"}
    for key in ("loss", "roc", "pr"):
        assert paths[key].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from PIL import Image

    with Image.open(paths["roc"]) as img:
        assert img.size[0] > 200 and img.size[1] > 200
    report = json.loads(paths["json"].read_text())  # strict JSON: NaN became null
    assert [o["name"] for o in report["outcomes"]] == ["good", "noise"]
    good = report["outcomes"][0]
    assert good["metrics"]["auroc_macro"]["value"] == outcomes["good"].metrics[
        "auroc_macro"]["value"]
    assert good["history"][0]["val_auprc_macro"] is None and good["epochs"] == 3
    text = paths["markdown"].read_text()
    assert text.startswith("# Toy") and "![ROC](roc.png)" in text
    assert not [p for p in (tmp_path / "rep").iterdir() if p.name.endswith(".tmp")]


def test_markdown_table_cells(outcomes):
    lines = markdown_table(outcomes).splitlines()
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert header[:4] == ["model", "kind", "inputs", "AUROC macro"]
    assert "AUPRC micro" in header and "F1 macro" in header
    cells = [c.strip() for c in lines[2].strip("|").split("|")]
    m = outcomes["good"].metrics["auroc_macro"]
    assert cells[0] == "good"
    assert cells[3] == f"{m['value']:.3f} [{m['low']:.3f}, {m['high']:.3f}]"
    assert lines[3].split("|")[-2].strip() == "–"  # baseline: no epochs


def test_curves_agree_with_metrics():
    rng = np.random.default_rng(1)
    y = (rng.random((60, 4)) < 0.3).astype(int)
    s = np.round(rng.random(y.shape) + 0.3 * y, 2)  # rounding makes ties
    fpr, tpr = roc_points(y, s)
    area = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))  # trapezoid = tie-aware AUC
    assert area == pytest.approx(evaluate_multilabel(y, s, n_boot=0)["auroc_micro"]["value"])
    recall, precision = pr_points(y, s)
    ap = float(np.sum(np.diff(recall) * precision[1:]))
    assert ap == pytest.approx(evaluate_multilabel(y, s, n_boot=0)["auprc_micro"]["value"])
    assert fpr[0] == tpr[0] == 0 and fpr[-1] == tpr[-1] == 1


def test_empty_report_is_an_error(tmp_path):
    with pytest.raises(InputError):
        write_report({}, tmp_path)
