"""Clinical decision-support report per patient: Findings, Impression, Recommendation,
Comparison, as Markdown and JSON. A research prototype, not for clinical use.

- **Findings**: modalities observed (counts, dates) and recorded codes with names; no note
  text unless a short excerpt is asked for (off by default).
- **Impression**: top-k predicted comorbidities with probabilities, each with supporting
  paths from the patient's recorded codes to the predicted concept through the
  knowledge graph (:class:`gnn.explain.paths.ConceptPaths`), rendered with names;
  optionally anonymised similar cases.
- **Recommendation**: top-k predicted treatments (when a treatment model's output is
  given), each flagged when it interacts with another recommended or a current drug
  according to a DDI table (``drug_a, drug_b, severity, description``).
- **Comparison**: codes new at / no longer recorded at the latest visit versus the
  previous one, and the change in predicted risk when predictions for the previous
  cut-off are given.

The report names no one but the requested patient: visits appear by number and date,
observations by modality and date, similar patients as "case 1", "case 2".

Examples:
    >>> import json, torch
    >>> from graphs.cohort import CohortBuilder
    >>> from graphs.cohort.demo import tiny_kg, tiny_records
    >>> cohort = CohortBuilder(tiny_kg()).build(tiny_records())
    >>> risk = Predictions(["ICD10CM:E08-E13", "ICD10CM:I10"], torch.tensor([[0.9, 0.2],
    ...                                                                      [0.1, 0.7]]))
    >>> report = build_report(cohort, "p1", comorbidity=risk, labels=tiny_kg(), top_k=1,
    ...                       generated="2024-01-01T00:00:00+00:00")
    >>> item = report.to_dict()["sections"]["impression"]["predictions"][0]
    >>> item["concept"], item["probability"], item["evidence"]
    ('ICD10CM:E08-E13', 0.9, 'recorded (more specific code)')
    >>> print(item["paths"][0]["text"].replace(" -", "\\n  -"))
    visit 2 (2021-01-01)
      -has_diagnosis-> ICD10CM:E11.65 Type 2 diabetes mellitus with hyperglycemia
      -is_a-> ICD10CM:E11 Type 2 diabetes mellitus
      -is_a-> ICD10CM:E08-E13 Diabetes mellitus
    >>> "not for clinical use" in report.to_markdown()
    True
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from gnn.cdss_markdown import render_markdown
from gnn.explain.lookup import (
    RELATION_KINDS,
    as_cohort,
    days_to_date,
    is_concept_type,
    label_map,
    patient_row,
    patient_visits,
    predict_logits,
    record_table,
)
from gnn.explain.paths import ConceptPaths, Step, render_path
from gnn.explain.similar import similar_patients
from graphs.cohort.graph import CohortGraph
from ontologies.atomic import atomic_write
from ontologies.errors import InputError, SchemaError
from ontologies.schema import SEVERITY_SCALE

__all__ = ["Predictions", "CdssReport", "build_report", "DISCLAIMER", "SECTIONS"]

#: Footer of every report.
DISCLAIMER = ("Research prototype, not for clinical use: generated automatically by medkg "
              "from a machine-learning model and a knowledge graph. Probabilities and paths "
              "are statistical associations, not diagnoses or prescriptions, and have not "
              "been validated for patient care.")
#: Section keys in report order.
SECTIONS = ("findings", "impression", "recommendation", "comparison")


@dataclass
class Predictions:
    """One model's probabilities for a set of patients.

    Attributes:
        label_ids: Concept ids of the label columns.
        probs: ``[rows, labels]`` probabilities in [0, 1].
        patient_ids: Patient of each row; ``None`` = the cohort graph's patient order.
        label_names: Optional names of the labels (else taken from the KG labels).
    """

    label_ids: list[str]
    probs: Tensor
    patient_ids: list[str] | None = None
    label_names: list[str] | None = None

    def __post_init__(self) -> None:
        self.label_ids = [str(i) for i in self.label_ids]
        self.probs = torch.as_tensor(self.probs, dtype=torch.float32).detach()
        if self.probs.dim() != 2 or self.probs.size(1) != len(self.label_ids):
            raise SchemaError(f"probs must be [rows, {len(self.label_ids)}] (one column per "
                              f"label id), got {tuple(self.probs.shape)}")
        if not bool(((self.probs >= 0) & (self.probs <= 1)).all()):
            raise InputError("probs must be probabilities in [0, 1]; apply a sigmoid to logits")
        if self.patient_ids is not None and len(self.patient_ids) != self.probs.size(0):
            raise SchemaError(f"{len(self.patient_ids)} patient ids for "
                              f"{self.probs.size(0)} rows")
        if self.label_names is not None and len(self.label_names) != len(self.label_ids):
            raise SchemaError(f"{len(self.label_names)} label names for "
                              f"{len(self.label_ids)} labels")

    @classmethod
    def from_model(cls, model: Any, cohort: CohortGraph, label_ids: list[str],
                   label_names: list[str] | None = None) -> Predictions:
        """Sigmoid of ``model(cohort.data)`` (patient logits), one row per patient."""
        cohort = as_cohort(cohort)
        probs = torch.sigmoid(predict_logits(model, cohort.data))
        return cls(label_ids, probs, None, label_names)

    def row(self, cohort: CohortGraph, patient_id: str) -> Tensor | None:
        """The patient's probabilities, or ``None`` if these predictions lack the patient."""
        if self.patient_ids is None:
            n = cohort.data["patient"].num_nodes
            if self.probs.size(0) != n:
                raise SchemaError(f"{self.probs.size(0)} prediction rows but {n} patients; "
                                  "pass patient_ids")
            return self.probs[patient_row(cohort, patient_id)]
        ids = list(map(str, self.patient_ids))
        return self.probs[ids.index(str(patient_id))] if str(patient_id) in ids else None

    def name(self, column: int, names: dict[str, str]) -> str:
        """Name of label ``column``: ``label_names``, else the KG label, else the id."""
        if self.label_names is not None:
            return str(self.label_names[column])
        return names.get(self.label_ids[column], self.label_ids[column])


@dataclass
class CdssReport:
    """A structured report; see the module docstring for the sections."""

    patient_id: str
    generated: str
    findings: dict[str, Any]
    impression: dict[str, Any]
    recommendation: dict[str, Any]
    comparison: dict[str, Any]
    disclaimer: str = DISCLAIMER
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form."""
        return {"patient_id": self.patient_id, "generated": self.generated,
                "sections": {s: getattr(self, s) for s in SECTIONS},
                "metadata": self.metadata, "disclaimer": self.disclaimer}

    def to_json(self) -> str:
        """The report as indented JSON."""
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)

    def to_markdown(self) -> str:
        """The report as Markdown (:func:`gnn.cdss_markdown.render_markdown`)."""
        return render_markdown(self)

    def save(self, folder: str | os.PathLike, name: str = "report") -> tuple[Path, Path]:
        """Writes ``<name>.md`` and ``<name>.json`` into ``folder``, each atomically."""
        folder = Path(folder)
        md, js = folder / f"{name}.md", folder / f"{name}.json"
        text, payload = self.to_markdown(), self.to_json()
        with atomic_write(md, "w") as f:
            f.write(text)
        with atomic_write(js, "w") as f:
            f.write(payload)
        return md, js


# ---------------------------------------------------------------------------- sections
def _codes(cohort: CohortGraph, rec: pd.DataFrame, names: dict[str, str],
           max_codes: int) -> tuple[list[dict[str, Any]], int]:
    con = rec[rec["node_type"].map(is_concept_type)].copy()
    if con.empty:
        return [], 0
    con["code"] = _ids(cohort, con)
    grouped = con.groupby(["relation", "code"], sort=False).agg(
        first=("time", "min"), last=("time", "max"), visits=("visit", "nunique")).reset_index()
    grouped = grouped.sort_values(["last", "code"], ascending=[False, True], kind="stable")
    out = [{"code": c, "name": names.get(c, c), "kind": RELATION_KINDS.get(r, r),
            "first_recorded": days_to_date(f), "last_recorded": days_to_date(la),
            "visits": int(v)}
           for r, c, f, la, v in grouped.head(max_codes).itertuples(index=False)]
    return out, max(0, len(grouped) - max_codes)


def _ids(cohort: CohortGraph, rec: pd.DataFrame) -> np.ndarray:
    ids = np.empty(len(rec), dtype=object)
    for t, idx in rec.groupby("node_type").indices.items():
        ids[idx] = cohort.ids(t, rec["node"].to_numpy()[idx])
    return ids


def _findings(cohort: CohortGraph, row: int, rec: pd.DataFrame, visits: np.ndarray,
              names: dict[str, str], max_codes: int, notes: pd.DataFrame | None,
              note_excerpt: int, patient_id: str) -> dict[str, Any]:
    data = cohort.data
    vt = data["visit"].time.double().numpy()[visits] if len(visits) else np.zeros(0)
    mods = []
    for m, part in rec[~rec["node_type"].map(is_concept_type)].groupby("node_type", sort=True):
        nodes = part["node"].to_numpy()
        if "missing" in data[m]:
            real = ~data[m].missing[torch.from_numpy(nodes.astype(np.int64))].numpy()
            part = part[real]
        if len(part):
            dates = sorted({d for d in map(days_to_date, part["time"]) if d})
            mods.append({"modality": m, "observations": int(part["node"].nunique()),
                         "dates": dates, "summary_only": False})
    seen = {m["modality"] for m in mods}
    p = data["patient"]
    for key in sorted(k for k in p.keys() if k.startswith("mask_")):
        m = key[5:]
        if m not in seen and bool(p[key][row]):
            mods.append({"modality": m, "observations": None, "dates": [],
                         "summary_only": True})
    codes, hidden = _codes(cohort, rec, names, max_codes)
    out: dict[str, Any] = {
        "visits": {"count": int(len(visits)),
                   "first": days_to_date(vt.min()) if len(vt) else None,
                   "last": days_to_date(vt.max()) if len(vt) else None},
        "modalities": mods, "codes": codes, "codes_not_shown": hidden}
    if note_excerpt > 0 and notes is not None:
        mine = notes[notes["patient_id"].astype(str) == patient_id].sort_values("time")
        if len(mine):
            last = mine.iloc[-1]
            text = str(last.get("text", "") or "")
            cut = text[:note_excerpt] + ("..." if len(text) > note_excerpt else "")
            out["note_excerpt"] = {"category": str(last.get("category", "")),
                                   "date": str(pd.Timestamp(last["time"]).date())
                                   if pd.notna(last["time"]) else None, "excerpt": cut}
    return out


def _step_node(cohort: CohortGraph, t: str, r: int, visits: np.ndarray,
               names: dict[str, str]) -> dict[str, Any]:
    if t == "visit":
        k = int(np.flatnonzero(visits == r)[0]) + 1
        return {"type": "visit", "id": None, "visit_number": k,
                "date": days_to_date(float(cohort.data["visit"].time[r]))}
    cid = cohort.ids(t, [r])[0]
    return {"type": t, "id": cid, "name": names.get(cid, cid)}


def _path_json(cohort: CohortGraph, steps: list[Step], visits: np.ndarray,
               names: dict[str, str]) -> dict[str, Any]:
    return {"text": render_path(steps, cohort, names), "hops": len(steps),
            "steps": [{"source": _step_node(cohort, s.src_type, s.src, visits, names),
                       "relation": s.relation,
                       "target": _step_node(cohort, s.dst_type, s.dst, visits, names),
                       "walked": "forward" if s.forward else "backward"} for s in steps]}


def _evidence(paths: list[list[Step]]) -> str:
    if not paths:
        return "no supporting path within the hop limit"
    first = paths[0]
    if len(first) == 1:
        return "recorded"
    if all(s.relation == "is_a" and s.forward for s in first[1:]):
        return "recorded (more specific code)"
    return "related through the knowledge graph"


def _impression(cohort, patient_id, comorbidity, finder, visits, names, top_k, max_paths,
                max_hops, similar_k, embeddings) -> dict[str, Any]:
    out: dict[str, Any] = {"predictions": []}
    probs = comorbidity.row(cohort, patient_id) if comorbidity is not None else None
    if probs is None:
        out["status"] = ("no comorbidity predictions given" if comorbidity is None
                         else "no comorbidity prediction for this patient")
    else:
        for c in torch.argsort(-probs, stable=True)[:top_k].tolist():
            target = comorbidity.label_ids[c]
            paths = finder.patient_paths(patient_id, target, max_hops, max_paths)
            out["predictions"].append({
                "concept": target, "name": comorbidity.name(c, names),
                "probability": round(float(probs[c]), 4), "evidence": _evidence(paths),
                "paths": [_path_json(cohort, p, visits, names) for p in paths]})
    if similar_k > 0:
        table = similar_patients(cohort, patient_id, similar_k, embeddings, names)
        out["similar_cases"] = [
            {"case": f"case {i + 1}", "similarity": round(float(r.similarity), 4),
             "source": r.source, "shared": r.shared_labels, "only_this_patient":
             r.only_query_labels, "only_similar_case": r.only_other_labels}
            for i, r in enumerate(table.itertuples(index=False))]
    return out


def _ddi_pairs(cohort: CohortGraph, ddi: pd.DataFrame | None, drugs: set[str]
               ) -> dict[frozenset, dict[str, Any]]:
    """Interactions among ``drugs``: from the DDI table, else the graph's interacts_with."""
    if ddi is None:
        et = ("drug", "interacts_with", "drug")
        if et not in cohort.data.edge_types:
            return {}
        ei = cohort.data[et].edge_index
        attr = cohort.data[et].edge_attr if "edge_attr" in cohort.data[et] else None
        ddi = pd.DataFrame({"drug_a": cohort.ids("drug", ei[0].numpy()),
                            "drug_b": cohort.ids("drug", ei[1].numpy()),
                            # the builder stores unknown severities as 0
                            "severity": np.where(attr[:, 2].numpy() > 0, attr[:, 2].numpy(),
                                                 np.nan) if attr is not None else np.nan,
                            "description": "knowledge-graph interacts_with relation"})
    missing = [c for c in ("drug_a", "drug_b") if c not in ddi.columns]
    if missing:
        raise SchemaError(f"DDI table lacks columns {missing}; expected drug_a, drug_b, "
                          "severity, description")
    a, b = ddi["drug_a"].astype(str), ddi["drug_b"].astype(str)
    hit = ddi[(a.isin(list(drugs)) & b.isin(list(drugs))).to_numpy()]
    out = {}
    for row in hit.itertuples(index=False):
        pair = frozenset((str(row.drug_a), str(row.drug_b)))
        out.setdefault(pair, {"severity": _severity(getattr(row, "severity", None)),
                              "description": str(getattr(row, "description", "") or "")})
    return out


def _severity(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, (int, float, np.floating)):
        word = min(SEVERITY_SCALE, key=lambda k: abs(SEVERITY_SCALE[k] - float(value)))
        return f"{word} ({float(value):.2f})"
    return str(value)


def _recommendation(cohort, patient_id, treatment, rec, visits, ddi, names, top_k
                    ) -> dict[str, Any]:
    drugs = rec[(rec["node_type"] == "drug") & (rec["visit"] >= 0)]
    if len(drugs):  # current = drugs of the latest visit that recorded any
        last = visits[np.flatnonzero(np.isin(visits, drugs["visit"]))[-1]]
        drugs = drugs[drugs["visit"] == last]
    current = sorted(set(cohort.ids("drug", drugs["node"].to_numpy())))
    probs = treatment.row(cohort, patient_id) if treatment is not None else None
    chosen = [] if probs is None else torch.argsort(-probs, stable=True)[:top_k].tolist()
    recommended = [treatment.label_ids[c] for c in chosen]
    pairs = _ddi_pairs(cohort, ddi, set(current) | set(recommended))
    out: dict[str, Any] = {
        "current_medications": [{"drug": d, "name": names.get(d, d)} for d in current],
        "current_interactions": [
            {"drug_a": x, "drug_b": y, **pairs[frozenset((x, y))]}
            for i, x in enumerate(current) for y in current[i + 1:]
            if frozenset((x, y)) in pairs],
        "predictions": []}
    if probs is None:
        out["status"] = ("no treatment predictions given" if treatment is None
                         else "no treatment prediction for this patient")
    for c, drug in zip(chosen, recommended, strict=True):
        partners = dict.fromkeys(o for o in recommended if o != drug)
        partners.update((o, None) for o in current if o != drug and o not in partners)
        hits = [{"with": o, "with_name": names.get(o, o),
                 "role": "recommended" if o in recommended else "current",
                 **pairs[frozenset((drug, o))]}
                for o in partners if frozenset((drug, o)) in pairs]
        out["predictions"].append({"drug": drug, "name": treatment.name(c, names),
                                   "probability": round(float(probs[c]), 4),
                                   "current": drug in current, "flagged": bool(hits),
                                   "interactions": hits})
    return out


def _comparison(cohort, patient_id, rec, visits, names, comorbidity, previous, impression
                ) -> dict[str, Any]:
    out: dict[str, Any] = {"latest_visit": None, "previous_visit": None, "new": [],
                           "resolved": [], "risk_changes": []}
    times = cohort.data["visit"].time.double().numpy()
    if len(visits):
        out["latest_visit"] = days_to_date(times[visits[-1]])
    if len(visits) < 2:
        out["status"] = "fewer than two visits recorded: nothing to compare"
    else:
        out["previous_visit"] = days_to_date(times[visits[-2]])
        con = rec[rec["node_type"].map(is_concept_type)].copy()
        con["code"] = _ids(cohort, con) if len(con) else []
        last = set(con.loc[con["visit"] == visits[-1], "code"])
        before = set(con.loc[con["visit"] == visits[-2], "code"])
        out["new"] = [{"code": c, "name": names.get(c, c)} for c in sorted(last - before)]
        out["resolved"] = [{"code": c, "name": names.get(c, c)} for c in sorted(before - last)]
        out["resolved_note"] = "codes recorded at the previous visit but not at the latest"
    if previous is not None and comorbidity is not None:
        before = previous.row(cohort, patient_id)
        if before is None:
            out["risk_status"] = "no prediction at the previous cut-off for this patient"
        else:
            pos = {c: i for i, c in enumerate(previous.label_ids)}
            for item in impression["predictions"]:
                if item["concept"] in pos:
                    was = round(float(before[pos[item["concept"]]]), 4)
                    out["risk_changes"].append({
                        "concept": item["concept"], "name": item["name"], "previous": was,
                        "current": item["probability"],
                        "change": round(item["probability"] - was, 4)})
    return out


def build_report(cohort: CohortGraph, patient_id: str, *, comorbidity: Predictions | None = None,
                 treatment: Predictions | None = None, previous: Predictions | None = None,
                 ddi: pd.DataFrame | None = None, labels: Any = None, top_k: int = 5,
                 max_paths: int = 2, max_hops: int = 4, max_codes: int = 25,
                 notes: pd.DataFrame | None = None, note_excerpt: int = 0,
                 similar_k: int = 0, embeddings: Any = None,
                 paths: ConceptPaths | None = None, generated: str | None = None) -> CdssReport:
    """Builds the decision-support report of one patient.

    Args:
        cohort: The cohort graph (the patient's history up to the prediction cut-off).
        patient_id: The patient.
        comorbidity: Comorbidity probabilities (Impression).
        treatment: Treatment probabilities over drug ids (Recommendation).
        previous: Comorbidity probabilities at the previous cut-off (Comparison).
        ddi: Interaction table ``drug_a, drug_b, severity, description``; default: the
            graph's ``(drug, interacts_with, drug)`` edges.
        labels: Concept names (KnowledgeGraph, table or mapping).
        top_k: Predictions shown per section.
        max_paths: Supporting paths per prediction.
        max_hops: Longest KG part of a supporting path.
        max_codes: Recorded codes listed in Findings (most recent first).
        notes: ``records.notes``, only read when ``note_excerpt > 0``.
        note_excerpt: Characters of the latest note to quote (0: none, the default).
        similar_k: Anonymised similar cases to add to the Impression (0: none).
        embeddings: Patient embeddings for similar cases when the graph has no
            ``similar_to`` edges (see :func:`gnn.explain.similar_patients`).
        paths: A prebuilt :class:`ConceptPaths` to reuse across patients.
        generated: Timestamp text (default: now, UTC).

    Returns:
        A :class:`CdssReport`.
    """
    for name, value in (("top_k", top_k), ("max_paths", max_paths), ("max_hops", max_hops),
                        ("max_codes", max_codes)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InputError(f"{name}={value!r}: expected a positive integer")
    if note_excerpt < 0 or similar_k < 0:
        raise InputError("note_excerpt and similar_k must be >= 0")
    if note_excerpt and notes is None:
        raise InputError("note_excerpt > 0 needs the notes table (records.notes)")
    cohort = as_cohort(cohort)
    patient_id = str(patient_id)
    row = patient_row(cohort, patient_id)
    names = label_map(labels)
    visits = patient_visits(cohort, row)
    rec = record_table(cohort, row)
    finder = paths if paths is not None else ConceptPaths(cohort)
    findings = _findings(cohort, row, rec, visits, names, max_codes, notes, note_excerpt,
                         patient_id)
    impression = _impression(cohort, patient_id, comorbidity, finder, visits, names, top_k,
                             max_paths, max_hops, similar_k, embeddings)
    recommendation = _recommendation(cohort, patient_id, treatment, rec, visits, ddi, names,
                                     top_k)
    comparison = _comparison(cohort, patient_id, rec, visits, names, comorbidity, previous,
                             impression)
    stamp = generated or dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    return CdssReport(patient_id, stamp, findings, impression, recommendation, comparison,
                      metadata={"top_k": top_k, "max_paths": max_paths, "max_hops": max_hops})
