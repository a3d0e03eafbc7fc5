"""Label vocabularies: ICD-10-CM codes grouped at a chosen granularity.

Granularities: ``code`` (as recorded), ``category`` (3-character ICD-10-CM category, e.g.
``ICD10CM:E11``), ``block`` (the tabular section, e.g. ``ICD10CM:E08-E13``; needs the
ICD-10-CM KG or reads it) and ``ccsr`` (AHRQ CCSR default category, e.g. ``CCSR:END002``).

Examples:
    >>> import pandas as pd
    >>> group_codes(pd.Series(["ICD10CM:E11.65", "ICD10CM:I10", "RXNORM:6809"]), "category")
    0    ICD10CM:E11
    1    ICD10CM:I10
    2           <NA>
    dtype: string
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from ontologies.errors import ConfigError

__all__ = ["GRANULARITIES", "group_codes"]

GRANULARITIES = ("code", "category", "block", "ccsr")


def group_codes(codes: pd.Series, granularity: str = "category", kg: Any = None) -> pd.Series:
    """Maps ICD-10-CM CURIEs to their group at ``granularity``; other codes map to NA.

    Args:
        codes: CURIEs such as ``ICD10CM:E11.65``.
        granularity: One of :data:`GRANULARITIES`.
        kg: Knowledge graph holding ICD-10-CM with its ``block`` column (for ``block``);
            when absent the ICD-10-CM reader is used.

    Returns:
        Group CURIEs aligned with ``codes`` (pandas ``string`` dtype).
    """
    if granularity not in GRANULARITIES:
        raise ConfigError(f"granularity={granularity!r}: expected one of "
                          f"{', '.join(GRANULARITIES)}")
    codes = pd.Series(codes, dtype="string").reset_index(drop=True)
    icd = codes.str.startswith("ICD10CM:").fillna(False)
    out = pd.Series(pd.NA, index=codes.index, dtype="string")
    if granularity == "code":
        out[icd] = codes[icd]
    elif granularity == "category":
        out[icd] = codes[icd].str.slice(0, len("ICD10CM:") + 3)
    elif granularity == "block":
        if kg is None:
            import ontologies

            concepts = ontologies.load("icd10cm").concepts
        else:
            concepts = kg.concepts
        if "block" not in concepts.columns:
            raise ConfigError("granularity='block' needs a KG with ICD-10-CM's 'block' column")
        block = pd.Series(concepts["block"].to_numpy(), index=concepts["id"].to_numpy())
        out[icd] = pd.Series(codes[icd].map(block), dtype="string")
    else:
        from ontologies.ccsr import map_icd10_to_ccsr

        mapped = map_icd10_to_ccsr(codes[icd].str.slice(len("ICD10CM:")), errors="coerce")
        out[icd] = pd.Series(mapped["ccsr"].to_numpy(), index=codes[icd].index, dtype="string")
    return out
