"""Training one model: the loop (:mod:`gnn.train.loop`) and its command line
(:mod:`gnn.train.cli`, run by ``python -m gnn.train`` or ``medkg train``).

Examples:
    >>> from gnn.train import TrainResult, main, train
    >>> callable(train) and callable(main) and "best_epoch" in TrainResult.__annotations__
    True
"""

from gnn.prepared import attach_task, detach_task
from gnn.train.cli import add_train_parser, build_parser, main
from gnn.train.loop import TrainResult, link_loss, link_terms, train

__all__ = ["train", "TrainResult", "link_loss", "link_terms", "attach_task", "detach_task",
           "add_train_parser", "build_parser", "main"]
