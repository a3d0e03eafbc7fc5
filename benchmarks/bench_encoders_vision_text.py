"""Throughput (items/s) of the text, image, volume, slide and video encoders on CPU.

Each encoder runs end to end through ``Encoder.encode`` (preprocessing + forward, no
cache) on synthetic in-memory inputs, at 1 and 2 intra-op threads side by side in one
run (timings on shared machines drift, so compare ratios within a run). The median of
``--repeat`` timed runs after one warm-up is reported.

Usage:
    python benchmarks/bench_encoders_vision_text.py              # 1 and 2 threads
    python benchmarks/bench_encoders_vision_text.py --threads 2 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from timing import timed  # noqa: E402  (sibling module in benchmarks/)

from graphs.encoders.image import ResNetEncoder, ViTEncoder  # noqa: E402
from graphs.encoders.slide import SlideEncoder  # noqa: E402
from graphs.encoders.text import TextEncoder  # noqa: E402
from graphs.encoders.video import VideoEncoder  # noqa: E402
from graphs.encoders.volume import Conv3dEncoder  # noqa: E402
from ontologies.atomic import atomic_write  # noqa: E402

SENTENCES = [
    "Patient admitted with chest pain radiating to the left arm and diaphoresis.",
    "ECG showed ST elevation in the inferior leads; troponin was raised.",
    "Known type 2 diabetes mellitus on metformin, hypertension on amlodipine.",
    "Underwent primary PCI with a drug-eluting stent to the right coronary artery.",
    "Post-procedure course complicated by transient atrial fibrillation.",
    "Discharged on dual antiplatelet therapy, statin, beta blocker and ACE inhibitor.",
    "Follow-up in cardiology clinic in six weeks with echocardiogram.",
    "Smoker, 30 pack-years, counselled on cessation; BMI 31.",
]


def make_notes(n: int, tokens: int, enc: TextEncoder) -> list[str]:
    """``n`` distinct notes of about ``tokens`` word-piece tokens each."""
    rng = np.random.default_rng(0)
    notes = []
    for i in range(n):
        words: list[str] = [f"Note {i}."]
        while enc.token_counts([" ".join(words)])[0] < tokens:
            words.append(SENTENCES[int(rng.integers(len(SENTENCES)))])
        notes.append(" ".join(words))
    return notes




def cases(quick: bool) -> list[tuple[str, Callable[[], object], list, int]]:
    """(label, encoder factory, items, batch_size) per benchmark."""
    rng = np.random.default_rng(0)
    scale = 0.25 if quick else 1.0
    n = max(4, int(64 * scale))
    text = TextEncoder()
    short = make_notes(n, 100, text)
    long_notes = make_notes(max(2, n // 8), 1000, text)
    images = [rng.random((256, 256)).astype(np.float32) for _ in range(n)]
    volumes = [rng.random((64, 64, 64)).astype(np.float32) for _ in range(max(2, n // 8))]
    slide = np.full((2048, 2048, 3), 245, np.uint8)
    slide[:, 1024:] = np.clip(rng.normal((190, 110, 170), 20, (2048, 1024, 3)), 0, 255)
    clips = [rng.random((32, 128, 128)).astype(np.float32) for _ in range(max(2, n // 8))]
    return [
        ("text MiniLM, ~100-token notes", lambda: text, short, 32),
        ("text MiniLM, ~1000-token notes (chunked)", lambda: text, long_notes, 8),
        ("image_cnn 64px (256px input)", lambda: ResNetEncoder(seed=0), images, 32),
        ("image_vit 64px (256px input)", lambda: ViTEncoder(seed=0), images, 32),
        ("volume_cnn 32^3 (64^3 input)", lambda: Conv3dEncoder(seed=0), volumes, 8),
        ("slide_mil 2048^2 px, 224-px tiles (~40)", lambda: SlideEncoder(seed=0), [slide], 1),
        ("video 8 frames 64px (32x128^2 input)", lambda: VideoEncoder(seed=0), clips, 8),
    ]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2],
                    help="intra-op thread counts to compare side by side")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per case (median)")
    ap.add_argument("--quick", action="store_true", help="4x fewer items")
    ap.add_argument("--json", type=Path, help="also write results to this JSON file")
    args = ap.parse_args(argv)
    results = []
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs visible")
    header = f"{'encoder':44s} " + " ".join(f"{f'{t} thr items/s':>15s}" for t in args.threads)
    print(header)
    for label, factory, items, batch in cases(args.quick):
        enc = factory()
        row = {"encoder": label, "items": len(items)}
        for t in args.threads:
            torch.set_num_threads(t)
            sec = timed(lambda: enc.encode(items, batch_size=batch, progress=False),
                        args.repeat)
            row[f"items_per_s_{t}_threads"] = len(items) / sec
        results.append(row)
        print(f"{label:44s} " + " ".join(f"{row[f'items_per_s_{t}_threads']:15.2f}"
                                         for t in args.threads), flush=True)
    if args.json:
        with atomic_write(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
