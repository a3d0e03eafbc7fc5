"""Records -> embeddings on the synthetic cohort: throughput per modality and what the
embeddings know about the planted conditions.

Part 1 (throughput, items/s, threads side by side in one run): rendering raw items
through the synthetic resolver, and encoding them (prepare + forward, no cache) with the
default encoder settings and with ``graphs.embed.FAST_OPTIONS``; MiniLM notes at
``max_length`` 128 and 256.

Part 2 (whole pipeline): ``embed_records`` with ``FAST_OPTIONS`` on the whole cohort,
seconds per modality at one thread: without a cache, filling one, reading it back.

Part 3 (linear probes): patients are split 70/30; a logistic-regression probe is fitted
on training patients' rows and scored (AUROC) on test patients' rows, per planted
condition, for image and signal embeddings that are
(a) randomly initialised, (b) aligned to the same visit's note embeddings with
``pretrain_encoder`` (InfoNCE) and (c) fitted to the visit's recorded diagnosis codes
with ``pretrain_supervised``. (b) and (c) train on training patients only. A control
condition the modality does not show should stay near 0.5. Note embeddings (MiniLM) are
probed as a reference.

MiniLM runs at ~10 notes/s on a busy 2-core host, so note embeddings are cached in
``--cache-dir``: the first full run spends minutes on notes, later runs seconds.

Usage:
    python benchmarks/bench_embed.py                  # 1000 patients, ~10-20 min cold
    python benchmarks/bench_embed.py --quick          # 300 patients, 2 epochs
    python benchmarks/bench_embed.py --json out.json --plot probes.png
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from timing import timed  # noqa: E402  (sibling module in benchmarks/)

from graphs.embed import FAST_OPTIONS, build_encoder, embed_records, load_items  # noqa: E402
from graphs.pretrain import (  # noqa: E402
    code_targets,
    linear_probe,
    paired_items,
    pretrain_encoder,
    pretrain_supervised,
    split_patients,
)
from graphs.synthetic import generate_cohort, resolve  # noqa: E402
from ontologies.atomic import atomic_write  # noqa: E402

NAMES = {"image": "image_cnn", "signal": "signal_cnn", "genomic": "genomic_cnn"}
#: planted conditions each modality shows (MECHANISMS.md section 7) + one control
CONDITIONS = {"image": ["pneumonia", "copd", "hf"], "signal": ["af", "ihd", "hf", "htn"],
              "note": ["depression", "anxiety", "pneumonia", "gi_bleed", "cf"]}
CONTROL = {"image": ["depression"], "signal": ["asthma"], "note": []}  # notes show all 16
DEFAULT_OPTIONS = {"image": {}, "signal": {"in_channels": 3}, "genomic": {}}




def throughput(cohort, threads: list[int], n_items: int, n_notes: int, repeat: int) -> list:
    rows = []
    mods = cohort.records.modalities
    for modality in ("image", "signal", "genomic"):
        paths = mods.loc[mods["modality"] == modality, "path"].tolist()[:n_items]
        items = resolve(cohort, paths)
        row = {"case": f"render {modality}", "items": len(paths)}
        sec = timed(lambda p=paths: resolve(cohort, p), repeat)  # numpy: threads irrelevant
        row.update({f"items_per_s_{t}_threads": len(paths) / sec for t in threads})
        rows.append(row)
        for label, opts in (("default", DEFAULT_OPTIONS[modality]),
                            ("FAST_OPTIONS", FAST_OPTIONS[modality])):
            enc = build_encoder(NAMES[modality], modality, opts, example=items[0])
            row = {"case": f"encode {modality} {label}", "items": len(items),
                   "options": {k: list(v) if isinstance(v, tuple) else v
                               for k, v in opts.items()}}
            for t in threads:
                torch.set_num_threads(t)
                sec = timed(lambda e=enc: e.encode(items, batch_size=64, progress=False),
                            repeat)
                row[f"items_per_s_{t}_threads"] = len(items) / sec
            rows.append(row)
    from graphs.encoders.text import TextEncoder
    notes = cohort.records.notes["text"].dropna().tolist()[:n_notes]
    for max_length in (128, 256):
        enc = TextEncoder(max_length=max_length)
        row = {"case": f"encode note MiniLM max_length={max_length}", "items": len(notes),
               "mean_tokens": float(np.mean(enc.token_counts(notes)))}
        for t in threads:
            torch.set_num_threads(t)
            sec = timed(lambda e=enc: e.encode(notes, batch_size=64, progress=False),
                        max(1, repeat - 1))
            row[f"items_per_s_{t}_threads"] = len(notes) / sec
        rows.append(row)
    return rows


def pipeline(cohort, cache_dir: Path) -> dict:
    """Seconds per modality of embed_records (FAST_OPTIONS, 1 thread): without a cache,
    filling an empty cache (one fsync'ed file per item), and reading it back."""
    res = functools.partial(resolve, cohort)
    out = {}
    cache_dir.mkdir(parents=True, exist_ok=True)
    for modality in ("image", "signal", "genomic"):
        fresh = Path(tempfile.mkdtemp(dir=cache_dir, prefix="pipeline-"))
        secs = []
        for cache in (None, fresh, fresh):
            t0 = time.perf_counter()
            f = embed_records(cohort.records, {modality: NAMES[modality]}, resolver=res,
                              encoder_options=FAST_OPTIONS, cache_dir=cache,
                              num_threads=1, progress=False)[modality]
            secs.append(time.perf_counter() - t0)
        out[modality] = {"rows": len(f.table), "no_cache_s": secs[0],
                         "cache_write_s": secs[1], "cache_read_s": secs[2],
                         "items_per_s": len(f.table) / secs[0]}
    return out


def probes(cohort, notes, epochs: int, seed: int) -> list[dict]:
    """Probe AUROC of random / aligned / code-supervised embeddings on test patients."""
    res = functools.partial(resolve, cohort)
    labels = cohort.visit_labels()
    train, test = split_patients(cohort.patient_ids, 0.3, seed=seed)
    rows = []

    def record(modality, approach, feats, train_s=None, extra=None):
        conds = CONDITIONS[modality] + CONTROL[modality]
        auroc = linear_probe(feats, labels, test, conds)
        row = {"modality": modality, "approach": approach, "rows": len(feats.table),
               "train_s": train_s, "auroc": auroc, **(extra or {})}
        rows.append(row)
        shown = ", ".join(f"{k} {v:.3f}" for k, v in auroc.items())
        print(f"  {modality:7s} {approach:28s} {shown}"
              + (f"  (trained {train_s:.0f} s)" if train_s else ""), flush=True)

    record("note", "MiniLM (pretrained)", notes)
    for modality in ("image", "signal"):
        def fresh(m=modality):
            return build_encoder(NAMES[m], m, FAST_OPTIONS[m], seed=seed,
                                 example=np.zeros((3, 8)) if m == "signal" else None)

        def embed(enc, m=modality):
            return embed_records(cohort.records, {m: enc}, resolver=res, progress=False,
                                 num_threads=1)[m]

        record(modality, "random init", embed(fresh()))
        items, text, table = paired_items(cohort.records, modality, notes, res,
                                          patients=train)
        enc = fresh()
        t0 = time.perf_counter()
        hist = pretrain_encoder(enc, items, text, epochs=epochs, lr=1e-3, seed=seed,
                                progress=False)
        sec = time.perf_counter() - t0
        record(modality, f"aligned to notes ({epochs} ep)", embed(enc), sec,
               {"pairs": len(items), "loss": hist})
        table, items = load_items(cohort.records, modality, res, patients=train)
        y, names = code_targets(cohort.records, table, level=3, scope="visit")
        enc = fresh()
        t0 = time.perf_counter()
        hist = pretrain_supervised(enc, items, y, epochs=epochs, lr=1e-3, seed=seed,
                                   progress=False)
        sec = time.perf_counter() - t0
        record(modality, f"supervised on codes ({epochs} ep)", embed(enc), sec,
               {"items": len(items), "targets": len(names), "loss": hist})
    return rows


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    mods = [m for m in ("image", "signal") if any(r["modality"] == m for r in rows)]
    fig, axes = plt.subplots(1, len(mods), figsize=(5 * len(mods), 3.5), squeeze=False)
    for ax, m in zip(axes[0], mods):
        sub = [r for r in rows if r["modality"] == m]
        conds = list(sub[0]["auroc"])
        width = 0.8 / len(sub)
        for i, r in enumerate(sub):
            ax.bar(np.arange(len(conds)) + i * width, [r["auroc"][c] for c in conds], width,
                   label=r["approach"])
        ax.axhline(0.5, color="grey", lw=0.8, ls="--")
        ax.set_xticks(np.arange(len(conds)) + 0.4 - width / 2, conds)
        ax.set_ylim(0.3, 1.02)
        ax.set_title(f"{m}: test-patient probe AUROC")
        ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    with atomic_write(path, "wb") as handle:
        fig.savefig(handle, format="png", dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patients", type=int, default=1000, help="synthetic cohort size")
    ap.add_argument("--epochs", type=int, default=5, help="pretraining epochs")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2],
                    help="intra-op thread counts compared side by side (part 1)")
    ap.add_argument("--items", type=int, default=512, help="items per throughput case")
    ap.add_argument("--notes", type=int, default=128, help="notes per throughput case")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per case (median)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="300 patients, 2 epochs, fewer items")
    ap.add_argument("--skip", nargs="*", default=[], choices=["throughput", "pipeline",
                                                              "probes"])
    ap.add_argument("--cache-dir", type=Path,
                    default=Path(tempfile.gettempdir()) / "medkg_bench_embed_cache",
                    help="embedding cache (note embeddings are slow to compute)")
    ap.add_argument("--json", type=Path, help="write results to this JSON file")
    ap.add_argument("--plot", type=Path, help="write the probe bar chart to this PNG")
    args = ap.parse_args(argv)
    if args.quick:
        args.patients, args.epochs, args.items, args.notes, args.repeat = 300, 2, 128, 32, 1
    logging.basicConfig(level=logging.ERROR)
    results: dict = {"patients": args.patients, "epochs": args.epochs, "seed": args.seed,
                     "torch": torch.__version__, "cpus": os.cpu_count(),
                     "loadavg_start": os.getloadavg()}
    cohort = generate_cohort(args.patients, seed=args.seed)
    counts = cohort.records.modalities["modality"].value_counts().to_dict()
    counts["note"] = len(cohort.records.notes)
    results["rows"] = {str(k): int(v) for k, v in counts.items()}
    print(f"cohort: {cohort}; rows {results['rows']}; load {os.getloadavg()[0]:.1f}")

    if "throughput" not in args.skip:
        print("\n1. throughput (items/s)")
        rows = throughput(cohort, args.threads, args.items, args.notes, args.repeat)
        for r in rows:
            print(f"  {r['case']:42s} " + " ".join(
                f"{t} thr {r[f'items_per_s_{t}_threads']:8.1f}" for t in args.threads))
        results["throughput"] = rows
    torch.set_num_threads(1)
    if "pipeline" not in args.skip:
        print("\n2. embed_records with FAST_OPTIONS, 1 thread (render + encode)")
        results["pipeline"] = pipeline(cohort, args.cache_dir)
        for m, r in results["pipeline"].items():
            print(f"  {m:8s} {r['rows']:6d} rows  {r['no_cache_s']:6.1f} s "
                  f"({r['items_per_s']:.0f}/s); filling a cache {r['cache_write_s']:6.1f} s, "
                  f"from the cache {r['cache_read_s']:5.1f} s")
    if "probes" not in args.skip:
        print("\n3. linear probes on test patients (30 %); MiniLM notes from the cache")
        t0 = time.perf_counter()
        notes = embed_records(cohort.records, {"note": "text"},
                              encoder_options=FAST_OPTIONS, cache_dir=args.cache_dir / "notes",
                              num_threads=1, progress=True)["note"]
        results["note_embedding_s"] = time.perf_counter() - t0
        print(f"  notes: {len(notes.table)} in {results['note_embedding_s']:.0f} s")
        results["probes"] = probes(cohort, notes, args.epochs, args.seed)
        if args.plot:
            plot(results["probes"], args.plot)
    results["loadavg_end"] = os.getloadavg()
    if args.json:
        with atomic_write(args.json, "w") as handle:
            json.dump(results, handle, indent=2, default=float)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
