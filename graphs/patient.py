"""One patient's subgraph, for people: networkx views, paths, drawings, Gephi export.

A :class:`PatientGraph` is a small pair of tables (nodes, edges) for one patient: the
patient node, visit nodes linked by ``next_visit`` in time order, modality nodes (notes,
images, ...) and edges to knowledge-graph concepts (``has_diagnosis``, ``takes_drug``,
``has_procedure``, ``has_phenotype``) with timestamps. Node ids in the networkx view are
``patient:<id>``, ``visit:<id>``, ``<modality>:<key>`` and the concept CURIEs, so the view
composes with ``KnowledgeGraph.to_networkx()``.

This is an inspection path; training graphs come from :mod:`graphs.cohort` (vectorised).

Examples:
    >>> from graphs.cohort.demo import tiny_kg, tiny_records
    >>> pg = PatientGraph.from_records(tiny_records(), "p1")
    >>> pg
    PatientGraph(p1: 2 visits, 4 concepts, 1 modality nodes)
    >>> G = pg.to_networkx(tiny_kg(), hops=1)
    >>> pg.paths_to("ICD10CM:E08-E13", tiny_kg())[0]
    ['patient:p1', 'visit:v1', 'ICD10CM:E11.9', 'ICD10CM:E11', 'ICD10CM:E08-E13']
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd

from graphs.cohort.builder import EVENT_TABLES
from ontologies.atomic import atomic_write
from ontologies.errors import InputError, UnknownCodeError

__all__ = ["PatientGraph", "NODE_COLOURS"]

#: Colours of node types in drawings (others are grey).
NODE_COLOURS = {"patient": "#d62728", "visit": "#ff7f0e", "disease": "#1f77b4",
                "category": "#aec7e8", "drug": "#2ca02c", "procedure": "#9467bd",
                "phenotype": "#17becf", "note": "#8c564b", "image": "#e377c2",
                "signal": "#bcbd22", "genomic": "#7f7f7f", "audio": "#c5b0d5"}


class PatientGraph:
    """The subgraph of one patient.

    Args:
        patient_id: The patient.
        nodes: Columns ``id``, ``type``, ``label``, ``time``.
        edges: Columns ``source``, ``relation``, ``target``, ``time``.
    """

    def __init__(self, patient_id: str, nodes: pd.DataFrame, edges: pd.DataFrame):
        self.patient_id = patient_id
        self.nodes = nodes.reset_index(drop=True)
        self.edges = edges.reset_index(drop=True)

    @classmethod
    def from_records(cls, records: Any, patient_id: str, kg: Any = None) -> PatientGraph:
        """Extracts one patient from ``graphs.records.PatientRecords``.

        Args:
            records: Validated records.
            patient_id: Which patient.
            kg: Optional knowledge graph, used for concept labels and types.
        """
        if patient_id not in set(records.patients["patient_id"].astype(str)):
            raise UnknownCodeError("<patient id withheld>",
                                   "a patient_id present in records.patients")
        mine = {name: getattr(records, name) for name in
                ("visits", "diagnoses", "medications", "procedures", "notes", "modalities")}
        mine = {k: v[v["patient_id"].astype(str) == patient_id] for k, v in mine.items()}
        pnode = f"patient:{patient_id}"
        visits = mine["visits"].sort_values("start", kind="stable")
        vid = "visit:" + visits["visit_id"].astype(str)
        nodes = [pd.DataFrame({"id": [pnode], "type": ["patient"], "label": [patient_id],
                               "time": [pd.NaT]}),
                 pd.DataFrame({"id": vid, "type": "visit",
                               "label": visits["visit_type"].astype(str).to_numpy(),
                               "time": visits["start"].to_numpy()})]
        edges = [pd.DataFrame({"source": pnode, "relation": "has_visit", "target": vid,
                               "time": visits["start"].to_numpy()}),
                 pd.DataFrame({"source": vid.to_numpy()[:-1], "relation": "next_visit",
                               "target": vid.to_numpy()[1:],
                               "time": visits["start"].to_numpy()[1:]})]
        for table_name, relation, default_type in EVENT_TABLES:
            table = mine[table_name]
            if table.empty:
                continue
            codes = table["code"].astype(str).to_numpy()
            ctype, label = _concept_info(kg, codes, default_type)
            if "label" in table.columns:
                label = np.where(label == codes, table["label"].astype(str).to_numpy(), label)
            rel = np.where(ctype == "phenotype", "has_phenotype", relation)
            t = table["time" if "time" in table.columns else "start"].to_numpy()
            nodes.append(pd.DataFrame({"id": codes, "type": ctype, "label": label, "time": t}))
            edges.append(pd.DataFrame({"source": "visit:" + table["visit_id"].astype(str),
                                       "relation": rel, "target": codes, "time": t}))
        notes = mine["notes"]
        if not notes.empty:
            nid = "note:" + notes["note_id"].astype(str)
            nodes.append(pd.DataFrame({"id": nid, "type": "note",
                                       "label": notes["category"].astype(str).to_numpy(),
                                       "time": notes["time"].to_numpy()}))
            edges.append(pd.DataFrame({"source": "visit:" + notes["visit_id"].astype(str),
                                       "relation": "has_note", "target": nid,
                                       "time": notes["time"].to_numpy()}))
        mods = mine["modalities"]
        if not mods.empty:
            mid = mods["modality"].astype(str) + ":" + mods["path"].astype(str)
            nodes.append(pd.DataFrame({"id": mid, "type": mods["modality"].astype(str),
                                       "label": mods["path"].astype(str).map(
                                           lambda p: os.path.basename(p) or p),
                                       "time": mods["time"].to_numpy()}))
            src = np.where(mods["visit_id"].isna(), pnode,
                           "visit:" + mods["visit_id"].astype(str))
            edges.append(pd.DataFrame({"source": src,
                                       "relation": "has_" + mods["modality"].astype(str),
                                       "target": mid, "time": mods["time"].to_numpy()}))
        node_table = pd.concat(nodes, ignore_index=True).drop_duplicates("id")
        return cls(patient_id, node_table, pd.concat(edges, ignore_index=True))

    # ------------------------------------------------------------------ views
    def concept_ids(self) -> list[str]:
        """CURIEs of the concepts this patient links to."""
        mask = ~self.nodes["type"].isin(["patient", "visit"]) & self.nodes["id"].str.contains(
            ":", regex=False) & ~self.nodes["id"].str.match(r"^(note|image|signal|audio|"
                                                            r"genomic|volume|slide|video):")
        return self.nodes.loc[mask, "id"].tolist()

    def to_networkx(self, kg: Any = None, hops: int = 0) -> nx.MultiDiGraph:
        """The patient subgraph, optionally with the k-hop KG neighbourhood of its concepts.

        Args:
            kg: Knowledge graph to draw concepts' neighbourhoods from.
            hops: Steps of KG neighbourhood to add (0: only the patient's concepts; the
                is_a ancestors are always added when ``kg`` is given).

        Returns:
            A MultiDiGraph with node attributes ``type``, ``label``, ``time`` and edge
            attributes ``relation``, ``time`` (KG edges carry their attributes).
        """
        G = nx.MultiDiGraph(patient=self.patient_id)
        if kg is not None:
            known = [c for c in self.concept_ids() if c in kg]
            if known:
                sub = kg.subgraph(known, ancestors=True, hops=hops)
                for cid, row in sub.concepts.set_index("id").iterrows():
                    G.add_node(cid, type=row["semantic_type"], label=row["label"])
                for r in sub.relations.itertuples(index=False):
                    attrs = {k: getattr(r, k) for k in ("probability", "frequency", "severity")
                             if pd.notna(getattr(r, k))}
                    G.add_edge(r.source, r.target, key=r.relation, relation=r.relation, **attrs)
        for r in self.nodes.itertuples(index=False):
            if r.id in G:  # a KG concept: its KG type and label are authoritative
                continue
            attrs = {"type": r.type, "label": r.label}
            if pd.notna(r.time):
                attrs["time"] = pd.Timestamp(r.time).isoformat()
            G.add_node(r.id, **attrs)
        for r in self.edges.itertuples(index=False):
            attrs = {"relation": r.relation}
            if pd.notna(r.time):
                attrs["time"] = pd.Timestamp(r.time).isoformat()
            G.add_edge(r.source, r.target, key=r.relation, **attrs)
        return G

    def paths_to(self, concept_id: str, kg: Any = None, hops: int = 0,
                 limit: int = 10) -> list[list[str]]:
        """Shortest paths (ignoring direction) from the patient node to ``concept_id``."""
        G = self.to_networkx(kg, hops)
        if concept_id not in G:
            raise UnknownCodeError(concept_id, "a concept in this patient's graph or in the "
                                               "given KG neighbourhood")
        try:
            paths = nx.all_shortest_paths(G.to_undirected(as_view=True),
                                          f"patient:{self.patient_id}", concept_id)
            return sorted(paths)[:limit]
        except nx.NetworkXNoPath:
            return []

    def draw(self, path: str | os.PathLike, kg: Any = None, hops: int = 0,
             title: str | None = None) -> Path:
        """Writes a PNG drawing coloured by node type (atomically) and returns its path."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        G = self.to_networkx(kg, hops)
        if G.number_of_nodes() > 400:
            raise InputError(f"{G.number_of_nodes()} nodes are too many to draw legibly; "
                             "lower hops or export GraphML for Gephi")
        pos = nx.spring_layout(G, seed=0)
        fig, ax = plt.subplots(figsize=(10, 8))
        types = nx.get_node_attributes(G, "type")
        colours = [NODE_COLOURS.get(types.get(n, ""), "#cccccc") for n in G.nodes]
        nx.draw_networkx_edges(G, pos, ax=ax, alpha=0.4, arrows=True, arrowsize=8)
        nx.draw_networkx_nodes(G, pos, ax=ax, node_color=colours, node_size=260)
        labels = {n: str(G.nodes[n].get("label", n))[:28] for n in G.nodes}
        nx.draw_networkx_labels(G, pos, labels, ax=ax, font_size=7)
        for t in sorted(set(types.values())):
            ax.scatter([], [], color=NODE_COLOURS.get(t, "#cccccc"), label=t)
        ax.legend(loc="best", fontsize=8)
        ax.set_title(title or f"patient {self.patient_id}")
        ax.axis("off")
        path = Path(path)
        with atomic_write(path, "wb") as handle:
            fig.savefig(handle, format="png", dpi=110, bbox_inches="tight")
        plt.close(fig)
        return path

    def write_graphml(self, path: str | os.PathLike, kg: Any = None, hops: int = 0) -> Path:
        """GraphML for Cytoscape/Gephi (written atomically)."""
        with atomic_write(path, "wb") as handle:
            nx.write_graphml(self.to_networkx(kg, hops), handle)
        return Path(path)

    def write_gexf(self, path: str | os.PathLike, kg: Any = None, hops: int = 0) -> Path:
        """GEXF for Gephi (written atomically)."""
        with atomic_write(path, "wb") as handle:
            nx.write_gexf(self.to_networkx(kg, hops), handle)
        return Path(path)

    def __repr__(self) -> str:
        counts = self.nodes["type"].value_counts()
        n_mod = int(self.nodes["type"].isin(["note", "image", "signal", "audio", "genomic",
                                             "volume", "slide", "video"]).sum())
        n_concepts = len(self.nodes) - 1 - int(counts.get("visit", 0)) - n_mod
        return (f"PatientGraph({self.patient_id}: {int(counts.get('visit', 0))} visits, "
                f"{n_concepts} concepts, {n_mod} modality nodes)")


def _concept_info(kg: Any, codes: np.ndarray, default_type: str) -> tuple[np.ndarray, np.ndarray]:
    if kg is None:
        return np.full(len(codes), default_type, dtype=object), codes.astype(object)
    table = kg.concepts.set_index("id")[["semantic_type", "label"]]
    found = table.reindex(codes)
    ctype = found["semantic_type"].astype(object).fillna(default_type).to_numpy()
    label = found["label"].astype(object).where(found["label"].notna(), codes).to_numpy()
    return ctype, label
