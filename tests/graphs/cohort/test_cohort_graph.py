"""CohortGraph.load rejects malformed payloads with a SchemaError naming the file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from torch_geometric.data import HeteroData

from graphs.cohort.graph import FORMAT, CohortGraph
from ontologies.errors import SchemaError


def _graph() -> CohortGraph:
    data = HeteroData()
    data["patient"].x = torch.ones(2, 3)
    data["disease"].num_nodes = 1
    data["patient", "has_diagnosis", "disease"].edge_index = torch.tensor([[0, 1], [0, 0]])
    return CohortGraph(data, {"patient": ["p1", "p2"], "disease": ["ICD10CM:E11"]},
                       {"note": "tiny"})


@pytest.fixture()
def payload(tmp_path: Path) -> dict[str, Any]:
    path = _graph().save(tmp_path / "good.pt")
    return torch.load(path, weights_only=True)


def test_round_trip(tmp_path: Path) -> None:
    g = _graph()
    back = CohortGraph.load(g.save(tmp_path / "g.pt"))
    assert back.equals(g) and back.metadata == {"note": "tiny"}


ET = "patient|has_diagnosis|disease"


def _set(*keys: str, value: Any) -> Callable[[dict], None]:
    def change(p: dict) -> None:
        for k in keys[:-1]:
            p = p[k]
        p[keys[-1]] = value
    return change


@pytest.mark.parametrize("change, message", [
    (lambda p: p.pop("ids"), "missing \\['ids'\\]"),
    (_set("edges", value=[]), "'edges' is a list"),
    (_set("ids", "patient", value=[1, 2]), "ids of node type 'patient'"),
    (_set("nodes", "patient", "x", value=[1.0]), "node attribute patient.x"),
    (lambda p: p["edges"].update({"patient|disease": p["edges"].pop(ET)}),
     "edge type 'patient\\|disease'"),
    (_set("edges", ET, "edge_index", value=torch.tensor([[0.0, 1.0], [0.0, 0.0]])),
     "integer tensor \\[2, E\\]"),
    (_set("edges", ET, "edge_index", value=torch.tensor([[0, 2], [0, 0]])),
     "points outside its node types"),
    (_set("edges", ET, "edge_index", value=torch.tensor([[0, -1], [0, 0]])),
     "points outside its node types"),
    (_set("ids", "patient", value=["p1"]), "2 nodes but 1 ids"),
])
def test_malformed_payload(tmp_path: Path, payload: dict, change: Callable, message: str
                           ) -> None:
    change(payload)
    path = tmp_path / "bad.pt"
    torch.save(payload, path)
    with pytest.raises(SchemaError, match=message) as info:
        CohortGraph.load(path)
    assert str(info.value).startswith(f"{path}: ")


def test_wrong_format_tag(tmp_path: Path, payload: dict) -> None:
    payload["format"] = "medkg-cohort/0"
    torch.save(payload, tmp_path / "old.pt")
    with pytest.raises(SchemaError, match=f"old.pt: format 'medkg-cohort/0', expected '{FORMAT}'"):
        CohortGraph.load(tmp_path / "old.pt")


def test_ids_are_packed_and_format_1_files_still_load(tmp_path: Path) -> None:
    from graphs.cohort.graph import _unpack_ids

    cohort = _graph()
    path = cohort.save(tmp_path / "c.pt")
    payload = torch.load(path, weights_only=True)
    assert payload["format"] == FORMAT
    assert payload["ids"]["patient"]["utf8"].dtype == torch.uint8
    # a file written by format 1 (ids as string lists) still loads, equal
    payload["format"] = "medkg-cohort/1"
    payload["ids"] = {t: _unpack_ids(v, t, path) for t, v in payload["ids"].items()}
    torch.save(payload, tmp_path / "v1.pt")
    assert CohortGraph.load(tmp_path / "v1.pt").equals(cohort)
    # packed ids whose lengths do not match their text are refused, naming the file
    bad = torch.load(path, weights_only=True)
    bad["ids"]["patient"]["lengths"] = bad["ids"]["patient"]["lengths"] + 1
    torch.save(bad, tmp_path / "bad.pt")
    with pytest.raises(SchemaError, match=r"bad.pt: malformed cohort graph: ids of node type "
                                          r"'patient': lengths add up"):
        CohortGraph.load(tmp_path / "bad.pt")
