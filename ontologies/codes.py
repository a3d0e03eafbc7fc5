"""Normalising ICD codes to their dotted form, one value or a whole column at a time.

Records and mapping files write codes in many ways (``"e119"``, ``"E11.9 "``,
``"ICD10CM:E11.9"``, ``"4280"``); the knowledge graph uses one: the dotted code inside a
CURIE (``ICD10CM:E11.9``, ``ICD9CM:428.0``). These functions check the *shape* of a code
(not whether it exists in a release) and return the dotted form.

Formats accepted (after stripping ASCII blanks, upper-casing and dropping a ``PREFIX:``):

========== ================================================== ==========================
system     shape                                              examples
========== ================================================== ==========================
icd10cm    letter, digit, alphanumeric, then 0-4 alphanumerics ``E119``, ``S0000XA``
icd9cm     ``ddd`` + 0-2 digits, ``Vdd`` + 0-2, ``Eddd`` + 0-1 ``4280``, ``V1052``, ``E8889``
icd9cm_sg  ``dd`` + 0-2 digits (ICD-9-CM procedures, volume 3) ``3893``
========== ================================================== ==========================

A dot may already be present, but only in its right place. The 7th-character
placeholder ``X`` of ICD-10-CM is kept as written. Codes are ASCII: any other character
makes a value malformed, even one that upper-cases to ASCII (the ligature ``"\ufb00"``
becomes ``"FF"``). A missing value in a column stays
missing; a malformed one raises (or becomes missing with ``errors="coerce"``).

Examples:
    >>> normalize_icd10cm(" e119 ")
    'E11.9'
    >>> normalize_icd9cm("V1052"), normalize_icd9cm("3893", kind="sg")
    ('V10.52', '38.93')
    >>> icd9cm_curie("4280")
    'ICD9CM:428.0'
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ontologies.errors import ConfigError, SchemaError, UnknownCodeError

__all__ = [
    "ICD10CM_PREFIX",
    "ICD9CM_PREFIX",
    "ICD9PROC_PREFIX",
    "SYSTEMS",
    "normalize_icd10cm",
    "normalize_icd9cm",
    "icd10cm_curie",
    "icd9cm_curie",
    "normalize_series",
]

ICD10CM_PREFIX = "ICD10CM"
ICD9CM_PREFIX = "ICD9CM"
#: ICD-9-CM procedures (volume 3) get their own prefix: they are a different hierarchy
#: and the semantic type differs (``procedure``), although the strings never collide.
ICD9PROC_PREFIX = "ICD9PROC"


@dataclass(frozen=True)
class _Format:
    """One code shape: a regex with groups ``head`` and ``tail``, joined by a dot."""

    prefix: str
    pattern: re.Pattern
    expected: str
    #: Characters before the dot, and the initial letter whose codes have one more
    #: (ICD-9-CM E codes: ``E888.9``) with a tail of at most ``short_tail`` characters.
    head_len: int
    long_head: str | None = None
    short_tail: int = 4


_FORMATS = {
    "icd10cm": _Format(
        ICD10CM_PREFIX,
        re.compile(r"^(?P<head>[A-Z][0-9][0-9A-Z])(?:\.?(?P<tail>[0-9A-Z]{1,4})|\.)?$"),
        "an ICD-10-CM code: letter, digit, letter/digit, then up to 4 letters/digits, "
        "with or without the dot after the 3rd character (e.g. 'E11.9', 'E119', 'S00.00XA')",
        head_len=3,
    ),
    "icd9cm": _Format(
        ICD9CM_PREFIX,
        re.compile(r"^(?P<head>[0-9]{3}|V[0-9]{2}|E[0-9]{3})(?:\.?(?P<tail>[0-9]{1,2})|\.)?$"),
        "an ICD-9-CM diagnosis code: 3 digits, V + 2 digits or E + 3 digits, then up to "
        "2 digits (1 for E codes), with or without the dot (e.g. '428.0', '4280', "
        "'V10.52', 'E888.9')",
        head_len=3, long_head="E", short_tail=1,
    ),
    "icd9cm_sg": _Format(
        ICD9PROC_PREFIX,
        re.compile(r"^(?P<head>[0-9]{2})(?:\.?(?P<tail>[0-9]{1,2})|\.)?$"),
        "an ICD-9-CM procedure code: 2 digits then up to 2 digits, with or without the "
        "dot (e.g. '38.93', '3893')",
        head_len=2,
    ),
}

#: Names accepted by :func:`normalize_series` (``icd9cm`` means diagnoses).
SYSTEMS = tuple(_FORMATS)

_KINDS = {"dx": "icd9cm", "sg": "icd9cm_sg"}
#: Blanks stripped around a code. Codes are ASCII, so only ASCII blanks: Python's and
#: Arrow's notions of Unicode whitespace differ, and scalar and column must agree.
_BLANKS = " \t\n\r\x0b\x0c"


def _format(system: str) -> _Format:
    if system not in _FORMATS:
        raise ConfigError(f"unknown code system {system!r}: expected one of {', '.join(SYSTEMS)}")
    return _FORMATS[system]


def _normalize_one(code: object, fmt: _Format) -> str:
    if not isinstance(code, str):
        raise UnknownCodeError(code, f"a string holding {fmt.expected}")
    text = code.strip(_BLANKS)
    if not text.isascii():  # before upper(): "\ufb00".upper() is "FF", "\u0131" -> "I"
        raise UnknownCodeError(code, fmt.expected)
    text = text.upper()
    if text.startswith(fmt.prefix + ":"):
        text = text[len(fmt.prefix) + 1:]
    match = fmt.pattern.match(text)
    if match is None or (match["head"][0] == fmt.long_head
                         and len(match["tail"] or "") > fmt.short_tail):
        raise UnknownCodeError(code, fmt.expected)
    return match["head"] + ("." + match["tail"] if match["tail"] else "")


def normalize_icd10cm(code: str) -> str:
    """Returns the dotted ICD-10-CM code (``"e119"`` -> ``"E11.9"``).

    Args:
        code: A code with or without its dot, in any case, optionally ``ICD10CM:``-prefixed.

    Returns:
        The upper-case code with a dot after the 3rd character when longer than 3.

    Raises:
        UnknownCodeError: ``code`` is not shaped like an ICD-10-CM code.

    Examples:
        >>> normalize_icd10cm("S0000XA"), normalize_icd10cm("ICD10CM:i10")
        ('S00.00XA', 'I10')
        >>> normalize_icd10cm("E1.19")
        Traceback (most recent call last):
        ...
        ontologies.errors.UnknownCodeError: unknown code 'E1.19': expected an ICD-10-CM code: ...
    """
    return _normalize_one(code, _FORMATS["icd10cm"])


def normalize_icd9cm(code: str, kind: str = "dx") -> str:
    """Returns the dotted ICD-9-CM code (``"4280"`` -> ``"428.0"``).

    Args:
        code: A code with or without its dot, optionally ``ICD9CM:`` (diagnoses) or
            ``ICD9PROC:`` (procedures) prefixed.
        kind: ``"dx"`` for diagnoses (dot after 3 digits, after ``Vdd``, after ``Eddd``)
            or ``"sg"`` for procedures (dot after 2 digits).

    Returns:
        The dotted code.

    Raises:
        UnknownCodeError: ``code`` is not shaped like a code of that kind.
        ConfigError: ``kind`` is neither ``"dx"`` nor ``"sg"``.

    Examples:
        >>> normalize_icd9cm("E8889"), normalize_icd9cm("428"), normalize_icd9cm("038.9")
        ('E888.9', '428', '038.9')
        >>> normalize_icd9cm("V105", kind="sg")
        Traceback (most recent call last):
        ...
        ontologies.errors.UnknownCodeError: unknown code 'V105': expected an ICD-9-CM procedure...
    """
    if kind not in _KINDS:
        raise ConfigError(f"unknown ICD-9-CM kind {kind!r}: expected 'dx' or 'sg'")
    return _normalize_one(code, _FORMATS[_KINDS[kind]])


def icd10cm_curie(code: str) -> str:
    """Returns the CURIE of an ICD-10-CM code.

    Examples:
        >>> icd10cm_curie("e11.9")
        'ICD10CM:E11.9'
    """
    return f"{ICD10CM_PREFIX}:{normalize_icd10cm(code)}"


def icd9cm_curie(code: str, kind: str = "dx") -> str:
    """Returns the CURIE of an ICD-9-CM diagnosis (``ICD9CM:``) or procedure (``ICD9PROC:``).

    Examples:
        >>> icd9cm_curie("25000"), icd9cm_curie("3893", kind="sg")
        ('ICD9CM:250.00', 'ICD9PROC:38.93')
    """
    prefix = ICD9CM_PREFIX if kind == "dx" else ICD9PROC_PREFIX
    return f"{prefix}:{normalize_icd9cm(code, kind)}"


def normalize_series(
    series: pd.Series,
    system: str,
    *,
    errors: str = "raise",
    curie: bool = False,
) -> pd.Series:
    """Normalises a column of codes at once (vectorised; index and name are kept).

    Args:
        series: Codes as strings; missing values stay missing.
        system: One of :data:`SYSTEMS` (``"icd10cm"``, ``"icd9cm"``, ``"icd9cm_sg"``).
        errors: ``"raise"`` (malformed codes raise) or ``"coerce"`` (they become <NA>).
        curie: Return CURIEs (``ICD10CM:E11.9``) instead of bare codes.

    Returns:
        A ``string`` Series of dotted codes (or CURIEs).

    Raises:
        SchemaError: Some values are malformed; the message lists the first ones with
            their row labels and the expected shape.
        ConfigError: Unknown ``system`` or ``errors``.

    Examples:
        >>> s = pd.Series(["e119", "I10", None, "S0000XA"])
        >>> normalize_series(s, "icd10cm").tolist()
        ['E11.9', 'I10', <NA>, 'S00.00XA']
        >>> normalize_series(pd.Series(["4280", "V1052"]), "icd9cm", curie=True).tolist()
        ['ICD9CM:428.0', 'ICD9CM:V10.52']
        >>> normalize_series(pd.Series(["E11.9", "E11..9", "xyz"], name="dx"), "icd10cm")
        Traceback (most recent call last):
        ...
        ontologies.errors.SchemaError: column 'dx': 2 value(s) are not ... row 1: 'E11..9', ...
    """
    fmt = _format(system)
    if errors not in ("raise", "coerce"):
        raise ConfigError(f"errors={errors!r}: expected 'raise' or 'coerce'")
    if not isinstance(series, pd.Series):
        series = pd.Series(series)
    kind = pd.api.types.infer_dtype(series, skipna=True)
    if kind not in ("string", "empty"):
        raise SchemaError(f"column {series.name!r} holds {kind} values: expected strings "
                          "(numbers lose leading zeros: 38.9 is not 038.9)")
    present = series.notna().to_numpy()
    # Arrow-backed string ops run in C++; str.extract would loop in Python (~10x slower).
    text = series.astype("string").str.strip(_BLANKS)
    is_ascii = text.str.isascii().fillna(False).to_numpy(dtype=bool)  # as _normalize_one
    text = text.str.upper().str.removeprefix(fmt.prefix + ":")
    ok = is_ascii & text.str.fullmatch(fmt.pattern.pattern).fillna(False).to_numpy(dtype=bool)
    flat = text.str.replace(".", "", regex=False)
    head = np.full(len(flat), fmt.head_len)
    if fmt.long_head is not None:
        long = flat.str.startswith(fmt.long_head).fillna(False).to_numpy(dtype=bool)
        head = head + long
        ok &= ~long | (flat.str.len().fillna(0).to_numpy() <= fmt.head_len + 1 + fmt.short_tail)
    bad = present & ~ok
    if bad.any() and errors == "raise":
        rows = np.flatnonzero(bad)
        shown = ", ".join(f"row {series.index[i]!r}: {series.iloc[i]!r}" for i in rows[:5])
        more = f" (and {len(rows) - 5} more)" if len(rows) > 5 else ""
        raise SchemaError(f"column {series.name!r}: {len(rows)} value(s) are not {fmt.expected}: "
                          f"{shown}{more}")
    out = flat
    for length in np.unique(head):  # one or two head lengths
        rows = head == length
        dotted = flat.str.slice(0, length) + "." + flat.str.slice(length)
        out = out.mask(rows & (flat.str.len() > length).fillna(False).to_numpy(), dotted)
    if curie:
        out = fmt.prefix + ":" + out
    out = out.astype("string").mask(~ok)
    out.name = series.name
    return out
