"""Learning on the merged graph: models, fusion, tasks, training, evaluation, reports, CLI.

Main entry points: :func:`gnn.train.train` with a :class:`gnn.config.TrainConfig`,
:func:`gnn.experiment.run_ablation`, :func:`gnn.pipeline.run_demo` (``medkg demo``), and
the ``medkg`` console script (:mod:`gnn.cli`).
"""

from gnn import fusion, metrics, models, sampler, tasks
from gnn.cdss import CdssReport, Predictions, build_report
from gnn.config import TrainConfig
from gnn.experiment import ablation_configs, run_ablation, run_experiments
from gnn.metrics import bootstrap_ci, evaluate_multilabel
from gnn.pipeline import DemoConfig, run_demo
from gnn.predictor import PatientPredictor
from gnn.prepared import attach_task, detach_task
from gnn.report import write_report
from gnn.sampler import CSRNeighborSampler
from gnn.train import TrainResult, train

__all__ = [
    "fusion", "metrics", "models", "sampler", "tasks",
    "TrainConfig", "train", "TrainResult", "PatientPredictor", "attach_task", "detach_task",
    "run_ablation", "run_experiments", "ablation_configs", "write_report",
    "evaluate_multilabel", "bootstrap_ci", "CSRNeighborSampler",
    "CdssReport", "Predictions", "build_report", "DemoConfig", "run_demo",
]
