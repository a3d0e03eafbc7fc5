"""Learning on the merged graph: models, tasks, training, evaluation, CLI."""

__all__: list[str] = []
