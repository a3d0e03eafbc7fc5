"""Torch files through ontologies.atomic: atomic saves and guarded weights-only loads."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch

import ontologies.atomic
from ontologies.atomic import atomic_torch_save, safe_torch_load
from ontologies.errors import DataNotFoundError, ParseError, SchemaError


def test_round_trip_of_tensors_and_plain_values(tmp_path: Path) -> None:
    obj = {"w": torch.arange(6.0).reshape(2, 3), "epoch": 3, "names": ["a", "b"]}
    path = atomic_torch_save(obj, tmp_path / "sub" / "a.pt")  # the folder is created
    back = safe_torch_load(path, "test file")
    assert torch.equal(back["w"], obj["w"]) and back["epoch"] == 3 and back["names"] == ["a", "b"]
    assert sorted(p.name for p in path.parent.iterdir()) == ["a.pt"]


def test_failed_save_keeps_previous_file(tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    path = atomic_torch_save({"version": 1}, tmp_path / "a.pt")
    monkeypatch.setattr(ontologies.atomic.os, "fsync", lambda fd: (_ for _ in ()).throw(
        OSError(5, "Input/output error")))
    with pytest.raises(OSError):
        atomic_torch_save({"version": 2}, path)
    monkeypatch.undo()
    assert safe_torch_load(path, "test file") == {"version": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.pt"]


class _Unsafe:
    def __reduce__(self) -> tuple:
        return (print, ("unpickled",))


@pytest.mark.parametrize("name, make", [
    ("empty.pt", lambda p: p.write_bytes(b"")),
    ("text.pt", lambda p: p.write_text("hello world")),
    ("truncated.pt", lambda p: p.write_bytes(b"PK\x03\x04 cut short")),
    ("pickle.pt", lambda p: p.write_bytes(pickle.dumps(_Unsafe()))),
    ("object.pt", lambda p: torch.save({"x": _Unsafe()}, p)),
])
def test_unreadable_files_raise_parse_error_naming_them(tmp_path: Path, name: str, make,
                                                         capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / name
    make(path)
    with pytest.raises(ParseError, match=f"{name}: not a readable test file") as info:
        safe_torch_load(path, "test file")
    assert info.value.path == str(path)
    assert "weights_only=False" not in str(info.value)  # torch's unsafe advice is dropped
    assert "unpickled" not in capsys.readouterr().out  # the payload never ran


def test_error_class_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"junk")
    with pytest.raises(SchemaError, match="bad.pt: not a readable medkg cohort graph"):
        safe_torch_load(bad, "medkg cohort graph", error=SchemaError)
    with pytest.raises(DataNotFoundError, match="none.pt"):
        safe_torch_load(tmp_path / "none.pt", "test file")
