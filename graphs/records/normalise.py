"""Vectorised normalisers shared by the readers: sex codes, NDCs, drug names.

Examples:
    >>> import pandas as pd
    >>> sex_codes(pd.Series(["F", "male", "x", None])).tolist()
    ['F', 'M', 'U', 'U']
    >>> ndc_curies(pd.Series(["00409490234", "409490234", "0", "0409-4902-34", None])).tolist()
    ['NDC:00409490234', 'NDC:00409490234', <NA>, 'NDC:00409490234', <NA>]
    >>> name_curies(pd.Series(["Insulin  Glargine", " ", "NS (0.9%)"]), "MIMIC3DRUG").tolist()
    ['MIMIC3DRUG:insulin_glargine', <NA>, 'MIMIC3DRUG:ns_0.9']
"""

from __future__ import annotations

import pandas as pd

__all__ = ["sex_codes", "ndc_curies", "name_curies", "first_present"]

_SEX = {"f": "F", "female": "F", "m": "M", "male": "M"}


def sex_codes(series: pd.Series) -> pd.Series:
    """``"F"``, ``"M"`` or ``"U"`` (unknown, other, missing) from common spellings."""
    key = series.astype("string").str.strip().str.lower()
    return key.map(_SEX).fillna("U").astype("string")


def ndc_curies(series: pd.Series) -> pd.Series:
    """``NDC:`` CURIEs with 11 digits (5-4-2), or NA for empty/zero/invalid values.

    Dashed 10-digit forms (4-4-2, 5-3-2, 5-4-1) are padded segment by segment; plain
    digit strings shorter than 11 lost their leading zeros (e.g. read as numbers) and
    are left-padded.
    """
    s = series.astype("string").str.strip()
    parts = s.str.split("-", expand=True)
    dashed = s.str.count("-") == 2
    if parts.shape[1] == 3:
        padded = (parts[0].str.zfill(5) + parts[1].str.zfill(4) + parts[2].str.zfill(2))
        s = s.where(~dashed.fillna(False), padded)
    digits = s.str.replace(r"\.0$", "", regex=True).str.replace(r"\D", "", regex=True)
    ok = (digits.str.len().between(1, 11).fillna(False)
          & (digits.str.strip("0") != "").fillna(False))
    return ("NDC:" + digits.str.zfill(11)).where(ok).astype("string")


def name_curies(series: pd.Series, prefix: str, lower: bool = True) -> pd.Series:
    """``PREFIX:<name>`` CURIEs from free-text names or codes, or NA for blank ones.

    Names are lower-cased (unless ``lower=False``, for codes) and every run of characters
    other than letters, digits and ``.+-`` becomes ``_``.
    """
    name = series.astype("string").str.strip()
    if lower:
        name = name.str.lower()
    name = name.str.replace(r"[^A-Za-z0-9.+-]+", "_", regex=True).str.strip("_")
    return (prefix + ":" + name).where(name.fillna("") != "").astype("string")


def first_present(*series: pd.Series) -> pd.Series:
    """Element-wise first non-missing value (e.g. CHARTTIME, else CHARTDATE)."""
    out = series[0]
    for s in series[1:]:
        out = out.fillna(s)
    return out
