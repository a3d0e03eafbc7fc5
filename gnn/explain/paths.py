"""Supporting paths: from a patient's recorded codes to a concept, through the KG.

:class:`ConceptPaths` indexes the concept part of a cohort graph once (every edge type
between concept types, reverse edges left out) as an undirected sparse graph, so
shortest paths from all of a patient's recorded codes to a predicted concept come from one
multi-source breadth-first search (scipy), vectorised, whatever the size of the KG. Each
path starts with the visit -> code edge of the most recent visit that recorded the code,
and every step keeps the true direction of its edge (``E11.9 -is_a-> E11`` may be walked
from ``E11`` to ``E11.9``).

Examples:
    >>> from graphs.cohort import CohortBuilder
    >>> from graphs.cohort.demo import tiny_kg, tiny_records
    >>> cohort = CohortBuilder(tiny_kg()).build(tiny_records())
    >>> from gnn.explain.lookup import label_map
    >>> finder = ConceptPaths(cohort)
    >>> path = finder.patient_paths("p1", "ICD10CM:E08-E13")[0]
    >>> print(render_path(path, cohort, label_map(tiny_kg())).replace(" -", "\\n  -"))
    visit 2 (2021-01-01)
      -has_diagnosis-> ICD10CM:E11.65 Type 2 diabetes mellitus with hyperglycemia
      -is_a-> ICD10CM:E11 Type 2 diabetes mellitus
      -is_a-> ICD10CM:E08-E13 Diabetes mellitus
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra

from graphs.cohort.graph import CohortGraph
from gnn.explain.lookup import (
    as_cohort,
    days_to_date,
    display_name,
    is_concept_type,
    patient_row,
    patient_visits,
    record_table,
)
from ontologies.errors import InputError

__all__ = ["Step", "ConceptPaths", "render_path"]


@dataclass(frozen=True)
class Step:
    """One edge of a path, in the edge's true direction.

    Attributes:
        src_type: Node type of the edge's source.
        src: Row of the source within its type.
        relation: Relation name (never a ``rev_`` one).
        dst_type: Node type of the target.
        dst: Row of the target.
        forward: Whether the path walks the edge from source to target.
    """

    src_type: str
    src: int
    relation: str
    dst_type: str
    dst: int
    forward: bool = True


class ConceptPaths:
    """Shortest paths over the concept graph of a cohort graph.

    Args:
        cohort: The cohort graph.
        relations: Relations to walk (default: every relation between concept types).
    """

    def __init__(self, cohort: CohortGraph, relations: Iterable[str] | None = None):
        self.cohort = as_cohort(cohort)
        data = self.cohort.data
        self.types = sorted(t for t in data.node_types if is_concept_type(t))
        sizes = np.array([data[t].num_nodes for t in self.types], dtype=np.int64)
        self.offsets = dict(zip(self.types, (np.cumsum(sizes) - sizes).tolist()))
        self.n = int(sizes.sum())
        wanted = None if relations is None else set(relations)
        srcs, dsts, kinds = [], [], []
        self.edge_types: list[tuple[str, str, str]] = []
        for et in sorted(data.edge_types, key=lambda e: (e[1] != "is_a", e)):
            s, r, d = et
            if r.startswith("rev_") or not (is_concept_type(s) and is_concept_type(d)):
                continue
            if wanted is not None and r not in wanted:
                continue
            ei = data[et].edge_index.numpy()
            srcs.append(ei[0] + self.offsets[s])
            dsts.append(ei[1] + self.offsets[d])
            kinds.append(np.full(ei.shape[1], len(self.edge_types)))
            self.edge_types.append(et)
        src = np.concatenate(srcs) if srcs else np.zeros(0, np.int64)
        dst = np.concatenate(dsts) if dsts else np.zeros(0, np.int64)
        kind = np.concatenate(kinds) if kinds else np.zeros(0, np.int64)
        # First edge per node pair wins: is_a edge types are listed first.
        table = pd.DataFrame({"u": np.concatenate([src, dst]), "v": np.concatenate([dst, src]),
                              "kind": np.concatenate([kind, kind]),
                              "forward": np.r_[np.ones(len(src), bool), np.zeros(len(src), bool)]})
        table = table[table["u"] != table["v"]].drop_duplicates(["u", "v"], keep="first")
        self._pair = pd.Index(table["u"].to_numpy() * max(self.n, 1) + table["v"].to_numpy())
        self._kind = table["kind"].to_numpy()
        self._forward = table["forward"].to_numpy()
        self.adjacency = sp.csr_array((np.ones(len(table)), (table["u"].to_numpy(),
                                                             table["v"].to_numpy())),
                                      shape=(self.n, self.n))
        ids = [self.cohort.node_ids[t].to_numpy(dtype=object) for t in self.types]
        self._ids = pd.Index(np.concatenate(ids) if ids else np.array([], dtype=object))

    # ------------------------------------------------------------------ node numbering
    def node(self, concept_id: str) -> int | None:
        """Global concept number of an id, or ``None`` if the graph lacks it."""
        pos = self._ids.get_indexer([concept_id])[0]
        return None if pos < 0 else int(pos)

    def _split(self, g: int) -> tuple[str, int]:
        t = self.types[int(np.searchsorted(list(self.offsets.values()), g, side="right")) - 1]
        return t, g - self.offsets[t]

    # ------------------------------------------------------------------ search
    def paths(self, sources: Iterable[tuple[str, int]], target: str, max_hops: int = 4,
              n_paths: int = 3) -> list[list[Step]]:
        """Shortest concept paths from ``sources`` to ``target``, nearest sources first.

        Args:
            sources: ``(node_type, row)`` concept nodes, in order of preference on ties.
            target: Concept id to reach.
            max_hops: Longest path considered.
            n_paths: At most this many paths (one per source).

        Returns:
            Lists of :class:`Step`; a source equal to the target gives an empty list.
        """
        goal = self.node(target)
        sources = [(t, int(r)) for t, r in sources if t in self.offsets]
        if goal is None or not sources:
            return []
        starts = np.array([self.offsets[t] + r for t, r in sources], dtype=np.int64)
        starts = pd.unique(starts)
        dist, pred = dijkstra(self.adjacency, directed=True, indices=starts, unweighted=True,
                              limit=max_hops + 0.5, return_predecessors=True)
        reach = dist[:, goal]
        order = np.argsort(reach, kind="stable")
        out = []
        for i in order[:n_paths]:
            if not np.isfinite(reach[i]):
                break
            nodes = [goal]
            while nodes[-1] != starts[i]:
                nodes.append(int(pred[i, nodes[-1]]))
            nodes.reverse()
            out.append(self._steps(nodes))
        return out

    def _steps(self, nodes: list[int]) -> list[Step]:
        if len(nodes) < 2:
            return []
        u, v = np.asarray(nodes[:-1]), np.asarray(nodes[1:])
        at = self._pair.get_indexer(u * max(self.n, 1) + v)
        steps = []
        for a, b, k in zip(u, v, at):
            s, rel, d = self.edge_types[self._kind[k]]
            fwd = bool(self._forward[k])
            (st, sr), (dt, dr) = (self._split(a), self._split(b)) if fwd else \
                (self._split(b), self._split(a))
            steps.append(Step(st, sr, rel, dt, dr, fwd))
        return steps

    def patient_paths(self, patient_id: str, target: str, max_hops: int = 4,
                      n_paths: int = 3) -> list[list[Step]]:
        """Paths from the patient's visits, through a recorded code, to ``target``.

        Sources are the concepts recorded at the patient's visits, most recent first (so
        ties go to recent evidence); each path starts with that visit -> code edge. A
        target recorded itself gives the one-step path from its latest visit.
        """
        row = patient_row(self.cohort, patient_id)
        rec = record_table(self.cohort, row)
        rec = rec[rec["node_type"].map(is_concept_type) & (rec["visit"] >= 0)]
        if rec.empty:
            return []
        rec = rec.sort_values("time", ascending=False, kind="stable", na_position="last")
        latest = rec.drop_duplicates(["node_type", "node"], keep="first")
        goal = self.node(target)
        result = []
        for steps in self.paths(zip(latest["node_type"], latest["node"]), target,
                                max_hops, n_paths):
            if not steps:  # the target itself was recorded
                t, r = self._split(goal)
            elif steps[0].forward:
                t, r = steps[0].src_type, steps[0].src
            else:
                t, r = steps[0].dst_type, steps[0].dst
            hit = latest[(latest["node_type"] == t) & (latest["node"] == r)].iloc[0]
            visit = Step("visit", int(hit["visit"]), str(hit["relation"]), t, int(r), True)
            result.append([visit, *steps])
        return result


def _visit_names(cohort: CohortGraph, visits: Iterable[int]) -> dict[int, str]:
    """``visit row -> "visit <k> (<date>)"``, numbered within the visit's patient."""
    data = cohort.data
    owner = data["visit"].patient if "patient" in data["visit"] else None
    names = {}
    for v in set(int(x) for x in visits):
        if owner is None:
            names[v] = "visit"
            continue
        order = patient_visits(cohort, int(owner[v]))
        k = int(np.flatnonzero(order == v)[0]) + 1
        date = days_to_date(float(data["visit"].time[v])) if "time" in data["visit"] else None
        names[v] = f"visit {k}" + (f" ({date})" if date else "")
    return names


def render_path(steps: list[Step], cohort: CohortGraph,
                labels: Mapping[str, str] | None = None) -> str:
    """A path as text with clinical names; visits shown by number and date, never by id."""
    if not steps:
        return ""
    labels = labels or {}
    visits = _visit_names(cohort, [s.src for s in steps if s.src_type == "visit"]
                          + [s.dst for s in steps if s.dst_type == "visit"])

    def name(t: str, r: int) -> str:
        if t == "visit":
            return visits[r]
        if t == "patient":
            raise InputError("paths through patient nodes are not rendered (identifiers)")
        return display_name(cohort.ids(t, [r])[0], labels)

    first = steps[0]
    text = name(first.src_type, first.src) if first.forward else name(first.dst_type, first.dst)
    for s in steps:
        if s.forward:
            text += f" -{s.relation}-> {name(s.dst_type, s.dst)}"
        else:
            text += f" <-{s.relation}- {name(s.src_type, s.src)}"
    return text
