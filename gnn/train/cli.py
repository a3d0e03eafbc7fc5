"""Command line of training: ``python -m gnn.train --data prepared.pt --model gat --epochs 50``.

The same flags serve ``python -m gnn.train`` (:func:`main`) and ``medkg train``
(:func:`add_train_parser`); flags left out stay ``None`` so a ``--config`` file or the
:class:`~gnn.config.TrainConfig` defaults fill them. The training itself is
:func:`gnn.train.loop.train`.

Examples:
    >>> args = build_parser().parse_args(["--data", "prepared.pt", "--model", "gat",
    ...                                   "--patience", "none"])
    >>> args.model, args.patience, args.epochs
    ('gat', 'none', None)
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import Any

from gnn import distributed as dist
from gnn.config import TrainConfig
from gnn.prepared import has_task
from gnn.train.loop import train
from ontologies.errors import ConfigError, MedKGError

__all__ = ["add_train_parser", "build_parser", "main"]

_DESCRIPTION = __doc__.split("\n")[0]


def _int_or_none(text: str) -> int | str:
    return text if text.lower() in ("none", "full") else int(text)


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags shared by ``python -m gnn.train`` and ``medkg train`` (None = not given)."""
    parser.add_argument("--data", required=True,
                        help="prepared cohort graph (CohortGraph.save of attach_task(...))")
    parser.add_argument("--config", help="YAML/JSON settings file; flags override it")
    parser.add_argument("--resume", action="store_true",
                        help="continue from <out>/last.pt if it exists")
    parser.add_argument("--out", dest="out_dir", help="output folder (default medkg-run)")
    parser.add_argument("--model", help="gcn, gat, gatv2, hetero_sage, hetero_gat, rgcn, "
                                        "hgt or mlp")
    parser.add_argument("--task", help="expected task name (checked against the data)")
    parser.add_argument("--fusion", help="early, intermediate, late, attention or gated")
    parser.add_argument("--inputs", nargs="+", help="patient-level groups: demographics, "
                                                    "history_codes, note, image, ...")
    parser.add_argument("--graph-modalities", dest="graph_modalities",
                        action=argparse.BooleanOptionalAction, default=None,
                        help="keep modality nodes in the graph")
    for name, kind in (("hidden", int), ("layers", int), ("heads", int), ("dropout", float),
                       ("epochs", int), ("lr", float), ("weight-decay", float),
                       ("patience", _int_or_none), ("seed", int),
                       ("batch-size", _int_or_none), ("n-boot", int), ("neg-ratio", int),
                       ("threads", _int_or_none)):
        parser.add_argument(f"--{name}", dest=name.replace("-", "_"), type=kind)
    parser.add_argument("--num-neighbors", dest="num_neighbors", nargs="+", type=int,
                        help="neighbours per edge type and hop, e.g. 10 5")
    parser.add_argument("--objective", help="multilabel or link")
    parser.add_argument("--label-readout", dest="label_readout",
                        action=argparse.BooleanOptionalAction, default=None,
                        help="also score each label through its node in the graph")
    parser.add_argument("--pos-weight", dest="pos_weight",
                        action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="show progress bars")
    parser.add_argument("--distributed", action="store_true",
                        help="data-parallel over the processes torchrun starts, e.g. torchrun "
                             "--standalone --nproc_per_node=2 -m gnn.train ... --distributed")


def _cmd_train(args: argparse.Namespace) -> int:
    from graphs.cohort import CohortGraph

    config = TrainConfig.from_args(args)
    ctx = dist.init_from_env() if getattr(args, "distributed", False) else None
    try:
        cohort = CohortGraph.load(args.data)
        if not has_task(cohort):
            raise ConfigError(f"{args.data}: no task attached; write it with gnn.train."
                              "attach_task(cohort, task).save(path) or python -m gnn.toy_setup")
        result = train(config, None, cohort, resume=args.resume, distributed=ctx)
    finally:
        if ctx is not None:
            ctx.close()
    if ctx is not None and not ctx.is_main:
        return 0  # rank 0 prints and writes the report
    print(f"{config.model}: best epoch {result.best_epoch} ({result.monitor} "
          f"{result.best_metric:.4f}), {result.epoch_seconds:.3f} s/epoch")
    for name in ("auroc_macro", "auroc_micro", "auprc_macro", "auprc_micro", "f1_macro"):
        if name in result.test_metrics:
            m = result.test_metrics[name]
            print(f"  test {name:12s} {m['value']:.4f} [{m['low']:.4f}, {m['high']:.4f}]")
    if result.out_dir is not None and result.test_metrics:
        from gnn.experiment import outcome_from_result
        from gnn.report import write_report

        write_report({config.model: outcome_from_result(config.model, result)}, result.out_dir,
                     title=f"medkg train: {config.model}")
        print(f"written to {result.out_dir} (report.md, plots, checkpoints, metrics)")
    return 0


def add_train_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Registers the ``train`` subcommand (for ``medkg train``); sets ``func``."""
    parser = subparsers.add_parser("train", help="train and test a model on a prepared file",
                                   description=_DESCRIPTION)
    _add_arguments(parser)
    parser.set_defaults(func=_cmd_train)
    return parser


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``python -m gnn.train``."""
    parser = argparse.ArgumentParser(prog="python -m gnn.train",
                                     description=_DESCRIPTION)
    _add_arguments(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs ``python -m gnn.train``; returns the exit status (2 on a medkg error)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return _cmd_train(args)
    except MedKGError as err:
        print(f"medkg: error: {err}", file=sys.stderr)
        return 2
