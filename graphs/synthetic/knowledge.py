"""The synthetic cohort's medical knowledge as KG tables (concepts + relations).

This is the knowledge the generator *planted*, in the project's table format, so a
knowledge graph built from it (alone, or merged with the full ICD-10-CM reader) carries
exactly the structure that makes it useful on this cohort:

============================ =============================================================
``is_a``                     ICD-10-CM parent of every catalogue code up to its group
``treats``                   drug -> condition group (probability = prescribing rate)
``interacts_with``           drug -> drug, with ``severity`` (one row per unordered pair)
``increases_risk_of``        condition group (or drug) -> condition group, ``log_odds``
``has_causal_gene``          hereditary condition -> HGNC gene
============================ =============================================================

Examples:
    >>> kg = knowledge_tables()
    >>> kg.validate() is kg
    True
    >>> r = kg.relations
    >>> r[(r.source == "ICD10CM:E11") & (r.relation == "increases_risk_of")].target.tolist()
    ['ICD10CM:N18', 'ICD10CM:I25']
    >>> r[(r.source == "ICD10CM:E11.319") & (r.relation == "is_a")].target.item()
    'ICD10CM:E11.31'
"""

from __future__ import annotations

import pandas as pd

from graphs.synthetic.catalog import CONDITIONS, NODE_LABELS, parent
from graphs.synthetic.disease import RISK_FACTORS
from graphs.synthetic.drugs import (
    BLEEDING_RISK,
    DDI,
    DDI_SOURCE,
    DRUGS,
    TREATMENTS,
)
from ontologies.schema import CodeSystemTables, make_concepts, make_relations

__all__ = ["knowledge_tables", "GENES", "PROVENANCE"]

PROVENANCE = "medkg synthetic catalogue (illustrative, not clinical advice)"
_ICD_PROVENANCE = "ICD-10-CM FY2026 tabular list"
#: Causal genes of the hereditary conditions (HGNC ids).
GENES: dict[str, tuple[str, str]] = {"fh": ("HGNC:6547", "LDLR"), "cf": ("HGNC:1884", "CFTR"),
                                     "hh": ("HGNC:4886", "HFE")}


def knowledge_tables() -> CodeSystemTables:
    """Concepts and relations of the planted knowledge (see module docstring).

    Returns:
        A :class:`~ontologies.schema.CodeSystemTables` named ``"synthetic"``.
    """
    groups = {c.group for c in CONDITIONS.values()}
    blocks = {c.group for c in CONDITIONS.values() if "-" in c.group}
    ids = list(NODE_LABELS)
    concepts = [make_concepts(ids, [NODE_LABELS[i] for i in ids],
                              ["category" if i in blocks else "disease" for i in ids],
                              is_group=[i in groups for i in ids])]
    concepts.append(make_concepts([d.curie for d in DRUGS.values()],
                                  [d.name for d in DRUGS.values()], "drug",
                                  drug_class=[d.drug_class for d in DRUGS.values()]))
    concepts.append(make_concepts([g for g, _ in GENES.values()],
                                  [n for _, n in GENES.values()], "gene"))

    child = [i for i in ids if parent(i) in NODE_LABELS]
    rel = [make_relations(child, "is_a", [parent(i) for i in child],
                          provenance=_ICD_PROVENANCE)]
    treats: dict[tuple[str, str], float] = {}
    for key, lines in TREATMENTS.items():
        for line in lines:
            for option, w in zip(line.options, line.weights, strict=True):
                pair = (DRUGS[option].curie, CONDITIONS[key].group)
                share = line.prob * w / sum(line.weights)
                treats[pair] = max(treats.get(pair, 0.0), share)
    rel.append(make_relations([a for a, _ in treats], "treats", [b for _, b in treats],
                              probability=list(treats.values()), provenance=PROVENANCE))
    rel.append(make_relations([DRUGS[a].curie for a, *_ in DDI], "interacts_with",
                              [DRUGS[b].curie for _, b, *_ in DDI],
                              severity=[s for *_, s, _ in DDI], provenance=DDI_SOURCE,
                              description=[d for *_, d in DDI]))
    risk_src = [CONDITIONS[s].group for s, _, _ in RISK_FACTORS]
    risk_src += [DRUGS[d].curie for d in BLEEDING_RISK]
    risk_dst = [CONDITIONS[t].group for _, t, _ in RISK_FACTORS]
    risk_dst += [CONDITIONS["gi_bleed"].group] * len(BLEEDING_RISK)
    log_odds = [e for *_, e in RISK_FACTORS] + list(BLEEDING_RISK.values())
    rel.append(make_relations(risk_src, "increases_risk_of", risk_dst, provenance=PROVENANCE,
                              log_odds=log_odds))
    rel.append(make_relations([CONDITIONS[k].group for k in GENES], "has_causal_gene",
                              [g for g, _ in GENES.values()], provenance=PROVENANCE))
    concepts_df = pd.concat(concepts, ignore_index=True)
    relations_df = pd.concat(rel, ignore_index=True)
    return CodeSystemTables("synthetic", concepts_df, relations_df, {
        "version": "1", "source": "graphs.synthetic", "licence": "Apache-2.0 (generated)",
        "attribution": "ICD-10-CM titles: US CDC/NCHS, public domain; RxNorm ingredient "
                       "ids: US NLM; relations: " + PROVENANCE})
