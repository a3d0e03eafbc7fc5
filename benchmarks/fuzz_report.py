"""Fuzz report: runs the reliability fuzzers with many more examples and prints the counts.

Runs ``tests/reliability/test_fuzz_readers.py`` (and the malformed-input corpus) in a
pytest subprocess with ``MEDKG_FUZZ_SCALE`` examples per target (fresh random examples
unless ``--derandomize``), then prints per target and in total: inputs tried, inputs
accepted, project errors raised (MedKGError), known-bug crashes (bugs that have a strict
xfail test) and crashes (any other exception; the goal is 0). New crash signatures are
listed as ``NEW <exception>:<file>:<function>``.

Run:  python benchmarks/fuzz_report.py [--scale 10] [--no-corpus] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests" / "reliability"


def run(scale: float, corpus: bool, randomize: bool, timeout: float) -> tuple[dict, int, float]:
    """Runs pytest once; returns the recorder counts, pytest's exit code and wall time."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "fuzz.json"
        env = dict(os.environ, MEDKG_FUZZ_SCALE=str(scale), MEDKG_FUZZ_REPORT=str(out),
                   MEDKG_FUZZ_RANDOM="1" if randomize else "0", OMP_NUM_THREADS="1")
        files = [str(TESTS / "test_fuzz_readers.py")]
        if corpus:
            files.append(str(TESTS / "test_malformed_corpus.py"))
        cmd = [sys.executable, "-m", "pytest", *files, "-q", "-p", "no:cacheprovider",
               "-p", "no:warnings", "--no-header", "-rf", "--basetemp", str(Path(tmp) / "t")]
        start = time.perf_counter()
        proc = subprocess.run(cmd, cwd=ROOT, env=env, timeout=timeout, capture_output=True,
                              text=True)
        wall = time.perf_counter() - start
        if proc.returncode not in (0, 1) or not out.is_file():
            sys.stdout.write(proc.stdout[-4000:] + proc.stderr[-4000:])
            raise SystemExit(f"pytest exited with {proc.returncode} and wrote no counts")
        failed = [line for line in proc.stdout.splitlines() if line.startswith("FAILED")]
        for line in failed:
            print(line)
        return json.loads(out.read_text()), proc.returncode, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=10.0,
                        help="multiplier of every target's max_examples (default 10)")
    parser.add_argument("--no-corpus", action="store_true", help="fuzzers only")
    parser.add_argument("--derandomize", action="store_true",
                        help="replay the deterministic examples of the CI run")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds")
    parser.add_argument("--json", type=Path, help="also write the counts here")
    args = parser.parse_args()

    report, code, wall = run(args.scale, not args.no_corpus, not args.derandomize, args.timeout)
    print(f"\nfuzz report: scale {args.scale:g}, "
          f"{'derandomised' if args.derandomize else 'random'} examples, {wall:.0f} s\n")
    print(f"{'target':34s} {'inputs':>7s} {'accepted':>8s} {'errors':>7s} {'known':>6s} "
          f"{'crashes':>7s}")
    for name, row in sorted(report["targets"].items()):
        print(f"{name:34s} {row['inputs']:7d} {row['accepted']:8d} {row['project_errors']:7d} "
              f"{row['known_bugs']:6d} {row['crashes']:7d}")
        for bug, n in sorted(row["bugs"].items()):
            print(f"{'':4s}{bug} x{n}")
    t = report["totals"]
    print(f"{'TOTAL':34s} {t['inputs']:7d} {t['accepted']:8d} {t['project_errors']:7d} "
          f"{t['known_bugs']:6d} {t['crashes']:7d}")
    print(f"\ninputs tried: {t['inputs']}  project errors raised: {t['project_errors']}  "
          f"known-bug crashes: {t['known_bugs']}  crashes: {t['crashes']} (goal 0)")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    raise SystemExit(1 if t["crashes"] or code else 0)


if __name__ == "__main__":
    main()
