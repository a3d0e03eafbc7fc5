"""The main job runs end to end on a small cohort and writes every promised artefact."""

import json

import pytest

from gnn.pipeline import DemoConfig, run_demo
from ontologies.errors import ConfigError


def test_demo_end_to_end(tmp_path):
    out = tmp_path / "demo"
    result = run_demo(DemoConfig(patients=150, epochs=3, n_boot=20, out=str(out),
                                 progress=False))
    for task in ("comorbidity", "treatment"):
        table = result["tasks"][task]["table"]
        assert {"mlp-note", "mlp-all", "gat-kg", "gat-kg-multimodal", "gcn-kg-multimodal",
                "history copy", "prevalence"} <= set(table["model"])
        for name in ("report.json", "report.md", "roc.png", "pr.png", "loss.png"):
            assert (out / task / name).stat().st_size > 0
    summary = json.loads((out / "demo.json").read_text())
    assert summary["timings"]["total"] > 0
    for task in ("comorbidity", "treatment"):
        rivals = [c["b"] for c in summary["comparisons"][task]]
        assert all(c["a"] == "gat-kg-multimodal" for c in summary["comparisons"][task])
        assert rivals[0] in {"mlp-note", "mlp-image", "mlp-signal", "mlp-genomic"}
        assert {"mlp-all", "gat-kg"} <= set(rivals)
    report = result["cdss"]
    assert report is not None
    md = next((out / "cdss").glob("*.md")).read_text()
    for section in ("## Findings", "## Impression", "## Recommendation", "## Comparison"):
        assert section in md


def test_demo_config_validation():
    with pytest.raises(ConfigError, match="patients"):
        DemoConfig(patients=5)
    with pytest.raises(ConfigError, match="tasks"):
        DemoConfig(tasks=("surgery",))
