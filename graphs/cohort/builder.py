"""Builds the merged knowledge + patient graph as one PyG ``HeteroData``, from tables.

Node types: ``patient``, ``visit``, one per knowledge-graph semantic type in scope
(``disease``, ``category``, ``drug``, ...), and one per modality present (``note``,
``image``, ``signal``, ...). Edge types:

========================================= ==============================================
(patient, has_visit, visit)               every visit of the patient
(visit, next_visit, visit)                consecutive visits of one patient, by time
(visit, has_diagnosis, disease)           diagnoses (``has_phenotype`` for phenotypes)
(visit, takes_drug, drug)                 medications
(visit, has_procedure, procedure)         procedures
(visit, has_<modality>, <modality>)       modality observations (patient-level rows
                                          without a visit hang off the patient)
(<type>, <relation>, <type>)              knowledge-graph relations inside the scope,
                                          ``edge_attr`` = [probability, frequency,
                                          severity] with NaN as 0
(patient, similar_to, patient)            k nearest neighbours by cosine (optional)
(dst, rev_<relation>, src)                reverse of every edge above (optional)
========================================= ==============================================

Everything is built with vectorised pandas/numpy index arithmetic (``get_indexer``), never
per-edge Python loops or networkx. The same code path serves a full build and an
incremental :meth:`CohortBuilder.extend` (new patients or new observations), so an
extended graph equals a rebuild as a labelled graph (:meth:`CohortGraph.equals`).
:meth:`CohortBuilder.build_part` and :meth:`CohortBuilder.finish` split a build into
per-shard work and a whole-cohort step (:mod:`graphs.cohort.shards`).

Patient-level modality summaries for baselines and fusion models: ``data["patient"]``
holds ``x_<m>`` (mean embedding of the patient's observations of modality ``m``) and
``mask_<m>`` (observed or not) for every modality.

Examples:
    >>> from graphs.cohort.demo import tiny_kg, tiny_records
    >>> cohort = CohortBuilder(tiny_kg()).build(tiny_records())
    >>> cohort.data["patient"].num_nodes, cohort.data["visit"].num_nodes
    (2, 3)
    >>> cohort.data.validate()
    True
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch_geometric.data import HeteroData

from graphs.cohort.config import CohortConfig
from graphs.cohort.features import MODALITY_TYPES, ModalityFeatures
from graphs.cohort.graph import CohortGraph
from graphs.cohort.similarity import knn_edges
from graphs.records.columns import index_of
from ontologies.errors import ConfigError, SchemaError, UnknownCodeError

__all__ = ["CohortBuilder", "build_cohort_graph", "EVENT_TABLES"]

log = logging.getLogger(__name__)

#: (records table, relation, semantic type assumed for codes missing from the KG).
EVENT_TABLES = (
    ("diagnoses", "has_diagnosis", "disease"),
    ("medications", "takes_drug", "drug"),
    ("procedures", "has_procedure", "procedure"),
)
_SEX_CODES = {"F": 0, "M": 1, "U": 2}
_DAY_NS = 86_400 * 10**9


def _days(values: pd.Series) -> torch.Tensor:
    """Datetimes -> float days since 1970 (NaN for NaT)."""
    ts = pd.to_datetime(values).astype("datetime64[ns]")
    out = ts.to_numpy().astype("int64").astype("float64") / _DAY_NS
    out[ts.isna().to_numpy()] = np.nan
    return torch.from_numpy(out)


def _objects(values: Any) -> np.ndarray:
    """Strings as a numpy object array (pandas' Arrow strings hash far slower here)."""
    if isinstance(values, (pd.Series, pd.Index)):
        return values.astype(object).to_numpy(dtype=object, na_value=None)
    return np.asarray(values, dtype=object)


def _strings(values: Any) -> pd.Index:
    return pd.Index(_objects(values), dtype=object)


def _is_concept(node_type: str) -> bool:
    """True for knowledge-graph concept node types (not patient, visit or a modality)."""
    return node_type not in ("patient", "visit") and node_type not in MODALITY_TYPES


class CohortBuilder:
    """Turns a knowledge graph and patient records into a :class:`CohortGraph`.

    Args:
        kg: The knowledge graph (``kg.KnowledgeGraph``).
        config: What to include; defaults to :class:`CohortConfig`.
        label_encoder: Callable mapping a list of labels to a ``[n, d]`` tensor; required
            when ``config.concept_features == "text"`` (e.g. a ``TextEncoder().encode``).
    """

    def __init__(self, kg: Any, config: CohortConfig | None = None,
                 label_encoder: Callable[[list[str]], torch.Tensor] | None = None):
        self.kg = kg
        self.config = config or CohortConfig()
        if self.config.concept_features == "text" and label_encoder is None:
            from graphs.encoders.text import TextEncoder

            encoder = TextEncoder()
            label_encoder = lambda labels: encoder.encode(labels, progress=False)  # noqa: E731
        self.label_encoder = label_encoder
        concepts = kg.concepts
        self._concept_index = _strings(concepts["id"])
        self._concept_type = _objects(concepts["semantic_type"])
        self._concept_label = _objects(concepts["label"].fillna(""))
        rel = kg.relations
        self._rel_src, self._rel_dst = kg.edge_index()
        self._rel_code, self._rel_names = pd.factorize(_objects(rel["relation"]))
        self._rel_attr = np.nan_to_num(
            rel[["probability", "frequency", "severity"]].to_numpy(dtype=np.float32))

    # ---------------------------------------------------------------------------- public
    def build(self, records: Any, features: Mapping[str, ModalityFeatures] | None = None
              ) -> CohortGraph:
        """Builds the cohort graph of ``records`` (+ modality ``features``) from scratch."""
        empty = CohortGraph(HeteroData(), {}, {"config": vars(self.config).copy()})
        if self.config.kg_scope == "full":
            state = _State.from_cohort(empty, self._concept_index)
            self._add_concepts(state, self._concept_index.to_numpy())
            empty = state.finish(empty.metadata)
        return self.extend(empty, records, features)

    def extend(self, cohort: CohortGraph, records: Any,
               features: Mapping[str, ModalityFeatures] | None = None) -> CohortGraph:
        """Adds new patients, visits and observations to ``cohort`` without a rebuild.

        Rows already present (same patient, visit or observation id) are not duplicated.
        Derived parts (reverse edges, patient summaries, placeholders, similarity edges)
        are recomputed from the stored graph, which costs O(nodes), not a rebuild.

        Args:
            cohort: An existing graph from :meth:`build` with the same configuration.
            records: ``graphs.records.PatientRecords`` (validated here).
            features: Modality embeddings keyed by modality name.

        Returns:
            A new :class:`CohortGraph`; ``cohort`` is left unchanged.
        """
        records = records.validate()
        features = _checked_features(features)
        state = _State.from_cohort(cohort, self._concept_index)
        state.strip_derived()
        self._add_patients(state, records)
        self._add_visits(state, records)
        self._add_events(state, records)
        for feat in features.values():
            self._add_modality(state, feat)
        self._derive(state)
        meta = dict(cohort.metadata)
        meta["config"] = vars(self.config).copy()
        return state.finish(meta)

    def build_part(self, records: Any, features: Mapping[str, ModalityFeatures] | None = None,
                   *, validated: bool = False) -> CohortGraph:
        """The part of the graph that ``records`` alone determine (one shard's share).

        Holds patients, visits, modality observations, the concepts they use (with their
        ancestors under ``used+ancestors``; never the whole KG) and the edges between
        them, but nothing that needs the whole cohort: no next-visit order, node features,
        patient summaries, placeholders, similarity or reverse edges. :meth:`finish` turns
        a part, or the union of the parts of disjoint patient sets
        (:mod:`graphs.cohort.shards`), into the graph :meth:`build` returns.

        Args:
            records: ``graphs.records.PatientRecords``.
            features: Modality embeddings keyed by modality name.
            validated: ``records`` were just validated (e.g. by ``PatientRecords.load``);
                skips a second pass, which costs ~20% of a part's build.

        Examples:
            >>> from graphs.cohort.demo import tiny_features, tiny_kg, tiny_records
            >>> builder = CohortBuilder(tiny_kg())
            >>> part = builder.build_part(tiny_records(), tiny_features())
            >>> "x" in part.data["patient"], part.metadata["part"]
            (False, True)
            >>> builder.finish(part).equals(builder.build(tiny_records(), tiny_features()))
            True
        """
        if not validated:
            records = records.validate()
        features = _checked_features(features)
        state = _State(HeteroData(), {}, len(self._concept_index))
        self._add_patients(state, records)
        self._add_visits(state, records)
        self._add_events(state, records)
        for feat in features.values():
            self._add_modality(state, feat)
        return state.finish({"config": vars(self.config).copy(), "part": True})

    def finish(self, part: CohortGraph) -> CohortGraph:
        """Completes a graph from :meth:`build_part` (or a union of parts).

        KG edges are recomputed from the knowledge graph, because two concepts used only
        in different parts are linked in a full build but in neither part; the whole KG
        is added under ``kg_scope="full"``; then every derived part is computed over the
        whole cohort, exactly as :meth:`build` does.

        Raises:
            ConfigError: ``part`` did not come from :meth:`build_part`.
        """
        if not part.metadata.get("part"):
            raise ConfigError("finish() expects a graph from build_part() (metadata 'part'); "
                              "use extend() to grow a finished graph")
        if part.metadata.get("config", vars(self.config)) != vars(self.config):
            raise ConfigError(f"part built with config {part.metadata['config']}, finished "
                              f"with {vars(self.config)}; use the same CohortConfig")
        state = _State.from_cohort(part, self._concept_index)
        for et in list(state.data.edge_types):
            if _is_concept(et[0]) and _is_concept(et[2]):
                del state.data[et]
        present = np.flatnonzero(state.kg_row_type != "")
        if len(present):
            self._add_kg_edges(state, present)
        if self.config.kg_scope == "full":
            self._add_concepts(state, self._concept_index.to_numpy())
        self._derive(state)
        meta = {k: v for k, v in part.metadata.items() if k != "part"}
        meta["config"] = vars(self.config).copy()
        return state.finish(meta)

    # ---------------------------------------------------------------------------- parts
    def _add_patients(self, state: _State, records: Any) -> None:
        p = records.patients
        sex = torch.tensor(p["sex"].map(_SEX_CODES).fillna(2).to_numpy(dtype=np.int64))
        state.add_nodes("patient", p["patient_id"], {"sex": sex, "birth": _days(p["birth_date"])})

    def _add_visits(self, state: _State, records: Any) -> None:
        v = records.visits.sort_values(["patient_id", "start"], kind="stable")
        state.add_nodes("visit", v["visit_id"], {"time": _days(v["start"]),
                                                 "end_time": _days(v["end"])})
        state.add_edges(("patient", "has_visit", "visit"), v["patient_id"], v["visit_id"])

    def _add_events(self, state: _State, records: Any) -> None:
        for table_name, relation, default_type in EVENT_TABLES:
            table = getattr(records, table_name)
            if table.empty:
                continue
            rows = index_of(table["code"], self._concept_index)
            codes = _objects(table["code"])
            known = rows >= 0
            if not known.all():
                policy = self.config.unknown_codes
                if policy == "raise":
                    bad = pd.unique(codes[~known])[:5].tolist()
                    raise UnknownCodeError(bad[0] if len(bad) == 1 else bad,
                                           f"codes of the knowledge graph (from {table_name}); "
                                           "set unknown_codes='add' or 'drop'")
            keep = known if self.config.unknown_codes == "drop" else np.ones(len(codes), bool)
            if not keep.all():
                log.info("%s: dropped %d rows whose code is not in the KG", table_name,
                         int((~keep).sum()))
            self._add_kg_concepts(state, rows[known])
            if (~known & keep).any():
                extra = codes[~known & keep]
                uniq = pd.unique(extra)
                names = uniq
                if "label" in table.columns:  # e.g. drug names recorded beside their codes
                    lab = _objects(table["label"].fillna(""))[~known & keep]
                    first = pd.Series(lab).groupby(pd.Series(extra)).first()
                    names = first.reindex(uniq).to_numpy(dtype=object)
                state.add_extra_concepts(uniq, default_type, np.asarray(names, dtype=object),
                                         self.label_encoder)
            ctype, pos = state.concept_positions(rows[keep], codes[keep])
            visit = index_of(table["visit_id"], state.ids["visit"])[keep]
            if (visit < 0).any():
                raise UnknownCodeError(f"row {int(np.flatnonzero(visit < 0)[0])}",
                                       f"a visit of the records for {table_name}")
            time_col = "time" if "time" in table.columns else "start"
            times = _days(table[time_col][keep])
            for t in pd.unique(ctype):
                sel = ctype == t
                rel = "has_phenotype" if t == "phenotype" else relation
                state.add_edges_idx(("visit", rel, t), visit[sel], pos[sel],
                                    {"time": times[torch.from_numpy(sel)]})

    def _add_kg_concepts(self, state: _State, rows: np.ndarray) -> None:
        """Adds KG concepts (+ is_a ancestors when in scope) and the KG edges among them."""
        rows = np.unique(rows)
        if not len(rows):
            return
        if self.config.kg_scope == "used+ancestors":
            fresh = rows[state.kg_row_type[rows] == ""]
            if not len(fresh):
                return
            up = self.kg.ancestors(self._concept_index[fresh].tolist(), include_self=True)
            rows = np.unique(self._concept_index.get_indexer(pd.Index(up, dtype=object)))
        added = state.add_kg_concepts(rows, self._concept_index.to_numpy(),
                                      self._concept_type, self._concept_label,
                                      self.label_encoder)
        if len(added):
            self._add_kg_edges(state, added)

    def _add_concepts(self, state: _State, codes: np.ndarray) -> None:
        self._add_kg_concepts(state, self._concept_index.get_indexer(_strings(codes)))

    def _add_kg_edges(self, state: _State, added_rows: np.ndarray) -> None:
        src, dst = self._rel_src, self._rel_dst
        ok = (src >= 0) & (dst >= 0)
        is_new = np.zeros(len(self._concept_index), dtype=bool)
        is_new[added_rows] = True
        s_safe, d_safe = np.where(ok, src, 0), np.where(ok, dst, 0)
        st, dt = state.kg_row_type[s_safe], state.kg_row_type[d_safe]
        keep = ok & (st != "") & (dt != "") & (is_new[s_safe] | is_new[d_safe])
        if not keep.any():
            return
        idx = np.flatnonzero(keep)
        groups = pd.DataFrame({"st": st[idx], "r": self._rel_code[idx], "dt": dt[idx]})
        by_type = groups.groupby(["st", "r", "dt"], sort=True).indices
        for (stype, rcode, dtype), members in by_type.items():
            e = idx[members]
            state.add_edges_idx((stype, str(self._rel_names[rcode]), dtype),
                                state.kg_row_pos[src[e]], state.kg_row_pos[dst[e]],
                                {"edge_attr": torch.from_numpy(self._rel_attr[e])})

    def _add_modality(self, state: _State, feat: ModalityFeatures) -> None:
        m = feat.modality
        table = feat.table
        state.add_nodes(m, table["key"], {"x": feat.x, "time": _days(table["time"]),
                                          "missing": torch.zeros(len(table), dtype=torch.bool)})
        has_visit = table["visit_id"].notna().to_numpy()
        if has_visit.any():
            state.add_edges(("visit", f"has_{m}", m), table["visit_id"][has_visit],
                            table["key"][has_visit])
        if (~has_visit).any():
            state.add_edges(("patient", f"has_{m}", m), table["patient_id"][~has_visit],
                            table["key"][~has_visit])

    # ---------------------------------------------------------------------------- derived
    def _derive(self, state: _State) -> None:
        data = state.data
        if "visit" in state.ids:
            self._visit_order(state)
            self._patient_features(state)
        modalities = [t for t in state.ids if t in MODALITY_TYPES]
        for m in modalities:
            self._patient_summary(state, m)
        if self.config.missing in ("zero", "mean", "token"):
            for m in modalities:
                self._placeholders(state, m)
        for t in state.ids:
            if t not in ("patient", "visit") and t not in MODALITY_TYPES:
                n = len(state.ids[t])
                if self.config.concept_features == "learnable":
                    data[t].node_id = torch.arange(n)
        if self.config.knn > 0 and modalities:
            x = torch.cat([torch.nn.functional.normalize(data["patient"][f"x_{m}"], dim=1)
                           for m in modalities], dim=1)
            src, dst, w = knn_edges(x, self.config.knn)
            data["patient", "similar_to", "patient"].edge_index = torch.stack([src, dst])
            data["patient", "similar_to", "patient"].edge_weight = w
        if self.config.reverse_edges:
            for et in list(data.edge_types):
                s, r, d = et
                if r.startswith("rev_"):
                    continue
                store = data[et]
                rev = data[d, f"rev_{r}", s]
                rev.edge_index = store.edge_index.flip(0)
                for key in ("edge_attr", "time", "edge_weight"):
                    if key in store:
                        rev[key] = store[key]

    def _visit_order(self, state: _State) -> None:
        data = state.data
        ei = data["patient", "has_visit", "visit"].edge_index
        n_visits = len(state.ids["visit"])
        owner = torch.full((n_visits,), -1, dtype=torch.long)
        owner[ei[1]] = ei[0]
        time = data["visit"].time
        order = np.lexsort((np.nan_to_num(time.numpy(), nan=np.inf), owner.numpy()))
        o = torch.from_numpy(order)
        same = owner[o[1:]] == owner[o[:-1]]
        data["visit", "next_visit", "visit"].edge_index = torch.stack([o[:-1][same], o[1:][same]])
        first = torch.full((len(state.ids["patient"]),), float("nan"), dtype=torch.float64)
        first = first.scatter_reduce(0, owner, torch.nan_to_num(time, nan=np.inf), "amin",
                                     include_self=False)
        rank = torch.zeros(n_visits)
        starts = torch.ones(n_visits, dtype=torch.bool)
        starts[1:] = ~same
        group_start = torch.cummax(torch.where(starts, torch.arange(n_visits), 0), 0).values
        rank[o] = (torch.arange(n_visits) - group_start).float()
        since = (time - first[owner]).float().nan_to_num(0.0) / 365.25
        stay = (data["visit"].end_time - time).float().nan_to_num(0.0).clamp(0, 365) / 30.0
        data["visit"].x = torch.stack([since, stay, rank / 10.0], dim=1)
        data["visit"].patient = owner

    def _patient_features(self, state: _State) -> None:
        data = state.data
        owner = data["visit"].patient
        n = len(state.ids["patient"])
        last = torch.full((n,), float("nan"), dtype=torch.float64)
        last = last.scatter_reduce(0, owner, torch.nan_to_num(data["visit"].time, nan=-np.inf),
                                   "amax", include_self=False)
        age = ((last - data["patient"].birth) / 365.25).float()
        known = torch.isfinite(age)
        sex = torch.nn.functional.one_hot(data["patient"].sex, 3).float()
        data["patient"].x = torch.cat([torch.where(known, age, 0.0).unsqueeze(1) / 100.0,
                                       known.float().unsqueeze(1), sex], dim=1)

    def _patient_summary(self, state: _State, m: str) -> None:
        data = state.data
        n = len(state.ids["patient"])
        owner = torch.full((len(state.ids[m]),), -1, dtype=torch.long)
        if ("visit", f"has_{m}", m) in data.edge_types:
            ei = data["visit", f"has_{m}", m].edge_index
            owner[ei[1]] = data["visit"].patient[ei[0]]
        if ("patient", f"has_{m}", m) in data.edge_types:
            ei = data["patient", f"has_{m}", m].edge_index
            owner[ei[1]] = ei[0]
        real = (owner >= 0) & ~data[m].missing
        x = data[m].x
        if not bool(real.all()):  # skip copying [observations, dim] when nothing is left out
            owner, x = owner[real], x[real]
        total = torch.zeros(n, x.shape[1], dtype=x.dtype).index_add_(0, owner, x)
        count = torch.bincount(owner, minlength=n).to(x.dtype)
        mask = count > 0
        mean = total.div_(count.clamp(min=1).unsqueeze(1))
        if self.config.missing == "mean" and mask.any():
            mean[~mask] = x.mean(dim=0)
        data["patient"][f"x_{m}"] = mean
        if self.config.missing != "drop":
            data["patient"][f"mask_{m}"] = mask

    def _placeholders(self, state: _State, m: str) -> None:
        data = state.data
        mask = data["patient"][f"mask_{m}"]
        absent = np.flatnonzero(~mask.numpy())
        if not len(absent):
            return
        pids = state.ids["patient"].to_numpy()[absent]
        keys = pd.Series([f"missing:{m}:{p}" for p in pids], dtype=object)
        x = data["patient"][f"x_{m}"][torch.from_numpy(absent)].clone()
        if self.config.missing in ("zero", "token"):
            x.zero_()
        state.add_nodes(m, keys, {"x": x, "time": torch.full((len(keys),), float("nan"),
                                                              dtype=torch.float64),
                                  "missing": torch.ones(len(keys), dtype=torch.bool)})
        state.add_edges(("patient", f"has_{m}", m), pd.Series(pids, dtype=object), keys)


class _State:
    """Mutable node tables and edge lists during one build/extend call.

    KG concepts are tracked by their row in the KG concepts table (``kg_row_type``: node
    type or ``""``; ``kg_row_pos``: row within that node type), so KG edges are added with
    integer arithmetic. Codes the KG lacks live in ``extra`` (id -> node type).
    """

    def __init__(self, data: HeteroData, ids: dict[str, pd.Index], n_kg: int):
        self.data = data
        self.ids = ids
        self.kg_row_type = np.full(n_kg, "", dtype=object)
        self.kg_row_pos = np.full(n_kg, -1, dtype=np.int64)
        self.extra: dict[str, str] = {}

    @classmethod
    def from_cohort(cls, cohort: CohortGraph, kg_index: pd.Index) -> _State:
        data = HeteroData()
        for t in cohort.data.node_types:
            for k, v in cohort.data[t].items():
                data[t][k] = v
        for et in cohort.data.edge_types:
            for k, v in cohort.data[et].items():
                data[et][k] = v
        ids = {t: pd.Index(_objects(ix), dtype=object) for t, ix in cohort.node_ids.items()}
        state = cls(data, ids, len(kg_index))
        for t, ix in ids.items():
            if t in ("patient", "visit") or t in MODALITY_TYPES:
                continue
            rows = kg_index.get_indexer(ix)
            known = rows >= 0
            state.kg_row_type[rows[known]] = t
            state.kg_row_pos[rows[known]] = np.flatnonzero(known)
            state.extra.update(dict.fromkeys(ix[~known], t))
        return state

    def strip_derived(self) -> None:
        """Drops reverse/similarity/next-visit edges and modality placeholders."""
        data = self.data
        for et in list(data.edge_types):
            if et[1].startswith("rev_") or et[1] in ("similar_to", "next_visit"):
                del data[et]
        for m in [t for t in self.ids if t in MODALITY_TYPES]:
            missing = data[m].missing
            if not missing.any():
                continue
            keep = ~missing
            new_index = torch.cumsum(keep.long(), 0) - 1
            for k, v in list(data[m].items()):
                if torch.is_tensor(v) and v.shape[:1] == keep.shape:
                    data[m][k] = v[keep]
            data[m].num_nodes = int(keep.sum())
            self.ids[m] = self.ids[m][keep.numpy()]
            for et in list(data.edge_types):
                if et[2] != m:
                    continue
                ei = data[et].edge_index
                ok = keep[ei[1]]
                data[et].edge_index = torch.stack([ei[0][ok], new_index[ei[1][ok]]])

    def concept_positions(self, rows: np.ndarray, codes: np.ndarray
                          ) -> tuple[np.ndarray, np.ndarray]:
        """Node type and row position of concepts given by KG row (or code when row < 0)."""
        known = rows >= 0
        ctype = np.empty(len(rows), dtype=object)
        pos = np.empty(len(rows), dtype=np.int64)
        ctype[known] = self.kg_row_type[rows[known]]
        pos[known] = self.kg_row_pos[rows[known]]
        if (~known).any():
            extra = pd.Series(codes[~known])
            types = extra.map(self.extra).to_numpy(dtype=object)
            ctype[~known] = types
            p = np.empty(len(extra), dtype=np.int64)
            for t in pd.unique(types):
                sel = types == t
                p[sel] = self.ids[t].get_indexer(pd.Index(extra[sel].to_numpy(), dtype=object))
            pos[~known] = p
        return ctype, pos

    def add_nodes(self, node_type: str, ids: Sequence[str] | pd.Series | np.ndarray,
                  attrs: dict[str, torch.Tensor] | None = None) -> np.ndarray:
        """Appends the ids not yet present (first occurrence wins); returns them."""
        ids = pd.Index(_objects(ids), dtype=object)
        if ids.isna().any():
            raise SchemaError(f"{node_type}: empty id at row {int(np.argmax(ids.isna()))}")
        existing = self.ids.get(node_type, pd.Index([], dtype=object))
        fresh = (existing.get_indexer(ids) < 0) if len(existing) else np.ones(len(ids), bool)
        fresh &= ~ids.duplicated()
        new_ids = ids[fresh]
        store = self.data[node_type]
        n_old = len(existing)
        pick = torch.from_numpy(np.array(fresh, dtype=bool))
        for key, value in (attrs or {}).items():
            value = value[pick]
            store[key] = value if n_old == 0 or key not in store else torch.cat([store[key], value])
        self.ids[node_type] = existing.append(new_ids) if n_old else new_ids
        store.num_nodes = len(self.ids[node_type])
        return new_ids.to_numpy(dtype=object)

    def add_kg_concepts(self, rows: np.ndarray, kg_ids: np.ndarray, kg_types: np.ndarray,
                        kg_labels: np.ndarray, label_encoder: Callable | None) -> np.ndarray:
        """Adds KG rows not yet in the graph to their node tables; returns the new rows."""
        rows = rows[self.kg_row_type[rows] == ""]
        for t in pd.unique(kg_types[rows]):
            sel = rows[kg_types[rows] == t]
            attrs = {}
            if label_encoder is not None:
                attrs["x"] = label_encoder([str(x) for x in kg_labels[sel]]).float()
            n_old = len(self.ids.get(t, ()))
            self.add_nodes(t, kg_ids[sel], attrs)
            self.kg_row_type[sel] = t
            self.kg_row_pos[sel] = n_old + np.arange(len(sel))
        return rows

    def add_extra_concepts(self, codes: np.ndarray, node_type: str, labels: np.ndarray,
                           label_encoder: Callable | None) -> None:
        """Adds concepts the KG lacks (e.g. drugs named only in the records)."""
        fresh = np.array([c not in self.extra for c in codes], dtype=bool)
        codes, labels = codes[fresh], labels[fresh]
        if not len(codes):
            return
        attrs = {}
        if label_encoder is not None:
            attrs["x"] = label_encoder([str(x) for x in labels]).float()
        self.add_nodes(node_type, codes, attrs)
        self.extra.update(dict.fromkeys(codes, node_type))

    def add_edges(self, edge_type: tuple[str, str, str], src: Any, dst: Any,
                  attrs: dict[str, torch.Tensor] | None = None) -> None:
        """Appends edges given by node ids (unknown ids raise)."""
        s_type, _, d_type = edge_type
        s = self.ids[s_type].get_indexer(_strings(src))
        d = self.ids[d_type].get_indexer(_strings(dst))
        bad = (s < 0) | (d < 0)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            which = "source" if s[row] < 0 else "target"
            value = _objects(src if which == "source" else dst)[row]
            if (s_type if which == "source" else d_type) in ("patient", "visit"):
                value = f"row {row}"  # never echo patient identifiers
            raise UnknownCodeError(value, f"a known {s_type if which == 'source' else d_type} "
                                          f"node for edge {edge_type}")
        self.add_edges_idx(edge_type, s, d, attrs)

    def add_edges_idx(self, edge_type: tuple[str, str, str], src: np.ndarray, dst: np.ndarray,
                      attrs: dict[str, torch.Tensor] | None = None) -> None:
        """Appends edges given by row positions."""
        ei = torch.from_numpy(np.stack([np.asarray(src), np.asarray(dst)]).astype(np.int64))
        store = self.data[edge_type]
        first = "edge_index" not in store
        store.edge_index = ei if first else torch.cat([store.edge_index, ei], dim=1)
        for key, value in (attrs or {}).items():
            store[key] = value if first else torch.cat([store[key], value])

    def finish(self, metadata: dict[str, Any]) -> CohortGraph:
        return CohortGraph(self.data, {t: ix.to_numpy(dtype=object) for t, ix in self.ids.items()},
                           metadata)


def build_cohort_graph(kg: Any, records: Any,
                       features: Mapping[str, ModalityFeatures] | None = None,
                       config: CohortConfig | None = None, **options: Any) -> CohortGraph:
    """Shorthand for ``CohortBuilder(kg, config or CohortConfig(**options)).build(...)``."""
    return CohortBuilder(kg, config or CohortConfig(**options)).build(records, features)


def _checked_features(features: Mapping[str, ModalityFeatures] | None
                      ) -> dict[str, ModalityFeatures]:
    """``features`` as a dict, each value the ModalityFeatures of its own key."""
    features = dict(features or {})
    for name, feat in features.items():
        if not isinstance(feat, ModalityFeatures) or feat.modality != name:
            raise SchemaError(f"features[{name!r}] must be ModalityFeatures of modality "
                              f"{name!r}, got {feat!r}")
    return features
