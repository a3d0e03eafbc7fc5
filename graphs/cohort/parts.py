"""Union of graph parts built separately for disjoint patient sets.

:meth:`CohortBuilder.build_part <graphs.cohort.builder.CohortBuilder.build_part>` gives
each shard of patients its own part: patients, visits, modality observations, the
concepts they use and the edges between them. :func:`union_parts` stacks such parts into
one part, which :meth:`~graphs.cohort.builder.CohortBuilder.finish` completes.

Patients, visits and modality observations belong to exactly one part and are stacked in
part order (a second occurrence raises, naming both parts). Concepts may occur in many
parts and are kept once, under one node type: a code the KG lacks is typed by the first
records table that uses it, as in a single build (a code seen among diagnoses in one part
and only among medications in another is a ``disease``), and edges follow it. Edges
between concepts are dropped, since ``finish`` recomputes them from the knowledge graph.

Examples:
    >>> from graphs.cohort import CohortBuilder
    >>> from graphs.cohort.demo import tiny_kg, tiny_records
    >>> builder, records = CohortBuilder(tiny_kg()), tiny_records()
    >>> parts = [builder.build_part(records.subset([p])) for p in ("p1", "p2")]
    >>> merged = union_parts(parts, ["a.pt", "b.pt"])
    >>> merged.node_ids["patient"].tolist()
    ['p1', 'p2']
    >>> builder.finish(merged).equals(builder.build(records))
    True
    >>> import tempfile, pathlib
    >>> path = save_part(parts[1], pathlib.Path(tempfile.mkdtemp()) / "b.pt")
    >>> load_part(path).node_ids["visit"].tolist()
    ['v3']
    >>> union_parts([parts[0], parts[0]], ["a.pt", "b.pt"])
    Traceback (most recent call last):
    ...
    ontologies.errors.DuplicateIdError: patient at row 0 of b.pt is also in a.pt; ...
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import torch
from torch_geometric.data import HeteroData

from graphs.cohort.builder import EVENT_TABLES
from graphs.cohort.features import MODALITY_TYPES
from graphs.cohort.graph import CohortGraph
from ontologies.atomic import atomic_torch_save, safe_torch_load
from ontologies.errors import DuplicateIdError, InputError, SchemaError

__all__ = ["union_parts", "save_part", "load_part", "PART_FORMAT"]

#: Format tag of a saved part.
PART_FORMAT = "medkg-cohort-part/1"

#: Node types that belong to one patient (and so to exactly one part).
_ENTITY_TYPES = ("patient", "visit", *MODALITY_TYPES)
#: A code the KG lacks takes the type of the first records table using it (builder order).
_EXTRA_TYPE_ORDER = {t: k for k, (_, _, t) in enumerate(EVENT_TABLES)}


def union_parts(parts: Sequence[CohortGraph], names: Sequence[str] | None = None
                ) -> CohortGraph:
    """Stacks parts of disjoint patient sets into one part (see the module docstring).

    Args:
        parts: Graphs from ``CohortBuilder.build_part`` with the same configuration.
        names: How errors name each part (e.g. its file); defaults to ``part <i>``.

    Returns:
        A part (``metadata["part"]`` is true) for ``CohortBuilder.finish``.

    Raises:
        InputError: No parts, or ``names`` of another length.
        SchemaError: A graph is not a part, or parts disagree on attributes or shapes.
        DuplicateIdError: A patient, visit or observation occurs in two parts.
    """
    parts = list(parts)
    names = [f"part {i}" for i in range(len(parts))] if names is None else list(names)
    if not parts:
        raise InputError("union_parts needs at least one part")
    if len(names) != len(parts):
        raise InputError(f"{len(names)} names for {len(parts)} parts; expected one per part")
    for part, name in zip(parts, names, strict=True):
        if not part.metadata.get("part"):
            raise SchemaError(f"{name}: not a graph part (expected CohortBuilder.build_part "
                              "output, whose metadata has part=True)")
    data, ids = HeteroData(), {}
    offsets: list[dict[str, int]] = [{} for _ in parts]
    node_types = list(dict.fromkeys(t for p in parts for t in p.node_ids))
    for t in node_types:
        if t in _ENTITY_TYPES:
            _stack_entities(t, parts, names, data, ids, offsets)
    concept_map = _unite_concepts(parts, names, data, ids)
    _stack_edges(parts, names, data, offsets, concept_map)
    meta = dict(parts[0].metadata)
    meta["part"] = True
    return CohortGraph(data, ids, meta)


def _ids(part: CohortGraph, node_type: str) -> np.ndarray:
    return part.node_ids[node_type].to_numpy(dtype=object)


def _row_attrs(store, n: int) -> dict[str, torch.Tensor]:
    """Tensor attributes with one row per node (or edge) of ``store``."""
    return {k: v for k, v in store.items()
            if torch.is_tensor(v) and v.dim() >= 1 and v.shape[0] == n and k != "edge_index"}


def _stack_entities(t: str, parts: list[CohortGraph], names: list[str], data: HeteroData,
                    ids: dict[str, np.ndarray], offsets: list[dict[str, int]]) -> None:
    chunks, attrs, owners, start = [], [], [], 0
    for i, part in enumerate(parts):
        if t not in part.node_ids:
            continue
        local = _ids(part, t)
        offsets[i][t] = start
        start += len(local)
        chunks.append(local)
        attrs.append(_row_attrs(part.data[t], len(local)))
        owners.append(i)
    all_ids = np.concatenate(chunks)
    dup = pd.Index(all_ids, dtype=object).duplicated()
    if dup.any():
        at = int(np.flatnonzero(dup)[0])
        first = int(np.flatnonzero(all_ids == all_ids[at])[0])
        bounds = np.cumsum([len(c) for c in chunks])
        b, a = (owners[int(np.searchsorted(bounds, x, side="right"))] for x in (at, first))
        row = at - offsets[b][t]
        # the row, not the id: identifiers stay out of messages
        raise DuplicateIdError(f"{t} at row {row} of {names[b]} is also in {names[a]}; "
                               "each patient must be in exactly one shard")
    ids[t] = all_ids
    data[t].num_nodes = len(all_ids)
    for key in _consistent_keys(t, attrs, [names[i] for i in owners]):
        data[t][key] = torch.cat([a[key] for a in attrs])


def _consistent_keys(what: str, attrs: list[dict[str, torch.Tensor]], names: list[str]
                     ) -> list[str]:
    """Attribute names shared by all parts; a missing key or another row shape raises."""
    keys = list(attrs[0])
    for a, name in zip(attrs[1:], names[1:], strict=True):
        if set(a) != set(keys):
            diff = sorted(set(a) ^ set(keys))
            raise SchemaError(f"{name}: {what} attributes {diff} are not in every part; "
                              "build all parts with the same medkg version and config")
        for key in keys:
            got, want = list(a[key].shape[1:]), list(attrs[0][key].shape[1:])
            if got != want:
                raise SchemaError(f"{name}: {what}.{key} has row shape {got}, expected "
                                  f"{want} as in {names[0]}")
    return keys


def _unite_concepts(parts: list[CohortGraph], names: list[str], data: HeteroData,
                    ids: dict[str, np.ndarray]) -> dict[tuple[int, str], tuple[np.ndarray,
                                                                                np.ndarray]]:
    """Concept nodes once each; returns (part, type) -> (new type, new row) per local row."""
    keys = [(i, t) for i, p in enumerate(parts) for t in p.node_ids if t not in _ENTITY_TYPES]
    if not keys:
        return {}
    types = list(dict.fromkeys(t for _, t in keys))
    chunks = [_ids(parts[i], t) for i, t in keys]
    sizes = np.array([len(c) for c in chunks], dtype=np.int64)
    all_ids = np.concatenate(chunks)
    code, _ = pd.factorize(all_ids)  # one integer per distinct concept id
    tcode = np.repeat(np.array([types.index(t) for _, t in keys], dtype=np.int64), sizes)
    part = np.repeat(np.array([i for i, _ in keys], dtype=np.int64), sizes)
    pos = np.concatenate([np.arange(n) for n in sizes])
    prio = np.array([_EXTRA_TYPE_ORDER.get(t, len(_EXTRA_TYPE_ORDER)) for t in types])[tcode]
    # the occurrence that decides each concept's type: best-ranked type, then first part
    order = np.lexsort((pos, part, prio))
    _, first = np.unique(code[order], return_index=True)
    chosen = order[first]
    chosen = chosen[np.lexsort((pos[chosen], part[chosen]))]  # new rows follow the parts
    new_pos_of = np.empty(len(chosen), dtype=np.int64)
    new_type_of = tcode[chosen]
    for k, t in enumerate(types):
        sel = np.flatnonzero(new_type_of == k)
        if not len(sel):
            continue
        new_pos_of[sel] = np.arange(len(sel))
        rows = chosen[sel]
        ids[t] = all_ids[rows]
        data[t].num_nodes = len(rows)
        owners = [i for i, p in enumerate(parts) if t in p.node_ids]
        attrs = [_row_attrs(parts[i].data[t], len(parts[i].node_ids[t])) for i in owners]
        for key in _consistent_keys(t, attrs, [names[i] for i in owners]):
            sample = attrs[0][key]
            out = torch.zeros((len(rows), *sample.shape[1:]), dtype=sample.dtype)
            for i, a in zip(owners, attrs, strict=True):
                mine = part[rows] == i
                if mine.any():
                    out[torch.from_numpy(np.flatnonzero(mine))] = \
                        a[key][torch.from_numpy(pos[rows[mine]])]
            data[t][key] = out
    # every occurrence -> its concept's chosen (type, row)
    slot = np.empty(len(chosen), dtype=np.int64)
    slot[code[chosen]] = np.arange(len(chosen))
    type_names = np.array(types, dtype=object)
    new_type = type_names[new_type_of[slot[code]]]
    new_pos = new_pos_of[slot[code]]
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    return {key: (new_type[bounds[k]:bounds[k + 1]], new_pos[bounds[k]:bounds[k + 1]])
            for k, key in enumerate(keys)}


def _stack_edges(parts: list[CohortGraph], names: list[str], data: HeteroData,
                 offsets: list[dict[str, int]],
                 concept_map: dict[tuple[int, str], tuple[np.ndarray, np.ndarray]]) -> None:
    pieces: dict[tuple[str, str, str], list[tuple[int, np.ndarray, np.ndarray, dict]]] = {}
    for i, part in enumerate(parts):
        for et in part.data.edge_types:
            s, rel, d = et
            if s not in _ENTITY_TYPES and d not in _ENTITY_TYPES:
                continue  # KG edges: recomputed from the KG by CohortBuilder.finish
            store = part.data[et]
            ei = store.edge_index.numpy()
            attrs = _row_attrs(store, ei.shape[1])
            s_type, s_pos = _locate(i, s, ei[0], offsets, concept_map)
            d_type, d_pos = _locate(i, d, ei[1], offsets, concept_map)
            for st in pd.unique(s_type):
                for dt in pd.unique(d_type):
                    sel = (s_type == st) & (d_type == dt)
                    if sel.any():
                        pick = torch.from_numpy(sel)
                        pieces.setdefault((st, rel, dt), []).append(
                            (i, s_pos[sel], d_pos[sel], {k: v[pick] for k, v in attrs.items()}))
    for et, chunks in pieces.items():
        keys = _consistent_keys("|".join(et), [c[3] for c in chunks],
                                [names[c[0]] for c in chunks])
        store = data[et]
        store.edge_index = torch.from_numpy(np.stack([np.concatenate([c[1] for c in chunks]),
                                                      np.concatenate([c[2] for c in chunks])]))
        for key in keys:
            store[key] = torch.cat([c[3][key] for c in chunks])


def _locate(i: int, node_type: str, local: np.ndarray, offsets: list[dict[str, int]],
            concept_map: dict[tuple[int, str], tuple[np.ndarray, np.ndarray]]
            ) -> tuple[np.ndarray, np.ndarray]:
    """New node type and row of the local rows ``local`` of ``node_type`` in part ``i``."""
    if node_type in _ENTITY_TYPES:
        types = np.full(len(local), node_type, dtype=object)
        return types, local.astype(np.int64) + offsets[i][node_type]
    types, pos = concept_map[(i, node_type)]
    return types[local], pos[local]


# ------------------------------------------------------------------------- files
def save_part(part: CohortGraph, path: str | os.PathLike) -> Path:
    """Writes a part atomically; ids are stored as UTF-8 buffers, not string lists.

    A list of 300k id strings takes torch's weights-only loader seconds to unpickle one
    by one; two tensors (bytes and offsets) per node type load in milliseconds.
    """
    payload: dict[str, Any] = {"format": PART_FORMAT, "metadata": part.metadata,
                               "ids": {t: _encode_ids(ix) for t, ix in part.node_ids.items()},
                               "nodes": {}, "edges": {}}
    for t in part.data.node_types:
        payload["nodes"][t] = {k: v for k, v in part.data[t].items() if torch.is_tensor(v)}
    for et in part.data.edge_types:
        payload["edges"]["|".join(et)] = {k: v for k, v in part.data[et].items()
                                          if torch.is_tensor(v)}
    return atomic_torch_save(payload, path)


def load_part(path: str | os.PathLike) -> CohortGraph:
    """Reads a part written by :func:`save_part` (weights-only: no pickled code runs).

    Raises:
        DataNotFoundError: No file at ``path``.
        SchemaError: Not a readable part, or a malformed one (the message names ``path``).
    """
    path = Path(path)
    payload = safe_torch_load(path, "medkg cohort part", SchemaError)
    if not isinstance(payload, dict) or payload.get("format") != PART_FORMAT:
        got = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise SchemaError(f"{path}: format {got!r}, expected {PART_FORMAT!r}")
    for key in ("metadata", "ids", "nodes", "edges"):
        if not isinstance(payload.get(key), dict):
            raise SchemaError(f"{path}: malformed part: {key!r} is not a dict")
    ids = {t: _decode_ids(enc, path, t) for t, enc in payload["ids"].items()}
    data = HeteroData()
    for t, ix in ids.items():
        data[t].num_nodes = len(ix)
    for t, attrs in payload["nodes"].items():
        if t not in ids or not isinstance(attrs, dict):
            raise SchemaError(f"{path}: malformed part: node type {t!r} without ids")
        for k, v in attrs.items():
            if not torch.is_tensor(v) or v.dim() == 0 or v.shape[0] != len(ids[t]):
                raise SchemaError(f"{path}: malformed part: {t}.{k} is not a tensor with "
                                  f"{len(ids[t])} rows")
            data[t][k] = v
    for key, attrs in payload["edges"].items():
        et = tuple(key.split("|")) if isinstance(key, str) else ()
        ei = attrs.get("edge_index") if isinstance(attrs, dict) else None
        if len(et) != 3 or et[0] not in ids or et[2] not in ids or not torch.is_tensor(ei) \
                or ei.dim() != 2 or ei.shape[0] != 2 or ei.dtype != torch.int64:
            raise SchemaError(f"{path}: malformed part: edge type {key!r} needs stored node "
                              "types and an int64 edge_index [2, E]")
        if ei.numel() and (int(ei.min()) < 0 or int(ei[0].max()) >= len(ids[et[0]])
                           or int(ei[1].max()) >= len(ids[et[2]])):
            raise SchemaError(f"{path}: malformed part: edge type {key!r} points outside "
                              "its node types")
        for k, v in attrs.items():
            if not torch.is_tensor(v):
                raise SchemaError(f"{path}: malformed part: {key}.{k} is not a tensor")
            data[et][k] = v
    return CohortGraph(data, ids, payload["metadata"])


def _encode_ids(ids: pd.Index) -> dict[str, torch.Tensor]:
    arr = pa.array(ids.to_numpy(dtype=object), type=pa.large_string())
    if not len(arr):
        return {"offsets": torch.zeros(1, dtype=torch.int64),
                "data": torch.zeros(0, dtype=torch.uint8)}
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[:len(arr) + 1]
    data = np.frombuffer(arr.buffers()[2], dtype=np.uint8)[:int(offsets[-1])]
    return {"offsets": torch.from_numpy(offsets.copy()), "data": torch.from_numpy(data.copy())}


def _decode_ids(enc: Any, path: Path, node_type: str) -> np.ndarray:
    offsets = enc.get("offsets") if isinstance(enc, dict) else None
    data = enc.get("data") if isinstance(enc, dict) else None
    ok = torch.is_tensor(offsets) and torch.is_tensor(data) and offsets.dtype == torch.int64 \
        and data.dtype == torch.uint8 and offsets.dim() == 1 and len(offsets) >= 1 \
        and int(offsets[0]) == 0 and int(offsets[-1]) == len(data) \
        and bool((offsets[1:] >= offsets[:-1]).all())
    if not ok:
        raise SchemaError(f"{path}: malformed part: ids of node type {node_type!r}")
    arr = pa.LargeStringArray.from_buffers(len(offsets) - 1, pa.py_buffer(offsets.numpy()),
                                           pa.py_buffer(data.numpy()))
    try:
        arr.validate(full=True)
    except pa.ArrowInvalid:
        raise SchemaError(f"{path}: malformed part: ids of node type {node_type!r} are not "
                          "UTF-8") from None
    return arr.to_numpy(zero_copy_only=False)
