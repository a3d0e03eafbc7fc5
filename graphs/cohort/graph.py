"""The cohort graph: a PyG ``HeteroData`` plus id maps both ways, saved atomically.

Examples:
    >>> import torch
    >>> from torch_geometric.data import HeteroData
    >>> data = HeteroData()
    >>> data["patient"].x = torch.ones(2, 3)
    >>> data["disease"].num_nodes = 1
    >>> data["patient", "has_diagnosis", "disease"].edge_index = torch.tensor([[0, 1], [0, 0]])
    >>> g = CohortGraph(data, {"patient": ["p1", "p2"], "disease": ["ICD10CM:E11"]})
    >>> g.index("patient", ["p2"]).tolist(), g.ids("disease", [0])
    ([1], ['ICD10CM:E11'])
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch_geometric.data import HeteroData

from ontologies.atomic import atomic_torch_save, safe_torch_load
from ontologies.errors import SchemaError, UnknownCodeError

__all__ = ["CohortGraph", "FORMAT"]

#: Version tag written into saved cohort graphs.
FORMAT = "medkg-cohort/2"
#: Older formats :meth:`CohortGraph.load` still reads (``/1`` stored ids as string lists,
#: whose ``weights_only`` unpickling is over 10x slower than the packed ids of ``/2``;
#: ``python benchmarks/bench_cohort_build.py --save-load`` times both).
READABLE_FORMATS = ("medkg-cohort/1", FORMAT)


class CohortGraph:
    """A merged knowledge + patient graph.

    Args:
        data: The heterogeneous graph.
        node_ids: For each node type, the string id of every row (``index -> id``).
        metadata: Build settings and counts (JSON-serialisable).
    """

    def __init__(self, data: HeteroData, node_ids: dict[str, Sequence[str]],
                 metadata: dict[str, Any] | None = None):
        self.data = data
        self.node_ids = {t: pd.Index(pd.Series(list(ids), dtype="string"), name=t)
                         for t, ids in node_ids.items()}
        self.metadata = dict(metadata or {})
        for t in data.node_types:
            if t not in self.node_ids:
                raise SchemaError(f"node type {t!r} has no id map")
            if data[t].num_nodes != len(self.node_ids[t]):
                raise SchemaError(f"node type {t!r}: {data[t].num_nodes} nodes but "
                                  f"{len(self.node_ids[t])} ids")

    # -- id maps ---------------------------------------------------------------------------
    def index(self, node_type: str, ids: Iterable[str]) -> np.ndarray:
        """Row indices of ``ids`` in ``node_type``; unknown ids raise."""
        ids = list(ids)
        idx = self.node_ids[node_type].get_indexer(pd.Index(pd.Series(ids, dtype="string")))
        if (idx < 0).any():
            bad = [ids[i] for i in np.flatnonzero(idx < 0)[:5]]
            raise UnknownCodeError(bad[0] if len(bad) == 1 else bad,
                                   f"ids of node type {node_type!r}")
        return idx

    def ids(self, node_type: str, index: Iterable[int]) -> list[str]:
        """String ids of rows ``index`` of ``node_type``."""
        return self.node_ids[node_type][np.asarray(list(index), dtype=np.int64)].tolist()

    # -- comparison ------------------------------------------------------------------------
    def canonical(self) -> dict[str, Any]:
        """An order-independent description (edges and features keyed by ids).

        Two graphs holding the same nodes, edges and features in a different row order
        give equal canonical forms; used to check incremental updates against rebuilds.
        """
        out: dict[str, Any] = {}
        for t in self.data.node_types:
            order = np.argsort(self.node_ids[t].to_numpy(dtype=str), kind="stable")
            out[f"ids:{t}"] = self.node_ids[t].to_numpy(dtype=str)[order].tolist()
            for key, value in self.data[t].items():
                if torch.is_tensor(value) and value.dim() >= 1 and value.shape[0] == len(order) \
                        and key != "node_id":
                    out[f"node:{t}:{key}"] = value[torch.from_numpy(order)]
        for et in self.data.edge_types:
            src, _, dst = et
            ei = self.data[et].edge_index
            s = self.node_ids[src].to_numpy(dtype=str)[ei[0].numpy()]
            d = self.node_ids[dst].to_numpy(dtype=str)[ei[1].numpy()]
            order = np.lexsort((d, s))
            out[f"edge:{'|'.join(et)}"] = list(zip(s[order].tolist(), d[order].tolist(),
                                                   strict=True))
            for key, value in self.data[et].items():
                if key != "edge_index" and torch.is_tensor(value) and value.shape[:1] == (len(s),):
                    out[f"edge:{'|'.join(et)}:{key}"] = value[torch.from_numpy(order)]
        return out

    def equals(self, other: CohortGraph, atol: float = 1e-6) -> bool:
        """True when both graphs hold the same labelled nodes, edges and features."""
        a, b = self.canonical(), other.canonical()
        if a.keys() != b.keys():
            return False
        for key in a:
            x, y = a[key], b[key]
            if torch.is_tensor(x):
                if not torch.is_tensor(y) or x.shape != y.shape:
                    return False
                if x.is_floating_point():
                    if not torch.allclose(x, y, atol=atol, equal_nan=True):
                        return False
                elif not torch.equal(x, y):
                    return False
            elif x != y:
                return False
        return True

    # -- persistence -----------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """Writes the graph to one file atomically (tensors, ids, metadata; no pickle)."""
        payload: dict[str, Any] = {"format": FORMAT, "metadata": self.metadata,
                                   "ids": {t: _pack_ids(ix.to_numpy(dtype=str).tolist())
                                           for t, ix in self.node_ids.items()},
                                   "nodes": {}, "edges": {}}
        for t in self.data.node_types:
            payload["nodes"][t] = {k: v for k, v in self.data[t].items() if torch.is_tensor(v)}
            payload["nodes"][t]["num_nodes"] = int(self.data[t].num_nodes)
        for et in self.data.edge_types:
            payload["edges"]["|".join(et)] = {k: v for k, v in self.data[et].items()
                                              if torch.is_tensor(v)}
        return atomic_torch_save(payload, path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> CohortGraph:
        """Reads a graph written by :meth:`save` (``weights_only=True``: no code runs).

        Raises:
            DataNotFoundError: No file at ``path``.
            SchemaError: The file is truncated or corrupt, not a medkg cohort graph, or
                its payload is malformed (missing keys, wrong types, edges pointing past
                their node types); the message names the file.
        """
        path = Path(path)
        payload = safe_torch_load(path, "medkg cohort graph", error=SchemaError)
        if not isinstance(payload, dict) or payload.get("format") not in READABLE_FORMATS:
            got = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
            raise SchemaError(f"{path}: format {got!r}, expected {FORMAT!r}")
        if isinstance(payload.get("ids"), dict):  # packed (format 2) or plain lists (1)
            payload["ids"] = {t: _unpack_ids(v, t, path) if isinstance(v, dict) else v
                              for t, v in payload["ids"].items()}
        _check_payload(payload, path)
        data = HeteroData()
        for t, attrs in payload["nodes"].items():
            for k, v in attrs.items():
                data[t][k] = v
        for key, attrs in payload["edges"].items():
            et = tuple(key.split("|"))
            for k, v in attrs.items():
                data[et][k] = v
        try:
            return cls(data, payload["ids"], payload["metadata"])
        except SchemaError as err:  # node counts vs id maps: say which file
            raise SchemaError(f"{path}: {err}") from err

    def __repr__(self) -> str:
        nodes = ", ".join(f"{t}={self.data[t].num_nodes}" for t in self.data.node_types)
        return f"CohortGraph({nodes}; {len(self.data.edge_types)} edge types)"


_PAYLOAD_KEYS = ("nodes", "edges", "ids", "metadata")


def _pack_ids(ids: list[str]) -> dict[str, torch.Tensor]:
    """Ids as one UTF-8 byte tensor plus per-id lengths in characters (fast to load).

    Examples:
        >>> _unpack_ids(_pack_ids(["P1", "Zoë", ""]), "patient", "x.pt")
        ['P1', 'Zoë', '']
    """
    blob = "".join(ids).encode("utf-8")
    return {"utf8": torch.frombuffer(bytearray(blob), dtype=torch.uint8) if blob
            else torch.zeros(0, dtype=torch.uint8),
            "lengths": torch.tensor([len(i) for i in ids], dtype=torch.int64)}


def _unpack_ids(packed: Any, node_type: Any, path: Any) -> list[str]:
    """The id list :func:`_pack_ids` stored; SchemaError naming ``path`` if malformed."""
    def bad(what: str) -> SchemaError:
        return SchemaError(f"{path}: malformed cohort graph: ids of node type "
                           f"{node_type!r}: {what}")

    if not isinstance(packed, dict) or set(packed) != {"utf8", "lengths"} or not all(
            torch.is_tensor(v) for v in packed.values()):
        raise bad("expected {'utf8': uint8 tensor, 'lengths': int64 tensor}")
    blob, lengths = packed["utf8"], packed["lengths"]
    if blob.dtype != torch.uint8 or blob.dim() != 1 or lengths.dim() != 1 \
            or lengths.is_floating_point() or bool((lengths < 0).any()):
        raise bad("wrong tensor types or negative lengths")
    try:
        text = bytes(blob.numpy()).decode("utf-8")
    except UnicodeDecodeError:
        raise bad("not UTF-8") from None
    ends = np.cumsum(lengths.numpy())
    if (ends[-1] if len(ends) else 0) != len(text):
        raise bad(f"lengths add up to {int(ends[-1]) if len(ends) else 0} characters, "
                  f"the text has {len(text)}")
    starts = ends - lengths.numpy()
    return [text[a:b] for a, b in zip(starts.tolist(), ends.tolist(), strict=True)]


def _check_payload(payload: dict[str, Any], path: Path) -> None:
    """Raises SchemaError naming ``path`` unless ``payload`` has the shape :meth:`save`
    writes: dicts of tensors per node/edge type, string id lists, edges within range."""
    def bad(what: str) -> SchemaError:
        return SchemaError(f"{path}: malformed cohort graph: {what}")

    missing = [k for k in _PAYLOAD_KEYS if k not in payload]
    if missing:
        raise bad(f"missing {missing}; expected keys {list(_PAYLOAD_KEYS)}")
    for key in _PAYLOAD_KEYS:
        if not isinstance(payload[key], dict):
            raise bad(f"{key!r} is a {type(payload[key]).__name__}; expected a dict")
    for t, ids in payload["ids"].items():
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise bad(f"ids of node type {t!r} are not a list of strings")
    sizes: dict[str, int] = {}
    for t, attrs in payload["nodes"].items():
        if not isinstance(t, str) or not isinstance(attrs, dict):
            raise bad(f"node type {t!r}: expected a dict of tensors")
        for k, v in attrs.items():
            if not (torch.is_tensor(v) or (k == "num_nodes" and isinstance(v, int) and v >= 0)):
                raise bad(f"node attribute {t}.{k} is a {type(v).__name__}; expected a tensor")
        sizes[t] = len(payload["ids"].get(t, ()))
        if attrs.get("num_nodes", sizes[t]) != sizes[t]:
            raise bad(f"node type {t!r}: {attrs['num_nodes']} nodes but {sizes[t]} ids")
    for key, attrs in payload["edges"].items():
        et = key.split("|") if isinstance(key, str) else []
        if len(et) != 3 or et[0] not in sizes or et[2] not in sizes:
            raise bad(f"edge type {key!r}; expected 'source|relation|target' of stored "
                      "node types")
        if not isinstance(attrs, dict) or not all(torch.is_tensor(v) for v in attrs.values()):
            raise bad(f"edge type {key!r}: expected a dict of tensors")
        ei = attrs.get("edge_index")
        if ei is None or ei.dim() != 2 or ei.shape[0] != 2 or ei.is_floating_point():
            raise bad(f"edge type {key!r}: edge_index must be an integer tensor [2, E]")
        if ei.numel() and (int(ei.min()) < 0 or int(ei[0].max()) >= sizes[et[0]]
                           or int(ei[1].max()) >= sizes[et[2]]):
            raise bad(f"edge type {key!r}: edge_index points outside its node types "
                      f"({sizes[et[0]]} {et[0]!r}, {sizes[et[2]]} {et[2]!r} nodes)")
