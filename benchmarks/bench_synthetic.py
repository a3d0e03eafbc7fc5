"""Synthetic cohort generator: time to generate N patients, and to render raw modalities.

Prints, for N patients (default 100k), the time of ``generate_cohort`` without note text
(codes and tables only, the brief's budget is < 60 s), its stages (simulation, labs, table
building), the optional ``PatientRecords.validate()`` pass, note-text rendering, and the
throughput of the lazy renderers (images, ECGs, genomes, notes) on a 1,000-visit sample.

Run:  OMP_NUM_THREADS=1 python benchmarks/bench_synthetic.py [--patients 100000]
"""

from __future__ import annotations

import argparse
import os
import resource
import time

import numpy as np


def _clock(label: str, fn, *args, **kwargs):
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    dt = time.perf_counter() - t0
    print(f"{label:<44s} {dt:8.2f} s")
    return out, dt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sample", type=int, default=1000, help="visits rendered per modality")
    args = parser.parse_args()

    from graphs.synthetic import (
        generate_cohort,
        render_images,
        render_notes,
        render_sequences,
        render_signals,
    )
    from graphs.synthetic.disease import simulate
    from graphs.synthetic.measures import measure
    from graphs.synthetic.notes import _render as render_note_rows
    from graphs.synthetic.tables import build_tables

    n = args.patients
    print(f"patients={n}  OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}  "
          f"load={os.getloadavg()[0]:.1f}")
    cohort, total = _clock("generate_cohort (codes + tables, no text)", generate_cohort, n,
                           seed=args.seed, note_text=False, validate=False)
    _, t_valid = _clock("PatientRecords.validate() (optional)", cohort.records.validate)
    rng = np.random.default_rng(args.seed)
    state, _ = _clock("  stage: simulate (onsets, coding, drugs)", simulate, rng, n, (2, 6))
    _clock("  stage: measure (labs, vitals)", measure, np.random.default_rng(1), state)
    _clock("  stage: build_tables (incl. labs)", build_tables, rng, state, "2100-01-01",
           dict(cohort.config["missing_rates"]))
    print("rows:", {k: v for k, v in cohort.records.summary().items() if isinstance(v, int)})
    p, v = np.nonzero(cohort.observed["note"])
    _, t_notes = _clock(f"note text for all {len(p)} notes", render_note_rows, cohort, p, v)

    k = min(args.sample, n)
    ids = list(cohort.patient_ids[:k])
    for name, fn in (("render_images 64x64", render_images),
                     ("render_signals 3x1000", render_signals),
                     ("render_sequences 1000 bp", render_sequences),
                     ("render_notes", render_notes)):
        _, dt = _clock(f"{name} ({k} visits)", fn, cohort, ids)
        print(f"{'':<44s} {k / dt:8.0f} per s")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak:.0f} MB; generation {total:.1f} s "
          f"({'within' if total < 60 else 'OVER'} the 60 s budget); optional validate "
          f"{t_valid:.1f} s; note text {t_notes:.1f} s")


if __name__ == "__main__":
    main()
