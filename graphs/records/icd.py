"""ICD code handling shared by the readers: dotted CURIEs and ICD-9 -> ICD-10-CM mapping.

Extracts such as MIMIC store ICD codes without dots (``25000``, ``E119``). These helpers
turn them into dotted CURIEs with :func:`ontologies.codes.normalize_series` (vectorised),
so patient codes match the knowledge-graph ids: ``ICD9CM:`` for diagnoses, ``ICD9PROC:``
for ICD-9-CM procedures (volume 3), ``ICD10CM:`` and ``ICD10PCS:``. A malformed code
becomes missing; readers drop such rows and count them in ``metadata["dropped"]``.

Diagnoses are mapped to ICD-10-CM with the GEMs through
``ontologies.icd9cm.map_icd9_to_icd10``; ``source_code`` keeps the ICD-9 CURIE and
``mapping`` says how the target was obtained. An ICD-9 code without a GEM entry keeps
its ICD-9 CURIE as ``code`` with mapping ``no_map``. A code with several GEM targets
yields one row per target: all parts of a combination (``073.0`` -> ``A70`` + ``J17``),
and all alternatives of an approximate entry (``272.4`` -> ``E78.4``, ``E78.5``), since
the GEMs do not say which alternative applies.

Examples:
    >>> import pandas as pd
    >>> icd9_curies(pd.Series(["25000", "4019", "E8889", "V1582", None, "12X"])).tolist()
    ['ICD9CM:250.00', 'ICD9CM:401.9', 'ICD9CM:E888.9', 'ICD9CM:V15.82', <NA>, <NA>]
    >>> icd9_curies(pd.Series(["3893"]), kind="sg").tolist()
    ['ICD9PROC:38.93']
    >>> icd10_curies(pd.Series(["E119", "I10", "e11.9"])).tolist()
    ['ICD10CM:E11.9', 'ICD10CM:I10', 'ICD10CM:E11.9']
"""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from ontologies.codes import normalize_series
from ontologies.errors import ConfigError

__all__ = ["icd9_curies", "icd10_curies", "map_diagnoses", "drop_malformed"]

log = logging.getLogger(__name__)


def icd9_curies(series: pd.Series, kind: str = "dx") -> pd.Series:
    """CURIEs of ICD-9-CM codes given with or without dots; malformed codes become NA.

    Args:
        series: Raw codes (missing values stay missing).
        kind: ``"dx"`` for diagnoses (``ICD9CM:``), ``"sg"`` for procedures
            (``ICD9PROC:``, dot after two digits).

    Returns:
        A ``"string"`` Series aligned with ``series``.
    """
    if kind not in ("dx", "sg"):
        raise ConfigError(f"ICD-9 code kind {kind!r}: expected 'dx' or 'sg'")
    system = "icd9cm" if kind == "dx" else "icd9cm_sg"
    return normalize_series(series, system, errors="coerce", curie=True)


def icd10_curies(series: pd.Series, system: str = "ICD10CM") -> pd.Series:
    """CURIEs of ICD-10-CM codes (dot after the 3rd character) or ICD-10-PCS codes.

    Args:
        series: Raw codes with or without dots; malformed ones become NA.
        system: ``"ICD10CM"`` or ``"ICD10PCS"`` (7 characters, no dot, kept as written).
    """
    if system == "ICD10PCS":
        raw = series.astype("string").str.strip().str.upper()
        ok = raw.str.fullmatch(r"[0-9A-HJ-NP-Z]{7}").fillna(False)
        return ("ICD10PCS:" + raw).where(ok).astype("string")
    return normalize_series(series, "icd10cm", errors="coerce", curie=True)


def drop_malformed(df: pd.DataFrame, column: str, raw: pd.Series, table: str,
                   dropped: dict[str, int]) -> pd.DataFrame:
    """Drops rows whose ``column`` is NA although ``raw`` had a value; counts them."""
    bad = (df[column].isna() & raw.notna()).to_numpy(dtype=bool)
    if bad.any():
        dropped[f"{table}_malformed_code"] = int(bad.sum())
        log.warning("dropped %d %s rows with a malformed ICD code", bad.sum(), table)
    return df[~bad]


def map_diagnoses(
    diagnoses: pd.DataFrame,
    map_to_icd10: bool = True,
    gem_options: dict[str, Any] | None = None,
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Fills ``code`` and ``mapping`` of a diagnoses table from its ``source_code``.

    ICD-9-CM rows are mapped through the GEMs when ``map_to_icd10``; every other row is
    kept as recorded with mapping ``direct``.

    Args:
        diagnoses: A table with a ``source_code`` CURIE column.
        map_to_icd10: Map ICD-9-CM to ICD-10-CM (else keep ICD-9 codes, mapping ``direct``).
        gem_options: Keyword arguments for ``map_icd9_to_icd10`` (e.g. a GEM file path).

    Returns:
        The table with ``code`` and ``mapping`` set (combination mappings add rows) and
        the number of rows per mapping kind.

    Raises:
        ConfigError: Mapping was asked for but ``ontologies.icd9cm.map_icd9_to_icd10``
            is not available.

    Examples:
        >>> import pandas as pd
        >>> dx = pd.DataFrame({"source_code": ["ICD10CM:I10", "ICD9CM:401.9"]})
        >>> out, counts = map_diagnoses(dx, map_to_icd10=False)
        >>> out[["code", "mapping"]].values.tolist(), counts
        ([['ICD10CM:I10', 'direct'], ['ICD9CM:401.9', 'direct']], {'direct': 2})
    """
    dx = diagnoses.reset_index(drop=True).copy()
    source = dx["source_code"].astype("string")
    is9 = source.str.startswith("ICD9CM:").fillna(False).to_numpy(dtype=bool)
    dx["code"] = source
    dx["mapping"] = pd.Series("direct", index=dx.index, dtype="string")
    if map_to_icd10 and is9.any():
        try:
            from ontologies.icd9cm import map_icd9_to_icd10
        except ImportError:
            raise ConfigError(
                "mapping ICD-9-CM diagnoses to ICD-10-CM needs "
                "ontologies.icd9cm.map_icd9_to_icd10 (the GEMs), which is not available; "
                "pass map_to_icd10=False to keep the ICD-9-CM codes") from None
        uniq = pd.Series(source[is9].unique(), dtype="string")
        table = map_icd9_to_icd10(uniq, **(gem_options or {}))
        table = _tidy_gem_table(table)
        dx["_row"] = range(len(dx))  # keeps the recorded row order after the merge
        nine = dx[is9].drop(columns=["code", "mapping"])
        merged = nine.merge(table, left_on="source_code", right_on="icd9", how="left")
        merged["code"] = merged["icd10"].fillna(merged["source_code"])
        merged["mapping"] = merged["mapping"].fillna("no_map")
        merged = merged.drop(columns=["icd9", "icd10"])
        dx = pd.concat([dx[~is9], merged], ignore_index=True)
        dx = dx.sort_values("_row", kind="stable").drop(columns="_row").reset_index(drop=True)
    counts = {str(k): int(v) for k, v in dx["mapping"].value_counts().items()}
    return dx, counts


def _tidy_gem_table(table: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in ("icd9", "icd10", "mapping") if c not in table.columns]
    if missing:
        raise ConfigError(f"map_icd9_to_icd10 returned no columns {missing}; "
                          "expected icd9, icd10, mapping")
    out = table[["icd9", "icd10", "mapping"]].astype("string")
    # accept bare codes as well as CURIEs from the mapping table
    out["icd9"] = out["icd9"].where(out["icd9"].str.contains(":"), "ICD9CM:" + out["icd9"])
    out["icd10"] = out["icd10"].where(out["icd10"].str.contains(":").fillna(True),
                                      "ICD10CM:" + out["icd10"])
    # a code without a target is 'no_map' whatever the table says
    out["mapping"] = out["mapping"].where(out["icd10"].notna(), "no_map")
    return out.drop_duplicates(["icd9", "icd10"]).reset_index(drop=True)
