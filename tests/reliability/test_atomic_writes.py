"""Atomic writes: a crash or an error mid-write leaves the previous file intact.

Two ways to interrupt a writer:

* **SIGKILL** from the parent: a child process rewrites a large target over and over and
  is killed at a random moment; the target must then hold the previous or the new
  version *completely* (never a mixture or a truncated file) and load. Kills are repeated
  until one lands mid-write (a leftover temporary sibling proves it did).
* **An exception** raised mid-way (``fsync`` failing, a table that cannot be written): the
  previous file must be untouched and the temporary file cleaned up.

Covered: :func:`ontologies.atomic.atomic_write`, ``KnowledgeGraph.save``,
``CohortGraph.save``, ``PatientRecords.save`` and ``EmbeddingCache.put``.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import ontologies.atomic
from ontologies.atomic import atomic_dir, atomic_write

ROOT = Path(__file__).resolve().parents[2]


# ---------------------------------------------------------------------- SIGKILL harness
def _start(script: str, tmp: Path) -> subprocess.Popen:
    path = tmp / "writer.py"
    path.write_text(textwrap.dedent(script))
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    return subprocess.Popen([sys.executable, str(path), str(tmp)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)


def kill_mid_write(script: str, tmp: Path, leftovers: Callable[[], list[Path]],
                   check: Callable[[int], None], attempts: int = 8) -> int:
    """Runs ``script`` (prints ``ready`` once, then each finished version number), kills
    it with SIGKILL at a random moment and calls ``check(last_finished_version)``; repeats
    until a kill left a temporary sibling behind, proof that it interrupted a write.
    Returns the number of attempts used."""
    rng = random.Random(0)
    for attempt in range(1, attempts + 1):
        for stale in leftovers():  # debris of earlier attempts would fake the evidence
            shutil.rmtree(stale) if stale.is_dir() else stale.unlink()
        proc = _start(script, tmp)
        done: list[int] = []
        try:
            line = proc.stdout.readline().strip()
            assert line == "ready", line + proc.stderr.read()
            reader = threading.Thread(target=lambda: done.extend(
                int(x) for x in iter(proc.stdout.readline, "") if x.strip()), daemon=True)
            reader.start()
            time.sleep(rng.uniform(0.05, 0.5))
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
            reader.join(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
        check(done[-1] if done else -1)
        if leftovers():
            return attempt
    raise AssertionError(f"no kill out of {attempts} landed mid-write; raise the payload size")


# ---------------------------------------------------------------------- atomic_write
WRITER = """
    import importlib.util, os, sys
    from pathlib import Path
    # load the module alone: importing the ontologies package would cost ~1.5 s per child
    spec = importlib.util.spec_from_file_location(
        "atomic", Path(os.environ["PYTHONPATH"]) / "ontologies" / "atomic.py")
    atomic = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(atomic)
    target = Path(sys.argv[1]) / "data.bin"
    print("ready", flush=True)
    version = 0
    while True:
        block = bytes([version % 251]) * (1 << 16)
        with atomic.atomic_write(target, "wb") as f:
            for _ in range(96):  # 6 MiB in many small writes
                f.write(block)
        print(version, flush=True)
        version += 1
"""


def test_atomic_write_survives_sigkill(tmp_path: Path) -> None:
    target = tmp_path / "data.bin"
    target.write_bytes(b"previous")

    def check(last: int) -> None:
        data = target.read_bytes()
        if data == b"previous":
            assert last == -1  # killed before the first replace
            return
        assert len(data) == 96 << 16, f"partial target of {len(data)} bytes"
        version = data[0]
        assert data.count(version) == len(data), "target mixes two versions"
        assert version in ((last % 251), ((last + 1) % 251))

    kill_mid_write(WRITER, tmp_path, lambda: list(tmp_path.glob(".data.bin.*.tmp")), check)


def test_atomic_write_error_mid_way_keeps_previous(tmp_path: Path) -> None:
    target = tmp_path / "a.txt"
    target.write_text("previous")
    with pytest.raises(RuntimeError):
        with atomic_write(target, "w") as f:
            f.write("half of the new con")
            raise RuntimeError("disk full")
    assert target.read_text() == "previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


def test_atomic_write_fsync_failure_keeps_previous(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "a.bin"
    target.write_bytes(b"previous")

    def fail(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(ontologies.atomic.os, "fsync", fail)
    with pytest.raises(OSError):
        with atomic_write(target) as f:
            f.write(b"new" * 1000)
    assert target.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin"]


def _fail_nth_replace(monkeypatch: pytest.MonkeyPatch, n: int) -> None:
    real, calls = os.replace, []

    def replace(src: str, dst: str) -> None:
        calls.append(dst)
        if len(calls) == n:
            raise OSError(28, "No space left on device")
        real(src, dst)

    monkeypatch.setattr(ontologies.atomic.os, "replace", replace)


def test_atomic_dir_error_in_block_keeps_previous(tmp_path: Path) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "f.txt").write_text("previous")
    with pytest.raises(RuntimeError):
        with atomic_dir(folder) as tmp:
            (tmp / "f.txt").write_text("new")
            raise RuntimeError("crash")
    assert (folder / "f.txt").read_text() == "previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_atomic_dir_failed_swap_restores_previous(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "f.txt").write_text("previous")
    _fail_nth_replace(monkeypatch, 2)  # 1: old folder aside, 2: new folder into place
    with pytest.raises(OSError):
        with atomic_dir(folder) as tmp:
            (tmp / "f.txt").write_text("new")
    assert folder.is_dir(), f"nothing at {folder}: {sorted(p.name for p in tmp_path.iterdir())}"
    assert (folder / "f.txt").read_text() == "previous"


# ---------------------------------------------------------------------- KnowledgeGraph
KG_WRITER = """
    import sys
    from pathlib import Path
    from ontologies.schema import make_concepts, make_relations
    from kg.graph import KnowledgeGraph
    from kg.storage import save
    folder = Path(sys.argv[1]) / "kg"
    ids = [f"X:{i}" for i in range(40_000)]
    concepts = make_concepts(ids, ids, "disease")
    relations = make_relations(ids[1:], "is_a", ids[:-1])
    print("ready", flush=True)
    version = 0
    while True:
        save(KnowledgeGraph(concepts, relations, {"version": version}, validate=False), folder)
        print(version, flush=True)
        version += 1
"""


def _small_kg(version: int) -> object:
    from kg.graph import KnowledgeGraph
    from ontologies.schema import make_concepts, make_relations

    return KnowledgeGraph(make_concepts(["X:1", "X:2"], ["one", "two"], "disease"),
                          make_relations(["X:2"], "is_a", ["X:1"]), {"version": version})


def test_knowledge_graph_save_survives_sigkill(tmp_path: Path) -> None:
    from kg.storage import load, save

    folder = tmp_path / "kg"
    save(_small_kg(-1), folder)

    def check(last: int) -> None:
        target = folder
        if not folder.exists():  # the documented window between the two renames
            old = sorted(tmp_path.glob(".kg.old-*"))
            assert len(old) == 1, "no folder at the target and no previous one aside"
            target = old[0]
        kg = load(target)
        version = kg.metadata["version"]
        assert version in (last, last + 1) or (last == -1 and version == -1), (last, version)
        assert len(kg) == (2 if version == -1 else 40_000)

    kill_mid_write(KG_WRITER, tmp_path, lambda: sorted(tmp_path.glob(".kg.*")), check)


def test_knowledge_graph_save_error_keeps_previous(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import kg.storage
    from kg.storage import load, save

    folder = save(_small_kg(1), tmp_path / "kg")
    real = kg.storage._write_table

    def fail_on_relations(df: pd.DataFrame, path: Path, name: str) -> None:
        real(df, path, name)  # concepts.parquet gets written first...
        if name == "relations":
            raise OSError(28, "No space left on device")  # ...then the disk fills up

    monkeypatch.setattr(kg.storage, "_write_table", fail_on_relations)
    with pytest.raises(OSError):
        save(_small_kg(2), folder)
    assert load(folder).metadata == {"version": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kg"]


# ---------------------------------------------------------------------- CohortGraph
def test_cohort_graph_save_error_keeps_previous(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from graphs.cohort import CohortBuilder
    from graphs.cohort.demo import tiny_kg, tiny_records
    from graphs.cohort.graph import CohortGraph

    cohort = CohortBuilder(tiny_kg()).build(tiny_records())
    path = cohort.save(tmp_path / "cohort.pt")
    before = path.read_bytes()
    monkeypatch.setattr(ontologies.atomic.os, "fsync", lambda fd: (_ for _ in ()).throw(
        OSError(5, "Input/output error")))
    cohort.metadata["changed"] = True
    with pytest.raises(OSError):
        cohort.save(path)
    assert path.read_bytes() == before
    assert CohortGraph.load(path).equals(cohort)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cohort.pt"]


COHORT_WRITER = """
    import sys
    from pathlib import Path
    import torch
    from torch_geometric.data import HeteroData
    from graphs.cohort.graph import CohortGraph
    path = Path(sys.argv[1]) / "cohort.pt"
    print("ready", flush=True)
    version = 0
    while True:
        data = HeteroData()
        data["patient"].x = torch.full((2_000, 4_000), float(version))  # 32 MB to write
        CohortGraph(data, {"patient": [str(i) for i in range(2_000)]},
                    {"version": version}).save(path)
        print(version, flush=True)
        version += 1
"""


@pytest.mark.slow
def test_cohort_graph_save_survives_sigkill(tmp_path: Path) -> None:
    from graphs.cohort.graph import CohortGraph

    path = tmp_path / "cohort.pt"

    def check(last: int) -> None:
        if not path.exists():
            assert last == -1
            return
        g = CohortGraph.load(path)
        version = g.metadata["version"]
        assert version in (last, last + 1)
        assert bool((g.data["patient"].x == version).all())

    kill_mid_write(COHORT_WRITER, tmp_path, lambda: list(tmp_path.glob(".cohort.pt.*.tmp")),
                   check)


# ---------------------------------------------------------------------- PatientRecords
def test_patient_records_save_error_keeps_previous(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from graphs.cohort.demo import tiny_records
    from graphs.records import PatientRecords

    rec = tiny_records()
    folder = rec.save(tmp_path / "records")
    real = pd.DataFrame.to_parquet

    def fail_on_notes(self: pd.DataFrame, path: Path, *args: object, **kw: object) -> None:
        if Path(path).name == "notes.parquet":
            raise OSError(28, "No space left on device")
        real(self, path, *args, **kw)

    monkeypatch.setattr(pd.DataFrame, "to_parquet", fail_on_notes)
    changed = tiny_records()
    changed.patients = changed.patients.iloc[:1]
    with pytest.raises(OSError):
        changed.save(folder)
    monkeypatch.undo()
    back = PatientRecords.load(folder)
    assert back.patient_ids == rec.patient_ids
    assert back.notes["text"].tolist() == rec.notes["text"].tolist()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["records"]


RECORDS_WRITER = """
    import sys
    from pathlib import Path
    import pandas as pd
    from graphs.records import PatientRecords
    folder = Path(sys.argv[1]) / "records"
    n = 200_000
    print("ready", flush=True)
    version = 0
    while True:
        rec = PatientRecords.empty()
        rec.patients = pd.DataFrame({"patient_id": [f"{version}-{i}" for i in range(n)],
                                     "sex": "F", "birth_date": None, "death_date": None})
        rec.metadata = {"version": version}
        rec.save(folder)
        print(version, flush=True)
        version += 1
"""


@pytest.mark.slow
def test_patient_records_save_survives_sigkill(tmp_path: Path) -> None:
    from graphs.records import PatientRecords

    folder = tmp_path / "records"

    def check(last: int) -> None:
        target = folder
        if not folder.exists():
            old = sorted(tmp_path.glob(".records.old-*"))
            if last == -1 and not old:
                return
            assert len(old) == 1
            target = old[0]
        rec = PatientRecords.load(target)
        version = rec.metadata["version"]
        assert version in (last, last + 1)
        assert len(rec.patients) == 200_000
        assert rec.patients["patient_id"].str.startswith(f"{version}-").all()

    kill_mid_write(RECORDS_WRITER, tmp_path, lambda: sorted(tmp_path.glob(".records.*")),
                   check)


# ---------------------------------------------------------------------- EmbeddingCache
def test_embedding_cache_put_error_keeps_previous(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from graphs.encoders.base import EmbeddingCache

    cache = EmbeddingCache(tmp_path / "cache")
    cache.put("enc", "ab12", np.ones(4))
    _fail_nth_replace(monkeypatch, 1)  # the commit of the new entry fails
    with pytest.raises(OSError):
        cache.put("enc", "ab12", np.zeros(4))
    monkeypatch.undo()
    np.testing.assert_array_equal(cache.get("enc", "ab12"), np.ones(4, dtype=np.float32))
    entry = cache._path("enc", "ab12")
    assert sorted(p.name for p in entry.parent.iterdir()) == [entry.name]


CACHE_WRITER = """
    import sys
    from pathlib import Path
    import numpy as np
    from graphs.encoders.base import EmbeddingCache
    cache = EmbeddingCache(Path(sys.argv[1]) / "cache")
    print("ready", flush=True)
    version = 0
    while True:
        cache.put("enc", "ab12", np.full(2_000_000, version, dtype=np.float32))
        print(version, flush=True)
        version += 1
"""


@pytest.mark.slow
def test_embedding_cache_put_survives_sigkill(tmp_path: Path) -> None:
    from graphs.encoders.base import EmbeddingCache

    cache = EmbeddingCache(tmp_path / "cache")
    cache.put("enc", "ab12", np.full(3, -1, dtype=np.float32))
    entry = cache._path("enc", "ab12")

    def check(last: int) -> None:
        vec = cache.get("enc", "ab12")
        assert vec is not None, "the entry became unreadable"
        version = int(vec[0])
        if version == -1:
            assert last == -1 and len(vec) == 3
            return
        assert len(vec) == 2_000_000 and bool((vec == version).all())
        assert version in (last, last + 1)

    kill_mid_write(CACHE_WRITER, tmp_path, lambda: list(entry.parent.glob(".*.tmp")), check)
