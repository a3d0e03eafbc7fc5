"""Builds one knowledge graph from several code systems and their cross-maps.

:func:`build_kg` (also ``KnowledgeGraph.from_ontologies``) concatenates the concepts and
relations of the given code systems, then adds cross-vocabulary mapping tables (GEM
ICD-9-CM -> ICD-10-CM, the SNOMED CT -> ICD-10 map, OBO xrefs, ...):

* ``link="edges"`` (default) keeps every vocabulary intact: each mapping row becomes a
  relation (usually ``maps_to``) between two concepts. Nothing is lost and queries can
  still tell an ICD-9 code from its ICD-10 counterpart.
* ``link="merge"`` collapses a mapped source concept into its target, but **only for
  exact one-to-one maps**: the source has exactly one mapping (of ``merge_relations``)
  and the target receives exactly one, the row is not marked approximate (an
  ``approximate`` column that is true, an ``exact`` column that is false, or a
  ``probability`` below 1 disqualify it), and neither end takes part in another merge
  as the other role (chains and cycles stay edges). One-to-many, many-to-one and
  approximate maps would merge concepts that are not the same thing, so they stay
  ``maps_to`` edges. A merged target keeps its own attributes and lists the absorbed
  ids in a ``merged_ids`` column (``|``-separated); every relation of the source is
  re-pointed to the target; relations that become self-loops or exact duplicates
  are dropped (logged).

Concepts occurring in several inputs under the same id keep the first row, with its
missing attributes filled from later rows (logged). Mapping rows whose source or target
is not a loaded concept are expected (a GEM covers codes of every version) and dropped
by default (logged, counted in the metadata).

Examples:
    >>> from ontologies.schema import CodeSystemTables, make_concepts, make_relations
    >>> icd9 = CodeSystemTables("icd9cm", make_concepts(
    ...     ["ICD9CM:250.00", "ICD9CM:401.9"], ["DM2", "HTN"], "disease"),
    ...     make_relations([], "is_a", []))
    >>> icd10 = CodeSystemTables("icd10cm", make_concepts(
    ...     ["ICD10CM:E11.9", "ICD10CM:I10"], ["T2DM", "Hypertension"], "disease"),
    ...     make_relations([], "is_a", []))
    >>> gem = make_relations(["ICD9CM:250.00", "ICD9CM:401.9", "ICD9CM:999.9"], "maps_to",
    ...                      ["ICD10CM:E11.9", "ICD10CM:I10", "ICD10CM:T88.9"])
    >>> kg = build_kg(icd9, icd10, crossmaps=[gem])
    >>> len(kg), kg.n_relations
    (4, 2)
    >>> merged = build_kg(icd9, icd10, crossmaps=[gem], link="merge")
    >>> merged.concepts[["id", "merged_ids"]].values.tolist()
    [['ICD10CM:E11.9', 'ICD9CM:250.00'], ['ICD10CM:I10', 'ICD9CM:401.9']]
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from kg.graph import DANGLING_POLICIES, KnowledgeGraph
from kg.tables import combine_concepts, concat_frames, normalise_concepts, normalise_relations
from ontologies.errors import ConfigError, SchemaError, UnknownCodeError
from ontologies.schema import CodeSystemTables, validate_concepts, validate_relations

__all__ = ["build_kg", "merge_exact_maps", "exact_one_to_one", "LINKS", "MERGED_IDS"]

logger = logging.getLogger(__name__)

#: How cross-maps join vocabularies.
LINKS = ("edges", "merge")
#: Column listing the ids absorbed into a concept by ``link="merge"``.
MERGED_IDS = "merged_ids"
_SEP = "|"

_TRUE = {"true", "1", "yes", "y", "t"}


def _flag(series: pd.Series, value: bool) -> np.ndarray:
    """Rows whose flag column equals ``value`` (missing never matches)."""
    text = series.astype("string").str.strip().str.lower()
    truthy = text.isin(_TRUE).to_numpy(dtype=bool)
    present = series.notna().to_numpy(dtype=bool)
    return present & (truthy if value else ~truthy)


def exact_one_to_one(maps: pd.DataFrame,
                     merge_relations: Sequence[str] = ("maps_to",)) -> np.ndarray:
    """Boolean mask of the mapping rows :func:`build_kg` may merge (see module docstring).

    Examples:
        >>> from ontologies.schema import make_relations
        >>> m = make_relations(["A:1", "A:2", "A:2", "A:3", "A:4"], "maps_to",
        ...                    ["B:1", "B:2", "B:3", "B:4", "B:5"],
        ...                    approximate=[False, False, False, True, False])
        >>> exact_one_to_one(m).tolist()   # A:2 maps twice; A:3 is approximate
        [True, False, False, False, True]
    """
    rel = maps["relation"].isin(list(merge_relations)).to_numpy(dtype=bool)
    exact = rel & (maps["source"] != maps["target"]).to_numpy(dtype=bool)
    if "approximate" in maps.columns:
        exact &= ~_flag(maps["approximate"], True)
    if "exact" in maps.columns:
        exact &= ~_flag(maps["exact"], False)
    prob = maps["probability"].to_numpy(dtype="float64")
    exact &= np.isnan(prob) | (prob >= 1.0)
    # One-to-one over all candidate rows, exact or not: a source with one exact and one
    # approximate target is still ambiguous.
    pairs = maps.loc[rel, ["source", "target"]].drop_duplicates()
    out_deg = pairs["source"].value_counts()
    in_deg = pairs["target"].value_counts()
    exact &= (maps["source"].map(out_deg).fillna(0).to_numpy() == 1)
    exact &= (maps["target"].map(in_deg).fillna(0).to_numpy() == 1)
    # No chains/cycles: a concept absorbed into another cannot absorb one itself.
    sources = set(maps.loc[exact, "source"].tolist())
    exact &= ~maps["target"].isin(sources).to_numpy(dtype=bool)
    return exact


def merge_exact_maps(concepts: pd.DataFrame, relations: list[pd.DataFrame],
                     merge: pd.DataFrame) -> tuple[pd.DataFrame, list[pd.DataFrame]]:
    """Collapses each ``merge.source`` into ``merge.target`` (1:1 rows only).

    Args:
        concepts: Concepts table.
        relations: Relation tables to re-point (each handled separately).
        merge: ``source``/``target`` rows to collapse (sources unique).

    Returns:
        Concepts without the sources and with ``merged_ids``; the re-pointed tables
        without self-loops and exact duplicates.
    """
    mapping = pd.Series(merge["target"].to_numpy(), index=pd.Index(merge["source"]))
    absorbed = merge.groupby("target", sort=False)["source"].agg(_SEP.join)
    concepts = concepts.loc[~concepts["id"].isin(mapping.index)].reset_index(drop=True)
    new_ids = concepts["id"].map(absorbed).astype("string")
    if MERGED_IDS in concepts.columns:  # an input was merged before: extend its list
        old = concepts[MERGED_IDS].astype("string")
        new_ids = (old + _SEP + new_ids).fillna(old).fillna(new_ids)
    concepts[MERGED_IDS] = new_ids
    out, n_loops, n_dups = [], 0, 0
    for rel in relations:
        rel = rel.copy(deep=False)
        for col in ("source", "target"):
            rel[col] = rel[col].map(mapping).astype("string").fillna(rel[col])
        loops = (rel["source"] == rel["target"]).to_numpy(dtype=bool)
        n = len(rel) - int(loops.sum())
        rel = rel.loc[~loops].drop_duplicates(ignore_index=True)
        n_loops, n_dups = n_loops + int(loops.sum()), n_dups + n - len(rel)
        out.append(rel)
    logger.info("merged %d concept(s) into their 1:1 targets; dropped %d self-loop(s) and "
                "%d duplicate relation(s) created by re-pointing", len(mapping), n_loops,
                n_dups)
    return concepts, out


def _as_tables(obj: Any, i: int) -> CodeSystemTables:
    if isinstance(obj, CodeSystemTables):
        return obj
    if isinstance(obj, KnowledgeGraph):
        return CodeSystemTables(f"graph{i}", obj.concepts, obj.relations, obj.metadata)
    raise SchemaError(f"build_kg: input {i} is a {type(obj).__name__}; expected "
                      "CodeSystemTables (from ontologies.load) or KnowledgeGraph")


def _crossmap(obj: Any, i: int) -> tuple[str, pd.DataFrame, pd.DataFrame | None, dict]:
    if isinstance(obj, CodeSystemTables):
        rel = normalise_relations(obj.relations, f"{obj.name} crossmap")
        rel["provenance"] = rel["provenance"].fillna(obj.name)
        concepts = obj.concepts if len(obj.concepts) else None
        return obj.name, rel, concepts, obj.metadata
    if isinstance(obj, pd.DataFrame):
        return f"crossmap{i}", normalise_relations(obj, f"crossmap {i}"), None, {}
    raise SchemaError(f"build_kg: crossmap {i} is a {type(obj).__name__}; expected a "
                      "relations DataFrame or CodeSystemTables")


def build_kg(*tables: CodeSystemTables | KnowledgeGraph,
             crossmaps: Sequence[CodeSystemTables | pd.DataFrame] = (),
             link: str = "edges",
             relations: Sequence[pd.DataFrame] = (),
             metadata: dict[str, Any] | None = None,
             on_dangling: str = "raise",
             crossmap_dangling: str = "drop",
             merge_relations: Sequence[str] = ("maps_to",)) -> KnowledgeGraph:
    """One knowledge graph from code systems, cross-maps and extra relations.

    Args:
        *tables: Code systems (``ontologies.load(...)`` results) or graphs.
        crossmaps: Mapping tables: relations DataFrames, or CodeSystemTables whose
            relations are the maps (their concepts, if any, are added too).
        link: ``"edges"`` (maps become relations) or ``"merge"`` (exact 1:1 maps collapse
            concepts; see the module docstring).
        relations: Extra relation tables (e.g. curated comorbidity edges).
        metadata: Extra metadata, merged over the generated ``sources``/``crossmaps``.
        on_dangling: Policy for the code systems' own and the extra relations.
        crossmap_dangling: Policy for mapping rows with an unknown end (``"drop"``).
        merge_relations: Relations that ``link="merge"`` may collapse.

    Returns:
        The graph; ``metadata["sources"]`` holds each input's metadata.

    Raises:
        ConfigError: Bad ``link`` or policy.
        SchemaError: An input table is malformed (the message names the input).
        UnknownCodeError: A relation (or, with ``crossmap_dangling="raise"``, a mapping
            row) points at a concept that is not loaded.
    """
    if link not in LINKS:
        raise ConfigError(f"link={link!r}: expected one of {', '.join(LINKS)}")
    for name, policy in (("on_dangling", on_dangling), ("crossmap_dangling", crossmap_dangling)):
        if policy not in DANGLING_POLICIES:
            raise ConfigError(f"{name}={policy!r}: expected one of {', '.join(DANGLING_POLICIES)}")
    inputs = [_as_tables(t, i) for i, t in enumerate(tables)]
    if not inputs:
        raise ConfigError("build_kg: expected at least one code system")
    maps = [_crossmap(m, i) for i, m in enumerate(crossmaps)]

    concept_frames, relation_frames = [], []
    for t in inputs:
        concept_frames.append(normalise_concepts(validate_concepts(t.concepts,
                                                                   f"{t.name} concepts")))
        relation_frames.append(normalise_relations(t.relations, f"{t.name} relations"))
        validate_relations(relation_frames[-1], f"{t.name} relations")
    for name, _, extra, _ in maps:
        if extra is not None:
            concept_frames.append(normalise_concepts(validate_concepts(extra,
                                                                       f"{name} concepts")))
    for i, r in enumerate(relations):
        relation_frames.append(validate_relations(normalise_relations(r, f"relations {i}"),
                                                  f"relations {i}"))
    concepts = combine_concepts(concat_frames(concept_frames), "build_kg inputs")
    own = concat_frames(relation_frames)

    ids = pd.Index(concepts["id"])
    summary, kept = [], []
    for name, rel, _, _ in maps:
        validate_relations(rel, f"{name} crossmap")
        unknown = ~(rel["source"].isin(ids) & rel["target"].isin(ids)).to_numpy(dtype=bool)
        if unknown.any() and crossmap_dangling == "raise":
            row = int(np.flatnonzero(unknown)[0])
            end = "source" if rel["source"].iloc[row] not in ids else "target"
            raise UnknownCodeError(
                rel[end].iloc[row],
                f"a loaded concept ({name} crossmap row {row} {end}, "
                f"{int(unknown.sum())} such row(s); crossmap_dangling='drop' drops them)")
        if unknown.any() and crossmap_dangling == "drop":
            logger.info("%s: dropped %d mapping row(s) with an end outside the loaded "
                        "concepts", name, int(unknown.sum()))
            rel = rel.loc[~unknown].reset_index(drop=True)
        summary.append({"name": name, "rows": len(rel),
                        "dropped_dangling": int(unknown.sum())
                        if crossmap_dangling == "drop" else 0})
        kept.append(rel)
    all_maps = concat_frames(kept) if kept else None

    n_merged = 0
    if link == "merge" and all_maps is not None and len(all_maps):
        exact = exact_one_to_one(all_maps, merge_relations)
        n_merged = int(exact.sum())
        if n_merged:
            merge = all_maps.loc[exact, ["source", "target"]]
            concepts, (own, all_maps) = merge_exact_maps(
                concepts, [own, all_maps.loc[~exact]], merge)
    meta: dict[str, Any] = {
        "sources": {t.name: t.metadata for t in inputs},
        "crossmaps": [dict(s, **({"metadata": m[3]} if m[3] else {}))
                      for s, m in zip(summary, maps)],
        "link": link,
    }
    if link == "merge":
        meta["merged_concepts"] = n_merged
    meta.update(metadata or {})
    # Validate concepts and the systems' own relations under on_dangling; the mapping
    # rows were validated and filtered under crossmap_dangling above.
    kg = KnowledgeGraph(concepts, own, meta, on_dangling=on_dangling)
    if all_maps is None or not len(all_maps):
        return kg
    return KnowledgeGraph(kg._concepts, concat_frames([kg._relations, all_maps]),
                          kg._metadata, validate=False)
