"""Prepared files: a cohort graph with its task (labels, splits, label vocabulary) attached.

``attach_task`` stores, aligned with the graph's patient rows, ``data["patient"].y``
(float ``[patients, labels]``), ``train_mask``/``val_mask``/``test_mask`` and
``label_history`` (the "copy the history" baseline scores), and puts the label ids,
names, task name and task settings into ``cohort.metadata["task"]``. Patients of the
graph that the task does not label have all masks False. ``CohortGraph.save`` then
writes one file that ``python -m gnn.train --data`` reads; ``detach_task`` turns it back
into a :class:`~gnn.tasks.TaskData` (without ``inputs``).

Examples:
    >>> import numpy as np, torch
    >>> from graphs.cohort import CohortBuilder
    >>> from graphs.cohort.demo import tiny_kg, tiny_records
    >>> from gnn.tasks import TaskData
    >>> cohort = CohortBuilder(tiny_kg()).build(tiny_records())
    >>> task = TaskData("comorbidity", None, ["p2"], torch.tensor([[1.0, 0.0]]),
    ...                 ["ICD10CM:E11", "ICD10CM:I10"], ["T2D", "HTN"],
    ...                 {"train": np.array([0]), "val": np.array([], int),
    ...                  "test": np.array([], int)}, torch.zeros(1, 2))
    >>> prepared = attach_task(cohort, task)
    >>> prepared.data["patient"].y.tolist(), prepared.data["patient"].train_mask.tolist()
    ([[0.0, 0.0], [1.0, 0.0]], [False, True])
    >>> back = detach_task(prepared)
    >>> back.patient_ids, back.label_ids, {k: v.tolist() for k, v in back.splits.items()}
    (['p2'], ['ICD10CM:E11', 'ICD10CM:I10'], {'train': [0], 'val': [], 'test': []})
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch

from ontologies.errors import InputError, SchemaError, UnknownCodeError

__all__ = ["attach_task", "detach_task", "has_task", "fingerprint", "SPLITS"]

#: Split names, in the order of the masks.
SPLITS = ("train", "val", "test")


def _plain(value: Any) -> Any:
    """A copy with only values ``torch.load(weights_only=True)`` and JSON both accept."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()
                if not torch.is_tensor(v) and not isinstance(v, np.ndarray)}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def has_task(cohort: Any) -> bool:
    """True when ``cohort`` carries a task attached by :func:`attach_task`."""
    store = cohort.data["patient"] if "patient" in cohort.data.node_types else {}
    return "task" in cohort.metadata and all(k in store for k in ("y", "train_mask"))


def attach_task(cohort: Any, task: Any) -> Any:
    """A new :class:`~graphs.cohort.CohortGraph` carrying ``task``'s labels and splits.

    The input cohort is not modified (tensors are shared, stores are copied).

    Raises:
        InputError: Some task patients are not patient nodes of the graph, or the
            task's shapes disagree.
    """
    from graphs.cohort import CohortGraph

    if "patient" not in cohort.data.node_types:
        raise SchemaError("the cohort graph has no 'patient' node type")
    y = torch.as_tensor(task.y, dtype=torch.float32)
    if y.dim() != 2 or y.size(0) != len(task.patient_ids) or y.size(1) != len(task.label_ids):
        raise InputError(f"task.y has shape {tuple(y.shape)}; expected "
                         f"[{len(task.patient_ids)} patients, {len(task.label_ids)} labels]")
    try:
        rows = torch.from_numpy(cohort.index("patient", task.patient_ids))
    except UnknownCodeError:
        known = cohort.node_ids["patient"]
        missing = int(sum(1 for p in task.patient_ids if p not in known))
        raise InputError(f"{missing} of the task's {len(task.patient_ids)} patients are not "
                         "in the cohort graph; build the graph from task.inputs") from None
    n = int(cohort.data["patient"].num_nodes)
    data = copy.copy(cohort.data)
    store = data["patient"]
    full = torch.zeros(n, y.size(1))
    full[rows] = y
    store.y = full
    history = torch.zeros(n, y.size(1))
    if task.history is not None and tuple(task.history.shape) == tuple(y.shape):
        history[rows] = torch.as_tensor(task.history, dtype=torch.float32)
    store.label_history = history
    for name in SPLITS:
        idx = np.asarray(task.splits.get(name, []), dtype=np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= len(task.patient_ids)):
            raise InputError(f"task.splits[{name!r}] indexes rows outside "
                             f"[0, {len(task.patient_ids)})")
        mask = torch.zeros(n, dtype=torch.bool)
        mask[rows[torch.from_numpy(idx)]] = True
        store[f"{name}_mask"] = mask
    metadata = dict(cohort.metadata)
    metadata["task"] = {"name": str(task.task), "label_ids": [str(i) for i in task.label_ids],
                        "label_names": [str(i) for i in task.label_names],
                        "metadata": _plain(dict(task.metadata or {}))}
    return CohortGraph(data, {t: list(ix) for t, ix in cohort.node_ids.items()}, metadata)


def detach_task(cohort: Any) -> Any:
    """The :class:`~gnn.tasks.TaskData` attached to a prepared cohort (``inputs=None``).

    Patients are the graph's labelled patients in graph row order; splits index them.

    Raises:
        InputError: No task is attached.
    """
    from gnn.tasks import TaskData

    if not has_task(cohort):
        raise InputError("the cohort graph carries no task (labels/splits); prepare it with "
                         "gnn.train.attach_task(cohort, task) before saving")
    store = cohort.data["patient"]
    masks = {name: store[f"{name}_mask"].bool() for name in SPLITS if f"{name}_mask" in store}
    labelled = torch.zeros(int(store.num_nodes), dtype=torch.bool)
    for mask in masks.values():
        labelled |= mask
    rows = torch.nonzero(labelled).flatten()
    position = torch.full((labelled.numel(),), -1, dtype=torch.long)
    position[rows] = torch.arange(len(rows))
    splits = {name: position[torch.nonzero(masks[name]).flatten()].numpy()
              if name in masks else np.array([], dtype=np.int64) for name in SPLITS}
    meta = cohort.metadata["task"]
    history = store.label_history[rows] if "label_history" in store else \
        torch.zeros(len(rows), store.y.size(1))
    return TaskData(meta["name"], None, cohort.ids("patient", rows.tolist()),
                    store.y[rows].float(), list(meta["label_ids"]), list(meta["label_names"]),
                    splits, history.float(), dict(meta.get("metadata", {})))


def fingerprint(cohort: Any, task: Any) -> dict[str, Any]:
    """A plain description of data + task, compared when a run is resumed."""
    data = cohort.data
    return {"nodes": {t: int(data[t].num_nodes) for t in data.node_types},
            "edges": {"|".join(e): int(data[e].edge_index.size(1)) for e in data.edge_types},
            "task": str(task.task), "labels": [str(i) for i in task.label_ids],
            "splits": {k: int(len(v)) for k, v in task.splits.items()}}
