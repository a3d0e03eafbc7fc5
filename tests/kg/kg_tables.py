"""Tiny invented knowledge-graph tables shared by the kg tests (fixtures: conftest.py).

The hierarchy (``is_a`` points child -> parent)::

    ICD10CM:E00-E89 (category)
      ICD10CM:E08-E13 (category)
        ICD10CM:E10
        ICD10CM:E11
          ICD10CM:E11.9
          ICD10CM:E11.65
    ICD10CM:S00-T88 (category)
      ICD10CM:S00.00XA
    ICD9CM:250 (category)
      ICD9CM:250.00

plus ``ICD9CM:250.00 maps_to ICD10CM:E11.9`` (GEM-like), two ``has_phenotype`` rows
``ICD10CM:E11.65 -> HP:0003074`` (different provenance), and two local concepts whose
codes need percent-encoding (``LOCAL:a/b#c``, ``LOCAL:100%``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ontologies.schema import make_concepts, make_relations

IDS = ["ICD10CM:E00-E89", "ICD10CM:E08-E13", "ICD10CM:E10", "ICD10CM:E11",
       "ICD10CM:E11.9", "ICD10CM:E11.65", "ICD10CM:S00-T88", "ICD10CM:S00.00XA",
       "ICD9CM:250", "ICD9CM:250.00", "HP:0003074", "LOCAL:a/b#c", "LOCAL:100%"]
LABELS = ["Endocrine diseases", "Diabetes mellitus", "Type 1 diabetes mellitus",
          "Type 2 diabetes mellitus", "T2DM without complications", "T2DM with hyperglycemia",
          "Injuries", "Unspecified superficial injury of scalp, initial encounter",
          "Diabetes mellitus", "DM2 without complication", "Hyperglycemia",
          'Quoted "label"\nwith a newline \\ and backslash', "Percent é"]
TYPES = ["category", "category", "disease", "disease", "disease", "disease", "category",
         "disease", "category", "disease", "phenotype", "other", "other"]

IS_A = [("ICD10CM:E08-E13", "ICD10CM:E00-E89"), ("ICD10CM:E10", "ICD10CM:E08-E13"),
        ("ICD10CM:E11", "ICD10CM:E08-E13"), ("ICD10CM:E11.9", "ICD10CM:E11"),
        ("ICD10CM:E11.65", "ICD10CM:E11"), ("ICD10CM:S00.00XA", "ICD10CM:S00-T88"),
        ("ICD9CM:250.00", "ICD9CM:250")]


def tiny_concepts() -> pd.DataFrame:
    """Concepts with extra columns of every supported kind, missing values included."""
    n = len(IDS)
    depth = pd.Series([1, 2, 3, 3, 4, 4, 1, 4, 1, 2, None, None, None], dtype="Int64")
    return make_concepts(
        IDS, LABELS, TYPES,
        depth=depth,
        billable=[i % 2 == 0 for i in range(n)],
        weight=[0.5, np.nan, 1e-7, 0.1 + 0.2, np.inf, 2.0, np.nan, -3.25, 1.0, 0.0,
                np.nan, 7.0, 1e300],
        note=pd.Series(["chapter", None, None, "common", None, None, None, "7th char A",
                        None, "GEM source", None, "local", None], dtype="string"),
    )


def tiny_relations() -> pd.DataFrame:
    """is_a hierarchy, a maps_to, duplicate has_phenotype rows and an extra column."""
    hierarchy = make_relations([s for s, _ in IS_A], "is_a", [t for _, t in IS_A],
                               provenance="icd")
    other = make_relations(
        ["ICD9CM:250.00", "ICD10CM:E11.65", "ICD10CM:E11.65", "LOCAL:a/b#c"],
        ["maps_to", "has_phenotype", "has_phenotype", "related_to"],
        ["ICD10CM:E11.9", "HP:0003074", "HP:0003074", "LOCAL:100%"],
        probability=[1.0, 0.3, np.nan, np.nan],
        frequency=[np.nan, 0.8, 0.75, np.nan],
        severity=[np.nan, 0.5, np.nan, np.nan],
        provenance=["gem", "hpo", "curated", None],
    )
    other["evidence"] = pd.Series([None, "PMID:1", None, "made up"], dtype="string")
    return pd.concat([hierarchy.assign(evidence=pd.Series(dtype="string")), other],
                     ignore_index=True).astype({"evidence": "string"})
