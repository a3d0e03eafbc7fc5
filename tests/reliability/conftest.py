"""Shared fixtures of the reliability suite: the crash recorder and a scratch folder.

Every reader call made by the corpus and fuzz tests goes through :class:`FuzzRecorder`,
which counts inputs, project errors (:class:`~ontologies.errors.MedKGError`) and crashes
(anything else). A crash whose signature is in :data:`KNOWN_BUGS` (a bug with its own
strict-xfail regression test) is counted apart and tolerated, so the property tests fail
only on *new* crash kinds; remove an entry once the bug is fixed.

Environment:
    MEDKG_FUZZ_REPORT: if set, a JSON file the counts are written to at session end
        (``benchmarks/fuzz_report.py`` reads it).
"""

from __future__ import annotations

import json
import os
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ontologies.errors import MedKGError

ROOT = Path(__file__).resolve().parents[2]
_PACKAGES = ("ontologies", "kg", "graphs", "gnn")


#: Crash signatures (exception type, project file, innermost project function) of bugs
#: that have a strict-xfail regression test; the fuzz tests count them instead of failing.
KNOWN_BUGS: dict[tuple[str, str, str], str] = {
}


def crash_signature(err: BaseException) -> tuple[str, str, str]:
    """(type name, repo-relative file, function) of the innermost project frame."""
    where = ("?", "?")
    for frame, _ in traceback.walk_tb(err.__traceback__):
        path = Path(frame.f_code.co_filename)
        try:
            rel = path.resolve().relative_to(ROOT)
        except ValueError:
            continue
        if rel.parts and rel.parts[0] in _PACKAGES:
            where = (rel.as_posix(), frame.f_code.co_name)
    return type(err).__name__, *where


class FuzzRecorder:
    """Counts reader calls per target; lets only project errors (and known bugs) pass."""

    def __init__(self) -> None:
        self.targets: dict[str, dict[str, Any]] = {}

    def _row(self, target: str) -> dict[str, Any]:
        return self.targets.setdefault(target, {"inputs": 0, "accepted": 0,
                                                "project_errors": 0, "known_bugs": 0,
                                                "crashes": 0, "bugs": {}})

    def check(self, target: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Calls ``fn``; returns its result, or None when it raised a project error.

        A MedKGError is counted and swallowed; a known-bug crash is counted and
        swallowed; any other exception is counted as a crash and re-raised.
        """
        row = self._row(target)
        row["inputs"] += 1
        try:
            out = fn(*args, **kwargs)
        except MedKGError:
            row["project_errors"] += 1
            return None
        except Exception as err:
            signature = crash_signature(err)
            bug = KNOWN_BUGS.get(signature)
            if bug is None:
                row["crashes"] += 1
                new = "NEW " + ":".join(signature)
                row["bugs"][new] = row["bugs"].get(new, 0) + 1
                raise
            row["known_bugs"] += 1
            row["bugs"][bug] = row["bugs"].get(bug, 0) + 1
            return None
        row["accepted"] += 1
        return out

    def record(self, target: str, outcome: str) -> None:
        """Counts one input whose outcome the caller determined itself."""
        row = self._row(target)
        row["inputs"] += 1
        row[outcome] += 1

    def totals(self) -> dict[str, int]:
        keys = ("inputs", "accepted", "project_errors", "known_bugs", "crashes")
        return {k: sum(r[k] for r in self.targets.values()) for k in keys}


RECORDER = FuzzRecorder()


@pytest.fixture(scope="session")
def fuzz() -> FuzzRecorder:
    """The session's recorder (session-scoped so hypothesis tests may use it)."""
    return RECORDER


@pytest.fixture(scope="session")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A session folder for files written by hypothesis examples (unique names inside)."""
    return tmp_path_factory.mktemp("fuzz")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not RECORDER.targets:
        return
    tr = terminalreporter
    tr.section("medkg reliability: reader inputs")
    tr.write_line(f"{'target':34s} {'inputs':>7s} {'accepted':>8s} {'errors':>7s} "
                  f"{'known':>6s} {'crashes':>7s}")
    for name, row in sorted(RECORDER.targets.items()):
        tr.write_line(f"{name:34s} {row['inputs']:7d} {row['accepted']:8d} "
                      f"{row['project_errors']:7d} {row['known_bugs']:6d} {row['crashes']:7d}")
    t = RECORDER.totals()
    tr.write_line(f"{'TOTAL':34s} {t['inputs']:7d} {t['accepted']:8d} {t['project_errors']:7d} "
                  f"{t['known_bugs']:6d} {t['crashes']:7d}")


def pytest_sessionfinish(session: Any, exitstatus: int) -> None:
    out = os.environ.get("MEDKG_FUZZ_REPORT")
    if out and RECORDER.targets:
        Path(out).write_text(json.dumps({"targets": RECORDER.targets,
                                         "totals": RECORDER.totals()}, indent=2))
