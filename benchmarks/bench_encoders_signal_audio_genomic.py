"""Throughput (items/s) of the signal, audio and genomic encoders on CPU.

Each encoder runs end to end through ``Encoder.encode`` (preprocessing + forward, no
cache, eval mode) on synthetic in-memory inputs, at 1 and 2 intra-op threads side by
side in one run (timings on shared machines drift, so compare ratios within a run).
Also timed: reading the pydicom 12-lead ECG and a VCF -> gene matrix. The median of
``--repeat`` timed runs after one warm-up is reported.

Usage:
    python benchmarks/bench_encoders_signal_audio_genomic.py            # 1 and 2 threads
    python benchmarks/bench_encoders_signal_audio_genomic.py --quick --json out.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from pydicom.data import get_testdata_file  # noqa: E402
from timing import timed  # noqa: E402  (sibling module in benchmarks/)

from graphs.encoders.audio import AudioCNNEncoder  # noqa: E402
from graphs.encoders.genomic import MotifCNNEncoder, gene_features, read_vcf  # noqa: E402
from graphs.encoders.signal import RecurrentSignalEncoder, TemporalCNNEncoder  # noqa: E402
from graphs.encoders.signal_io import read_dicom_waveform, to_grid  # noqa: E402
from ontologies.atomic import atomic_write  # noqa: E402


def write_vcf(path: Path, n_variants: int, n_samples: int, rng: np.random.Generator) -> None:
    """An invented VCF: ``n_variants`` sites over 200 genes, random genotypes."""
    gts = np.array(["0/0", "0/1", "1/1", "./."])
    samples = [f"S{i}" for i in range(n_samples)]
    lines = ["##fileformat=VCFv4.2",
             "\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO",
                        "FORMAT", *samples])]
    calls = gts[rng.choice(4, size=(n_variants, n_samples), p=[0.85, 0.1, 0.04, 0.01])]
    for i in range(n_variants):
        info = f"GENE=G{i % 200};IMPACT={('LOW', 'MODERATE', 'HIGH')[i % 3]}"
        lines.append("\t".join(["1", str(1000 + i), f"v{i}", "A", "G", "50", "PASS", info,
                                "GT", *calls[i]]))
    path.write_text("\n".join(lines) + "\n")


def cases(quick: bool, rng: np.random.Generator) -> list[tuple[str, Callable, list, int]]:
    """(label, encoder factory, items, batch_size) per benchmark."""
    n = 16 if quick else 64
    ecgs = [rng.normal(size=(12, 5000)).astype(np.float32) for _ in range(n)]  # 10 s, 500 Hz
    hours = np.sort(rng.uniform(0, 48, size=(n, 300)), axis=1)
    chans = np.array(["hr", "sbp", "dbp", "rr", "spo2", "temp", "gcs", "map"])
    grids = [to_grid(h, rng.normal(size=300), chans[rng.integers(0, 8, 300)], step=1,
                     horizon=48, channel_names=list(chans)) for h in hours]
    audio = [rng.normal(scale=0.1, size=16000 * 5).astype(np.float32) for _ in range(n)]
    dna = ["".join(rng.choice(list("ACGT"), size=1000)) for _ in range(n)]
    return [
        ("signal_cnn 12x5000 (stride 2)",
         lambda: TemporalCNNEncoder(in_channels=12, dim=128, stride=2), ecgs, 16),
        ("signal_rnn 48h x 8 vitals (GRU-D inputs)",
         lambda: RecurrentSignalEncoder(in_channels=8, dim=128), grids, 32),
        ("audio_cnn 5 s @ 16 kHz", lambda: AudioCNNEncoder(dim=128), audio, 16),
        ("genomic_cnn 1000 bp", lambda: MotifCNNEncoder(dim=128), dna, 32),
    ]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2],
                        help="intra-op thread counts to compare (default 1 2)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per case")
    parser.add_argument("--quick", action="store_true", help="fewer items (smoke run)")
    parser.add_argument("--json", type=Path, help="also write results here")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    results: dict[str, dict[str, float]] = {}
    torch.manual_seed(0)
    for label, make, items, batch in cases(args.quick, rng):
        enc = make().eval()
        for threads in args.threads:
            torch.set_num_threads(threads)
            secs = timed(lambda: enc.encode(items, batch_size=batch, progress=False),
                         args.repeat)
            results.setdefault(label, {})[f"{threads}t_items_per_s"] = len(items) / secs
    ecg_path = get_testdata_file("waveform_ecg.dcm")
    with tempfile.TemporaryDirectory() as tmp:
        vcf = Path(tmp) / "bench.vcf"
        n_var, n_smp = (2000, 50) if args.quick else (20000, 100)
        write_vcf(vcf, n_var, n_smp, rng)
        genes = [f"G{i}" for i in range(200)]
        for threads in args.threads:
            torch.set_num_threads(threads)
            secs = timed(lambda: read_dicom_waveform(ecg_path), args.repeat)
            results.setdefault("read DICOM 12-lead ECG", {})[f"{threads}t_items_per_s"] = \
                1 / secs
            secs = timed(lambda: gene_features(read_vcf(vcf), genes), args.repeat)
            results.setdefault(f"read_vcf+gene_features ({n_var} x {n_smp} calls)", {})[
                f"{threads}t_items_per_s"] = n_var * n_smp / secs
    width = max(map(len, results))
    print(f"{'case':<{width}}  " + "  ".join(f"{t} thread(s) items/s" for t in args.threads))
    for label, row in results.items():
        print(f"{label:<{width}}  " + "  ".join(f"{row[f'{t}t_items_per_s']:>19.1f}"
                                                for t in args.threads))
    if args.json:
        with atomic_write(args.json, "w") as handle:
            json.dump(results, handle, indent=2)
    return results


if __name__ == "__main__":
    main()
