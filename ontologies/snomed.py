"""SNOMED CT RF2 snapshot files supplied by the user (``"snomedct"``, ``"snomedct_icd10_map"``).

SNOMED CT is licensed content: medkg ships no SNOMED data. Point ``path`` at an
unpacked release (the folder holding ``Snapshot/Terminology/``) or name the files.

``"snomedct"`` reads the concept, English description and relationship snapshots:

* concepts ``SNOMEDCT:<sctid>``, active only; ``label`` is the fully specified name
  (FSN) without its semantic tag, kept in ``semantic_tag`` and mapped to a medkg type
  (disorder -> disease, finding -> phenotype, procedure/regime -> procedure, substance,
  product -> drug, body structure -> anatomy, organism, else other); other columns
  ``fsn``, ``synonyms`` ("|"-joined), ``definition_status``;
* relations: is-a (116680003) -> ``is_a``; attributes -> snake_case names
  (``finding_site``, ``associated_morphology``, ...; unknown -> ``snomed_<typeId>``), with
  ``relationship_group`` and ``characteristic_type`` columns. Only relationships
  between active concepts are kept.

A snapshot holds one row per component id. If a file has several (a Full or Delta file
passed by mistake) the row with the latest ``effectiveTime`` wins and a warning says so.
Preferred terms need the language refset, which this reader does not read: the label is
the FSN. Files matching the same pattern (edition + extension) are concatenated.

``"snomedct_icd10_map"`` reads the extended map refset into ``maps_to`` relations to
``ICD10:`` (international map) or ``ICD10CM:`` (US map refset 6011000124106).

Examples:
    >>> sctid_is_valid("116680003"), sctid_is_valid("116680004")
    (True, False)
    >>> split_semantic_tag(["Zorblax (type 2) disorder (disorder)", "no tag"])[1].tolist()
    ['disorder', <NA>]
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ontologies.catalog import READERS
from ontologies.errors import ConfigError, DataNotFoundError, ParseError
from ontologies.schema import CodeSystemTables, make_concepts, make_relations
from ontologies.tsv import read_tsv

__all__ = ["read_snomedct", "read_snomedct_icd10_map", "sctid_is_valid",
           "split_semantic_tag", "RELATION_TYPES", "SEMANTIC_TAG_TYPES"]

IS_A = "116680003"
FSN, SYNONYM = "900000000000003001", "900000000000013009"
#: Attribute typeId -> relation name; any other typeId becomes ``snomed_<typeId>``.
RELATION_TYPES = {
    IS_A: "is_a", "363698007": "finding_site", "116676008": "associated_morphology",
    "246075003": "causative_agent", "42752001": "due_to", "127489000": "has_active_ingredient",
    "260686004": "method", "363704007": "procedure_site", "370135005": "pathological_process",
}
#: Semantic tag -> medkg semantic type; other tags are ``other``.
SEMANTIC_TAG_TYPES = {
    "disorder": "disease", "finding": "phenotype", "procedure": "procedure",
    "regime/therapy": "procedure", "substance": "substance", "product": "drug",
    "medicinal product": "drug", "medicinal product form": "drug", "clinical drug": "drug",
    "real clinical drug": "drug", "body structure": "anatomy", "cell": "anatomy",
    "cell structure": "anatomy", "organism": "organism",
}
_CHARACTERISTIC = {"900000000000011006": "inferred", "900000000000010007": "stated",
                   "900000000000227009": "additional"}
_DEFINITION = {"900000000000074008": "primitive", "900000000000073002": "defined"}
US_ICD10CM_REFSET = "6011000124106"
CONCEPT_COLUMNS = ["id", "effectiveTime", "active", "moduleId", "definitionStatusId"]
DESCRIPTION_COLUMNS = ["id", "effectiveTime", "active", "moduleId", "conceptId", "languageCode",
                       "typeId", "term", "caseSignificanceId"]
RELATIONSHIP_COLUMNS = ["id", "effectiveTime", "active", "moduleId", "sourceId", "destinationId",
                        "relationshipGroup", "typeId", "characteristicTypeId", "modifierId"]
MAP_COLUMNS = ["id", "effectiveTime", "active", "moduleId", "refsetId", "referencedComponentId",
               "mapGroup", "mapPriority", "mapRule", "mapAdvice", "mapTarget", "correlationId",
               "mapCategoryId"]
_SCTID, _TIME = (r"\d{6,18}", "an SCTID (6-18 digits)"), (r"\d{8}", "a date YYYYMMDD")
_ACTIVE = (r"[01]", "0 or 1")

# Verhoeff tables (ISO 7064 style dihedral check used by SCTIDs).
_D = np.array([[0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 2, 3, 4, 0, 6, 7, 8, 9, 5],
               [2, 3, 4, 0, 1, 7, 8, 9, 5, 6], [3, 4, 0, 1, 2, 8, 9, 5, 6, 7],
               [4, 0, 1, 2, 3, 9, 5, 6, 7, 8], [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
               [6, 5, 9, 8, 7, 1, 0, 4, 3, 2], [7, 6, 5, 9, 8, 2, 1, 0, 4, 3],
               [8, 7, 6, 5, 9, 3, 2, 1, 0, 4], [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]])
_P = np.array([[0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 5, 7, 6, 2, 8, 3, 0, 9, 4],
               [5, 8, 0, 3, 7, 9, 6, 1, 4, 2], [8, 9, 1, 6, 0, 4, 3, 5, 2, 7],
               [9, 4, 5, 3, 1, 2, 6, 8, 7, 0], [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
               [2, 7, 9, 3, 8, 0, 6, 4, 1, 5], [7, 0, 4, 6, 9, 1, 3, 2, 5, 8]])


def sctid_is_valid(sctid: str) -> bool:
    """True if ``sctid`` is 6-18 digits with a valid partition and Verhoeff check digit.

    Examples:
        >>> sctid_is_valid("900000000000003001"), sctid_is_valid("12ab56")
        (True, False)
    """
    sctid = str(sctid)
    if not (sctid.isdigit() and sctid.isascii() and 6 <= len(sctid) <= 18) or sctid[0] == "0":
        return False
    if sctid[-3] not in "01" or sctid[-2] not in "012345":  # short/long format, partition
        return False
    check = 0
    for i, digit in enumerate(reversed(sctid)):
        check = _D[check][_P[i % 8][int(digit)]]
    return bool(check == 0)


def _check(table: pd.DataFrame, lines: np.ndarray, path: Path,
           rules: dict[str, tuple[str, str]]) -> None:
    """Raises on the first value that does not fully match its column's pattern."""
    for column, (pattern, expected) in rules.items():
        bad = ~table[column].str.fullmatch(pattern)
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise ParseError(f"{column} {table[column].iloc[row]!r}: expected {expected}",
                             path, int(lines[row]))


def _read_rf2(paths: Sequence[Path], columns: list[str], kind: str,
              rules: dict[str, tuple[str, str]]) -> pd.DataFrame:
    """Reads, checks and concatenates RF2 files; keeps the latest row per id, active only."""
    frames = []
    for path in paths:
        table, lines = read_tsv(path, columns)
        _check(table, lines, path, {"id": _SCTID, "effectiveTime": _TIME, "active": _ACTIVE,
                                    **rules})
        frames.append(table)
    table = pd.concat(frames, ignore_index=True)
    return _latest_active(table, kind, paths)


def _latest_active(table: pd.DataFrame, kind: str, paths: Sequence[Path],
                   stacklevel: int = 4) -> pd.DataFrame:
    dup = table["id"].duplicated(keep=False)
    if dup.any():
        warnings.warn(f"{kind}: {table.loc[dup, 'id'].nunique()} ids have several rows (a Full "
                      f"or Delta file instead of a Snapshot?) in {', '.join(map(str, paths))}; "
                      "kept the row with the latest effectiveTime", UserWarning,
                      stacklevel=stacklevel)
        table = table.sort_values("effectiveTime", kind="stable").drop_duplicates(
            "id", keep="last").sort_index()
    return table[table["active"] == "1"].reset_index(drop=True)


def _find(folder: Path, pattern: str, what: str) -> list[Path]:
    found = sorted(p for p in folder.rglob(pattern) if p.is_file())
    if not found:
        raise DataNotFoundError(f"no {what} file matching {pattern!r} under {folder}")
    return found


def _paths(path: str | os.PathLike | None, explicit: str | os.PathLike | Iterable | None,
           pattern: str, what: str, allow_file: bool = False) -> list[Path]:
    if explicit is not None:
        items = [explicit] if isinstance(explicit, (str, os.PathLike)) else list(explicit)
        paths = [Path(p) for p in items]
        for p in paths:
            if not p.is_file():
                raise DataNotFoundError(f"{what} file not found: {p}")
        return paths
    if path is None:
        raise ConfigError(f"no {what} file: pass path= (a release folder) or the file path")
    folder = Path(path)
    if folder.is_file():
        if allow_file:
            return [folder]
        raise ConfigError(f"{folder} is a file: pass the release folder as path=, or "
                          "concept_path=/description_path=/relationship_path=")
    if not folder.is_dir():
        raise DataNotFoundError(f"SNOMED CT folder not found: {folder}")
    return _find(folder, pattern, what)


def split_semantic_tag(fsn: Iterable[str]) -> tuple[pd.Series, pd.Series]:
    """Splits FSNs into (label without tag, semantic tag); the tag is the last ``(...)``.

    Examples:
        >>> label, tag = split_semantic_tag(["Structure of quuxal organ (body structure)"])
        >>> label[0], tag[0]
        ('Structure of quuxal organ', 'body structure')
    """
    fsn = pd.Series(list(fsn), dtype="string")
    parts = fsn.str.extract(r"^(.*?)\s*\(([^()]+)\)\s*$")
    return parts[0].fillna(fsn).astype("string"), parts[1].astype("string")


@READERS.register("snomedct")
def read_snomedct(
    path: str | os.PathLike | None = None,
    *,
    concept_path: str | os.PathLike | Iterable | None = None,
    description_path: str | os.PathLike | Iterable | None = None,
    relationship_path: str | os.PathLike | Iterable | None = None,
    language: str = "en",
) -> CodeSystemTables:
    """Reads an RF2 snapshot (concepts, descriptions, relationships) into medkg tables.

    Args:
        path: Release folder searched recursively for ``sct2_Concept_Snapshot*.txt``,
            ``sct2_Description_Snapshot*-<language>*.txt`` and
            ``sct2_Relationship_Snapshot*.txt``.
        concept_path: Explicit concept file(s), overriding the search.
        description_path: Explicit description file(s).
        relationship_path: Explicit relationship file(s).
        language: Description language code kept (file pattern and ``languageCode``).

    Returns:
        Validated tables named ``"snomedct"``.

    Raises:
        DataNotFoundError: A folder or file is missing.
        ParseError: Bad header, field count, id, date or flag (with file and line).

    Examples:
        >>> import pathlib, tempfile
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> def rf2(name, columns, *rows):
        ...     text = "\\r\\n".join("\\t".join(r) for r in [columns, *rows])
        ...     _ = (d / name).write_text(text + "\\r\\n")
        >>> core, prim = "900000000000207008", "900000000000074008"
        >>> rf2("sct2_Concept_Snapshot_X.txt", CONCEPT_COLUMNS,
        ...     ["9000001003", "20240101", "1", core, prim],
        ...     ["9000002005", "20240101", "1", core, prim])
        >>> rf2("sct2_Description_Snapshot-en_X.txt", DESCRIPTION_COLUMNS,
        ...     ["9100001011", "20240101", "1", core, "9000001003", "en", FSN,
        ...      "Example finding (finding)", "900000000000448009"],
        ...     ["9100002013", "20240101", "1", core, "9000002005", "en", FSN,
        ...      "Zorblax disorder (disorder)", "900000000000448009"])
        >>> rf2("sct2_Relationship_Snapshot_X.txt", RELATIONSHIP_COLUMNS,
        ...     ["9200001025", "20240101", "1", core, "9000002005", "9000001003", "0", IS_A,
        ...      "900000000000011006", "900000000000451002"])
        >>> t = read_snomedct(d)
        >>> t.concepts[["id", "label", "semantic_type"]].values.tolist()
        [['SNOMEDCT:9000001003', 'Example finding', 'phenotype'],
         ['SNOMEDCT:9000002005', 'Zorblax disorder', 'disease']]
        >>> t.relations[["source", "relation", "target"]].values.tolist()
        [['SNOMEDCT:9000002005', 'is_a', 'SNOMEDCT:9000001003']]
    """
    concepts_files = _paths(path, concept_path, "sct2_Concept_Snapshot*.txt", "concept")
    description_files = _paths(path, description_path,
                               f"sct2_Description_Snapshot*-{language}*.txt", "description")
    relationship_files = _paths(path, relationship_path, "sct2_Relationship_Snapshot*.txt",
                                "relationship")
    concepts = _read_rf2(concepts_files, CONCEPT_COLUMNS, "concepts",
                         {"definitionStatusId": _SCTID})
    descriptions = _read_rf2(description_files, DESCRIPTION_COLUMNS, "descriptions",
                             {"conceptId": _SCTID, "typeId": _SCTID})
    relationships = _read_rf2(relationship_files, RELATIONSHIP_COLUMNS, "relationships",
                              {"sourceId": _SCTID, "destinationId": _SCTID, "typeId": _SCTID,
                               "relationshipGroup": (r"\d+", "a group number")})
    active = pd.Index(concepts["id"])
    descriptions = descriptions[descriptions["conceptId"].isin(active)
                                & (descriptions["languageCode"] == language)]
    descriptions = descriptions.sort_values("effectiveTime", ascending=False, kind="stable")
    fsn = descriptions[descriptions["typeId"] == FSN].drop_duplicates("conceptId")
    fsn = fsn.set_index("conceptId")["term"].reindex(active)
    synonyms = descriptions[descriptions["typeId"] == SYNONYM]
    synonym_text = synonyms.drop_duplicates(["conceptId", "term"]).groupby(
        "conceptId", sort=False)["term"].agg("|".join).reindex(active)
    label, tag = split_semantic_tag(fsn)
    first_synonym = synonyms.drop_duplicates("conceptId").set_index("conceptId")["term"]
    label = label.fillna(pd.Series(first_synonym.reindex(active).to_numpy(), dtype="string"))
    table = make_concepts(
        "SNOMEDCT:" + concepts["id"], label,
        tag.map(SEMANTIC_TAG_TYPES).fillna("other").astype("string"),
        semantic_tag=tag, fsn=pd.Series(fsn.to_numpy(), dtype="string"),
        synonyms=pd.Series(synonym_text.to_numpy(), dtype="string"),
        definition_status=concepts["definitionStatusId"].map(_DEFINITION).astype("string"))

    inside = relationships["sourceId"].isin(active) & relationships["destinationId"].isin(active)
    rels = relationships[inside]
    names = rels["typeId"].map(RELATION_TYPES).fillna("snomed_" + rels["typeId"])
    relations = make_relations(
        "SNOMEDCT:" + rels["sourceId"], names, "SNOMEDCT:" + rels["destinationId"],
        provenance="snomedct", relationship_group=rels["relationshipGroup"].astype("Int64"),
        characteristic_type=rels["characteristicTypeId"].map(_CHARACTERISTIC).fillna(
            rels["characteristicTypeId"]).astype("string"))
    files = concepts_files + description_files + relationship_files
    metadata = {
        "source": [str(p) for p in files], "version": concepts["effectiveTime"].max()
        if len(concepts) else None, "language": language,
        "n_relationships_dropped_inactive_ends": int((~inside).sum()),
        "n_concepts_without_fsn": int(fsn.isna().sum()),
        "license": "SNOMED CT content is licensed by SNOMED International; use requires an "
                   "Affiliate Licence (or national release centre licence).",
    }
    return CodeSystemTables("snomedct", table, relations, metadata).validate()


@READERS.register("snomedct_icd10_map")
def read_snomedct_icd10_map(
    path: str | os.PathLike | None = None,
    *,
    target_prefix: str = "auto",
    refset_id: str | None = None,
) -> CodeSystemTables:
    """Reads the extended map refset (SNOMED CT -> ICD-10) into ``maps_to`` relations.

    Args:
        path: A release folder (searched for ``der2_iisssccRefset_ExtendedMapSnapshot*.txt``)
            or the refset file itself.
        target_prefix: ``"ICD10"`` (WHO ICD-10, the international map), ``"ICD10CM"``
            (US extension map) or ``"auto"``: ICD10CM for refset 6011000124106, else ICD10.
        refset_id: Keep only this refset (None keeps all rows of the file).

    Returns:
        Tables named ``"snomedct_icd10_map"`` with no concepts and relations
        ``SNOMEDCT:<id> maps_to ICD10:<code>``; extras ``map_group``, ``map_priority``,
        ``map_rule``, ``map_advice``, ``map_category``, ``refset_id``. Rows with an empty
        target (concept not classifiable, context dependent, ...) are skipped.

    Raises:
        DataNotFoundError: No refset file. ParseError: malformed rows (file and line).
        ConfigError: ``target_prefix`` is not a valid CURIE prefix.

    Examples:
        >>> import pathlib, tempfile
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "der2_iisssccRefset_ExtendedMapSnapshot.txt"
        >>> row = ["6f1d5c3e-0000-4000-8000-000000000001", "20240101", "1", "449080006",
        ...        "447562003", "9000002005", "1", "1", "TRUE", "ALWAYS U98.0", "U98.0",
        ...        "447561005", "447637006"]
        >>> _ = p.write_text("\\t".join(MAP_COLUMNS) + "\\n" + "\\t".join(row) + "\\n")
        >>> r = read_snomedct_icd10_map(p).relations
        >>> r[["source", "relation", "target", "map_group", "map_advice"]].values.tolist()
        [['SNOMEDCT:9000002005', 'maps_to', 'ICD10:U98.0', 1, 'ALWAYS U98.0']]
    """
    if not isinstance(target_prefix, str) or not target_prefix.replace("_", "").isalnum():
        raise ConfigError(f"target_prefix {target_prefix!r}: expected 'auto', 'ICD10' or "
                          "'ICD10CM'")
    files = _paths(path, None, "der2_iisssccRefset_ExtendedMapSnapshot*.txt", "extended map",
                   allow_file=True)
    frames = []
    for file in files:
        table, lines = read_tsv(file, MAP_COLUMNS)
        _check(table, lines, file, {
            "id": (r"\S+", "a member id (UUID)"), "effectiveTime": _TIME, "active": _ACTIVE,
            "refsetId": _SCTID, "referencedComponentId": _SCTID,
            "mapGroup": (r"\d+", "a group number"), "mapPriority": (r"\d+", "a priority")})
        frames.append(table)
    rows = _latest_active(pd.concat(frames, ignore_index=True), "map refset", files, 3)
    if refset_id is not None:
        rows = rows[rows["refsetId"] == str(refset_id)]
    target = rows["mapTarget"].str.strip()
    rows, target = rows[target != ""], target[target != ""]
    if target_prefix == "auto":
        prefix = pd.Series(np.where(rows["refsetId"] == US_ICD10CM_REFSET, "ICD10CM:",
                                    "ICD10:"), index=rows.index)
    else:
        prefix = f"{target_prefix}:"
    relations = make_relations(
        "SNOMEDCT:" + rows["referencedComponentId"], "maps_to", prefix + target,
        provenance="snomedct_icd10_map", map_group=rows["mapGroup"].astype("Int64"),
        map_priority=rows["mapPriority"].astype("Int64"), map_rule=rows["mapRule"],
        map_advice=rows["mapAdvice"], map_category=rows["mapCategoryId"],
        refset_id=rows["refsetId"])
    concepts = make_concepts([], [], "other")
    metadata = {"source": [str(p) for p in files], "n_relations": len(rows),
                "version": rows["effectiveTime"].max() if len(rows) else None}
    return CodeSystemTables("snomedct_icd10_map", concepts, relations, metadata).validate()
