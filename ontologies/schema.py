"""The common table representation every code-system reader returns.

A reader returns a :class:`CodeSystemTables`: a **concepts** table and a **relations**
table (pandas), plus metadata (version, source files, licence/attribution).

Concepts columns (in this order, then any extra attribute columns the reader adds):

=============== ======== ===========================================================
id              string   CURIE, e.g. ``ICD10CM:E11.9``; unique
code            string   the code inside its system, e.g. ``E11.9``
label           string   preferred human-readable name
semantic_type   string   one of :data:`SEMANTIC_TYPES`
system          string   code-system prefix, e.g. ``ICD10CM``
=============== ======== ===========================================================

Relations columns (then any extra attribute columns):

=============== ======== ===========================================================
source          string   CURIE of the subject
relation        string   snake_case predicate, e.g. ``is_a``, ``excludes1``, ``maps_to``
target          string   CURIE of the object
probability     float    P(target | source) where known, else NaN
frequency       float    fraction of sources showing the target (0..1), else NaN
severity        float    0..1 (mild 0.25, moderate 0.5, severe 0.75, profound 1.0), else NaN
provenance      string   source vocabulary/file the edge came from
=============== ======== ===========================================================

Examples:
    >>> c = make_concepts(["ICD10CM:E11"], ["Type 2 diabetes mellitus"], "disease")
    >>> list(c.columns)
    ['id', 'code', 'label', 'semantic_type', 'system']
    >>> c.loc[0, "code"], c.loc[0, "system"]
    ('E11', 'ICD10CM')
    >>> r = make_relations(["ICD10CM:E11"], "is_a", ["ICD10CM:E08-E13"], provenance="demo")
    >>> r.loc[0, ["relation", "provenance"]].tolist()
    ['is_a', 'demo']
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ontologies.errors import DuplicateIdError, SchemaError

__all__ = [
    "CONCEPT_COLUMNS",
    "RELATION_COLUMNS",
    "RELATION_ATTRIBUTES",
    "SEMANTIC_TYPES",
    "SEVERITY_SCALE",
    "CodeSystemTables",
    "make_concepts",
    "make_relations",
    "validate_concepts",
    "validate_relations",
    "split_curie",
]

CONCEPT_COLUMNS = ["id", "code", "label", "semantic_type", "system"]
RELATION_COLUMNS = ["source", "relation", "target", "probability", "frequency", "severity",
                    "provenance"]
RELATION_ATTRIBUTES = ["probability", "frequency", "severity"]

#: Node types of the knowledge graph. ``category`` is a grouping node (ICD chapter or
#: block, CCSR group, ATC level); ``other`` holds SNOMED hierarchies outside the rest.
SEMANTIC_TYPES = (
    "disease", "phenotype", "procedure", "drug", "gene", "category",
    "anatomy", "organism", "substance", "other",
)

#: Ordinal severity words mapped onto the numeric ``severity`` column.
SEVERITY_SCALE = {"mild": 0.25, "moderate": 0.5, "severe": 0.75, "profound": 1.0}

# \Z, not $: "$" also matches before a trailing newline, which would let "is_a\n" pass
_CURIE = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]*:\S+\Z")
_RELATION = re.compile(r"^[a-z][a-z0-9_]*\Z")


def split_curie(curie: str) -> tuple[str, str]:
    """Splits ``'ICD10CM:E11.9'`` into ``('ICD10CM', 'E11.9')``.

    Examples:
        >>> split_curie("HP:0001250")
        ('HP', '0001250')
    """
    if not isinstance(curie, str) or not _CURIE.match(curie):
        raise SchemaError(f"bad CURIE {curie!r}: expected PREFIX:local such as 'ICD10CM:E11.9'")
    prefix, _, local = curie.partition(":")
    return prefix, local


def make_concepts(
    ids: Sequence[str] | pd.Series,
    labels: Sequence[str] | pd.Series,
    semantic_type: str | Sequence[str] | pd.Series,
    **extra: Any,
) -> pd.DataFrame:
    """Builds a concepts table; ``code`` and ``system`` are derived from the CURIEs.

    Args:
        ids: CURIEs.
        labels: Preferred names, aligned with ``ids``.
        semantic_type: One type for all rows or one per row.
        **extra: Extra attribute columns (scalars or aligned sequences).

    Returns:
        A concepts table with :data:`CONCEPT_COLUMNS` first.
    """
    ids = pd.Series(ids, dtype="string").reset_index(drop=True)
    parts = ids.str.split(":", n=1, expand=True)
    if len(ids) and parts.shape[1] < 2:
        raise SchemaError(f"bad CURIE {ids.iloc[0]!r}: expected PREFIX:local")
    df = pd.DataFrame({
        "id": ids,
        "code": parts[1] if len(ids) else pd.Series([], dtype="string"),
        "label": pd.Series(labels, dtype="string").reset_index(drop=True),
        "semantic_type": _broadcast(semantic_type, len(ids)),
        "system": parts[0] if len(ids) else pd.Series([], dtype="string"),
    })
    for name, value in extra.items():
        df[name] = _broadcast(value, len(ids), dtype=None)
    return df.astype({c: "string" for c in CONCEPT_COLUMNS})


def make_relations(
    sources: Sequence[str] | pd.Series,
    relation: str | Sequence[str] | pd.Series,
    targets: Sequence[str] | pd.Series,
    *,
    probability: float | Sequence[float] | None = None,
    frequency: float | Sequence[float] | None = None,
    severity: float | Sequence[float] | None = None,
    provenance: str | Sequence[str] | None = None,
    **extra: Any,
) -> pd.DataFrame:
    """Builds a relations table with :data:`RELATION_COLUMNS` first.

    Args:
        sources: Subject CURIEs.
        relation: One predicate for all rows or one per row.
        targets: Object CURIEs, aligned with ``sources``.
        probability: Optional P(target | source).
        frequency: Optional frequency in [0, 1].
        severity: Optional severity in [0, 1].
        provenance: Source vocabulary or file.
        **extra: Extra attribute columns.

    Returns:
        A relations table.
    """
    sources = pd.Series(sources, dtype="string").reset_index(drop=True)
    n = len(sources)
    df = pd.DataFrame({
        "source": sources,
        "relation": _broadcast(relation, n),
        "target": pd.Series(targets, dtype="string").reset_index(drop=True),
        "probability": _broadcast(np.nan if probability is None else probability, n, "float64"),
        "frequency": _broadcast(np.nan if frequency is None else frequency, n, "float64"),
        "severity": _broadcast(np.nan if severity is None else severity, n, "float64"),
        "provenance": _broadcast(provenance, n),
    })
    if len(df["target"]) != n:
        raise SchemaError(f"sources ({n}) and targets ({len(df['target'])}) differ in length")
    for name, value in extra.items():
        df[name] = _broadcast(value, n, dtype=None)
    return df


def _broadcast(value: Any, n: int, dtype: str | None = "string") -> pd.Series:
    if isinstance(value, (str, float, int, bool, np.floating, np.integer)) or value is None:
        s = pd.Series([value] * n)
    else:
        s = pd.Series(value).reset_index(drop=True)
        if len(s) != n:
            raise SchemaError(f"attribute has {len(s)} values, expected {n} (one per row)")
    return s.astype(dtype) if dtype else s


def validate_concepts(concepts: pd.DataFrame, name: str = "concepts") -> pd.DataFrame:
    """Checks a concepts table; raises :class:`SchemaError` naming the offending value.

    Examples:
        >>> bad = make_concepts(["ICD10CM:E11", "ICD10CM:E11"], ["a", "b"], "disease")
        >>> validate_concepts(bad)
        Traceback (most recent call last):
        ...
        ontologies.errors.DuplicateIdError: concepts: duplicate id 'ICD10CM:E11' (rows 0, 1); ids must be unique
    """
    missing = [c for c in CONCEPT_COLUMNS if c not in concepts.columns]
    if missing:
        raise SchemaError(f"{name}: missing columns {missing}; expected {CONCEPT_COLUMNS}")
    ids = concepts["id"]
    if ids.isna().any():
        row = int(np.flatnonzero(ids.isna().to_numpy())[0])
        raise SchemaError(f"{name}: empty id at row {row}")
    dup = ids.duplicated(keep=False)
    if dup.any():
        rows = np.flatnonzero(dup.to_numpy())
        first = ids.iloc[rows[0]]
        same = rows[ids.iloc[rows].to_numpy() == first][:5]
        raise DuplicateIdError(
            f"{name}: duplicate id {first!r} (rows {', '.join(map(str, same))}); ids must be unique")
    bad_curie = ~ids.astype(str).str.match(_CURIE.pattern)
    if bad_curie.any():
        row = int(np.flatnonzero(bad_curie.to_numpy())[0])
        raise SchemaError(f"{name}: bad id {ids.iloc[row]!r} at row {row}: expected a CURIE")
    bad_type = ~concepts["semantic_type"].isin(SEMANTIC_TYPES)
    if bad_type.any():
        row = int(np.flatnonzero(bad_type.to_numpy())[0])
        raise SchemaError(
            f"{name}: semantic_type {concepts['semantic_type'].iloc[row]!r} at row {row} "
            f"(id {ids.iloc[row]!r}); expected one of {', '.join(SEMANTIC_TYPES)}")
    return concepts


def validate_relations(relations: pd.DataFrame, name: str = "relations") -> pd.DataFrame:
    """Checks a relations table's columns, predicates and attribute ranges.

    Examples:
        >>> r = make_relations(["A:1"], "is_a", ["A:2"], frequency=1.5)
        >>> validate_relations(r)
        Traceback (most recent call last):
        ...
        ontologies.errors.SchemaError: relations: frequency 1.5 at row 0 (A:1 is_a A:2) is outside [0, 1]
    """
    missing = [c for c in RELATION_COLUMNS if c not in relations.columns]
    if missing:
        raise SchemaError(f"{name}: missing columns {missing}; expected {RELATION_COLUMNS}")
    for col in ("source", "relation", "target"):
        empty = relations[col].isna()
        if empty.any():
            row = int(np.flatnonzero(empty.to_numpy())[0])
            raise SchemaError(f"{name}: empty {col} at row {row}")
    bad = ~relations["relation"].astype(str).str.match(_RELATION.pattern)
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise SchemaError(f"{name}: relation {relations['relation'].iloc[row]!r} at row {row}: "
                          "expected a snake_case predicate such as 'is_a'")
    for col in RELATION_ATTRIBUTES:
        values = pd.to_numeric(relations[col], errors="coerce").to_numpy(dtype="float64")
        out = ~np.isnan(values) & ((values < 0) | (values > 1))
        if out.any():
            row = int(np.flatnonzero(out)[0])
            r = relations.iloc[row]
            raise SchemaError(f"{name}: {col} {values[row]:g} at row {row} "
                              f"({r['source']} {r['relation']} {r['target']}) is outside [0, 1]")
    return relations


@dataclass
class CodeSystemTables:
    """What a reader returns: concepts, relations and metadata of one code system.

    Attributes:
        name: Registry name of the reader, e.g. ``"icd10cm"``.
        concepts: Concepts table (see module docstring).
        relations: Relations table (see module docstring).
        metadata: Version, source files, licence and attribution.
    """

    name: str
    concepts: pd.DataFrame
    relations: pd.DataFrame
    metadata: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> CodeSystemTables:
        """Validates both tables and returns ``self``."""
        validate_concepts(self.concepts, f"{self.name} concepts")
        validate_relations(self.relations, f"{self.name} relations")
        return self

    def __repr__(self) -> str:
        return (f"CodeSystemTables({self.name!r}, concepts={len(self.concepts)}, "
                f"relations={len(self.relations)})")
