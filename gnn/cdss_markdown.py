"""Markdown text of a clinical decision-support report (:class:`gnn.cdss.CdssReport`).

The report's content is assembled by :func:`gnn.cdss.build_report`; this module only
lays it out: one heading per section (Findings, Impression, Recommendation, Comparison),
tables for modalities, codes, recommended drugs and risk changes, interaction warnings as
bullet points, and the disclaimer as footer. Table cells escape pipes and flatten newlines.

Examples:
    >>> from graphs.cohort import CohortBuilder
    >>> from graphs.cohort.demo import tiny_kg, tiny_records
    >>> from gnn.cdss import build_report
    >>> cohort = CohortBuilder(tiny_kg()).build(tiny_records())
    >>> report = build_report(cohort, "p1", generated="2024-01-01T00:00:00+00:00")
    >>> text = render_markdown(report)
    >>> text.splitlines()[0]
    '# Clinical decision support report: patient p1'
    >>> [line for line in text.splitlines() if line.startswith("## ")]
    ['## Findings', '## Impression', '## Recommendation', '## Comparison']
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gnn.cdss import CdssReport

__all__ = ["render_markdown"]


def _cell(value: Any) -> str:
    """Table-cell text: pipes escaped, newlines flattened."""
    return str("" if value is None else value).replace("|", "\\|").replace("\n", " ")


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *("| " + " | ".join(_cell(v) for v in r) + " |" for r in rows), ""]


def render_markdown(r: CdssReport) -> str:
    """The report as Markdown text.

    Args:
        r: The report (:func:`gnn.cdss.build_report`).

    Returns:
        Markdown, ending with the disclaimer in italics and a newline.
    """
    f, i, rec, c = r.findings, r.impression, r.recommendation, r.comparison
    v = f["visits"]
    out = [f"# Clinical decision support report: patient {r.patient_id}", "",
           f"_Generated {r.generated}. {r.disclaimer.split(':')[0]}._", "", "## Findings", "",
           f"{v['count']} visit(s), {v['first'] or '?'} to {v['last'] or '?'}.", ""]
    if f["modalities"]:
        out += _table(["Modality", "Observations", "Dates"],
                      [[m["modality"], "summary only" if m["summary_only"] else m["observations"],
                        ", ".join(m["dates"])] for m in f["modalities"]])
    else:
        out += ["No modality observations recorded.", ""]
    if f["codes"]:
        out += _table(["Code", "Name", "Kind", "First", "Last", "Visits"],
                      [[x["code"], x["name"], x["kind"], x["first_recorded"], x["last_recorded"],
                        x["visits"]] for x in f["codes"]])
        if f["codes_not_shown"]:
            out += [f"_{f['codes_not_shown']} older code(s) not shown._", ""]
    if "note_excerpt" in f:
        n = f["note_excerpt"]
        out += [f"Latest note ({n['category']}, {n['date']}): > {_cell(n['excerpt'])}", ""]
    out += ["## Impression", ""]
    if "status" in i:
        out += [f"_{i['status']}._", ""]
    for k, p in enumerate(i["predictions"], 1):
        out.append(f"{k}. **{p['concept']} {p['name']}**: probability {p['probability']:.2f} "
                   f"({p['evidence']})")
        out += [f"   - {path['text']}" for path in p["paths"]]
    out.append("")
    for case in i.get("similar_cases", []):
        out.append(f"- Similar {case['case']} (similarity {case['similarity']:.2f}): shared "
                   f"{', '.join(case['shared']) or 'none'}; only this patient "
                   f"{', '.join(case['only_this_patient']) or 'none'}; only the similar case "
                   f"{', '.join(case['only_similar_case']) or 'none'}")
    out += ["", "## Recommendation", ""]
    current = ", ".join(f"{d['drug']} {d['name']}" for d in rec["current_medications"])
    out += [f"Current medications (latest visit with any): {current or 'none recorded'}.", ""]
    for x in rec["current_interactions"]:
        out.append(f"- WARNING: current {x['drug_a']} + {x['drug_b']}: {x['description']} "
                   f"(severity {x['severity']})")
    if "status" in rec:
        out += [f"_{rec['status']}._", ""]
    if rec["predictions"]:
        rows = []
        for p in rec["predictions"]:
            flags = "; ".join(f"WARNING interacts with {h['role']} {h['with']} {h['with_name']}"
                              f": {h['description']} (severity {h['severity']})"
                              for h in p["interactions"])
            rows.append([f"{p['drug']} {p['name']}", f"{p['probability']:.2f}",
                         "yes" if p["current"] else "no", flags or "none found"])
        out += _table(["Drug", "Probability", "Current", "Interactions"], rows)
    out += ["## Comparison", ""]
    if "status" in c:
        out += [f"_{c['status']}._", ""]
    else:
        out += [f"Latest visit {c['latest_visit']} versus previous visit {c['previous_visit']}.",
                "", "- New: " + (", ".join(f"{x['code']} {x['name']}" for x in c["new"])
                                 or "none"),
                "- Resolved (not recorded again): " +
                (", ".join(f"{x['code']} {x['name']}" for x in c["resolved"]) or "none"), ""]
    if c["risk_changes"]:
        out += _table(["Concept", "Previous", "Current", "Change"],
                      [[f"{x['concept']} {x['name']}", f"{x['previous']:.2f}",
                        f"{x['current']:.2f}", f"{x['change']:+.2f}"] for x in c["risk_changes"]])
    out += ["---", "", f"*{r.disclaimer}*", ""]
    return "\n".join(out)
