"""Label readout (``TrainConfig.label_readout``) on the demo cohort: with and without.

Builds the ``medkg demo`` world (same size and seed as the demo's defaults unless told
otherwise), then trains the demo's GAT configurations with the readout off and on for
both tasks and prints test AUROC/AUPRC macro with 95% bootstrap intervals and the paired
difference. This is the experiment behind ``gnn.pipeline.ablation_for``'s choice (readout
for ICD category labels, not for drug labels).

Run:  OMP_NUM_THREADS=1 python benchmarks/bench_label_readout.py [--patients 600]
"""

from __future__ import annotations

import argparse
import dataclasses
import time

from gnn.compare import paired_difference
from gnn.config import TrainConfig
from gnn.pipeline import DemoConfig, ablation_for, demo_task, demo_world
from gnn.train import train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--patients", type=int, default=DemoConfig.patients)
    parser.add_argument("--seed", type=int, default=DemoConfig.seed)
    parser.add_argument("--out", default="medkg-demo", help="shares the demo's embedding cache")
    args = parser.parse_args()
    demo = DemoConfig(patients=args.patients, seed=args.seed, out=args.out, progress=False)
    kg, cohort, features = demo_world(demo)
    base = TrainConfig(epochs=demo.epochs, hidden=demo.hidden, layers=demo.layers,
                       seed=demo.seed, n_boot=demo.n_boot, patience=demo.patience,
                       progress=False, out_dir=None)
    print(f"{'task':12s} {'model':18s} {'readout':8s} {'auroc_macro':>22s} "
          f"{'auprc_macro':>22s} {'epochs':>6s} {'s':>5s}")
    for task_name in ("comorbidity", "treatment"):
        task, graph = demo_task(task_name, kg, cohort, features, demo.seed)
        configs = ablation_for(graph, base)
        for name in ("gat-kg", "gat-kg-multimodal"):
            scores = {}
            for readout in (False, True):
                t0 = time.perf_counter()
                result = train(dataclasses.replace(configs[name], label_readout=readout),
                               task, graph)
                m = result.test_metrics
                scores[readout] = result
                cells = [f"{m[k]['value']:.3f} [{m[k]['low']:.3f}, {m[k]['high']:.3f}]"
                         for k in ("auroc_macro", "auprc_macro")]
                print(f"{task_name:12s} {name:18s} {str(readout):8s} {cells[0]:>22s} "
                      f"{cells[1]:>22s} {len(result.history):6d} "
                      f"{time.perf_counter() - t0:5.0f}", flush=True)
            diff, low, high = paired_difference(scores[True].test_y, scores[True].test_scores,
                                                scores[False].test_scores, n_boot=demo.n_boot)
            print(f"{'':12s} {name:18s} readout - none: AUROC {diff:+.3f} "
                  f"[{low:+.3f}, {high:+.3f}] (paired)")


if __name__ == "__main__":
    main()
