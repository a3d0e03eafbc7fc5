"""Training checkpoints: atomic round trip, all-or-nothing random state, clear errors."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch

from gnn.checkpoint import (
    load_checkpoint,
    restore,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from ontologies.errors import DataNotFoundError, SchemaError


def _draws() -> tuple[float, float, float]:
    return float(torch.rand(1)), float(np.random.random()), random.random()


def test_round_trip_restores_weights_optimizer_and_random_state(tmp_path: Path) -> None:
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(model.parameters(), lr=0.1)
    model(torch.ones(1, 3)).sum().backward()
    opt.step()
    path = save_checkpoint(tmp_path / "last.pt", model, opt, epoch=2, history=[{"loss": 1.0}])
    expected = _draws()  # what the next draws are right after saving

    other = torch.nn.Linear(3, 2)
    other_opt = torch.optim.Adam(other.parameters(), lr=0.1)
    _draws()  # move every generator on
    ckpt = load_checkpoint(path)
    restore(ckpt, other, other_opt)
    assert ckpt["epoch"] == 2 and ckpt["history"] == [{"loss": 1.0}]
    assert torch.equal(other.weight, model.weight)
    assert other_opt.state_dict()["state"][0]["step"] == opt.state_dict()["state"][0]["step"]
    assert _draws() == expected
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]


@pytest.mark.parametrize("broken", [
    {},
    None,
    "numpy-missing",
    "python-garbage",
])
def test_malformed_rng_state_changes_no_generator(broken: object) -> None:
    state = rng_state()
    if broken == "numpy-missing":
        broken = {"torch": state["torch"], "python": state["python"]}
    elif broken == "python-garbage":  # torch and numpy would be restored before this fails
        broken = {**state, "python": {"version": 3, "state": torch.zeros(3), "gauss": None}}
    torch.manual_seed(5)
    np.random.seed(5)
    random.seed(5)
    before = rng_state()
    with pytest.raises(SchemaError, match="malformed random state"):
        set_rng_state(broken)
    after = rng_state()
    assert torch.equal(after["torch"], before["torch"])
    assert torch.equal(after["numpy"]["keys"], before["numpy"]["keys"])
    assert torch.equal(after["python"]["state"], before["python"]["state"])


def test_load_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match="none.pt"):
        load_checkpoint(tmp_path / "none.pt")
    cut = save_checkpoint(tmp_path / "cut.pt", torch.nn.Linear(2, 2), None, epoch=1)
    cut.write_bytes(cut.read_bytes()[:200])
    with pytest.raises(SchemaError, match="cut.pt: not a readable medkg checkpoint"):
        load_checkpoint(cut)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weight": torch.ones(1)}, foreign)
    with pytest.raises(SchemaError, match="foreign.pt: format None"):
        load_checkpoint(foreign)


def test_restore_into_another_architecture(tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path / "last.pt", torch.nn.Linear(2, 2), None, epoch=1)
    with pytest.raises(SchemaError, match="does not fit"):
        restore(load_checkpoint(path), torch.nn.Linear(3, 2))
