"""Column specs of the patient-record tables and :func:`coerce_table`.

Every table of :class:`~graphs.records.schema.PatientRecords` is a long pandas table with
fixed required columns (extra columns are kept). :func:`coerce_table` turns a user
DataFrame into that shape: lower-cased column names, ids as pandas ``"string"``, dates
as ``datetime64[ns]`` (time-zone aware values are converted to UTC and made naive),
``seq_num`` as nullable ``Int64`` and ``value`` as ``float64``.

Privacy: error messages name the table, the column and the 0-based row number. They show
the offending value only for columns that hold codes, dates, numbers or categories, never
for identifier columns, free text, or anything in the ``notes`` table.

Examples:
    >>> import pandas as pd
    >>> df = pd.DataFrame({"PATIENT_ID": [1, 2], "Sex": ["F", "M"],
    ...                    "birth_date": ["2100-01-02", "2090-05-06"], "death_date": [None, None]})
    >>> out = coerce_table(df, "patients")
    >>> out.dtypes.astype(str).tolist()
    ['string', 'string', 'datetime64[ns]', 'datetime64[ns]']
    >>> out["patient_id"].tolist()
    ['1', '2']
    >>> bad = df.assign(birth_date=["2100-01-02", "yesterday"])
    >>> coerce_table(bad, "patients")
    Traceback (most recent call last):
    ...
    ontologies.errors.SchemaError: patients: column 'birth_date', row 1: value 'yesterday' is ...
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ontologies.errors import SchemaError

__all__ = [
    "TABLES",
    "ID_COLUMNS",
    "SEXES",
    "MAPPINGS",
    "MODALITIES",
    "empty_table",
    "coerce_table",
    "describe_value",
    "to_dates",
    "isin",
]

STRING = "string"
DATE = "datetime64[ns]"

#: Required columns and dtypes of each table, in order.
TABLES: dict[str, dict[str, str]] = {
    "patients": {"patient_id": STRING, "sex": STRING, "birth_date": DATE, "death_date": DATE},
    "visits": {"patient_id": STRING, "visit_id": STRING, "start": DATE, "end": DATE,
               "visit_type": STRING},
    "diagnoses": {"patient_id": STRING, "visit_id": STRING, "code": STRING, "time": DATE,
                  "seq_num": "Int64", "source_code": STRING, "mapping": STRING},
    "medications": {"patient_id": STRING, "visit_id": STRING, "code": STRING, "label": STRING,
                    "start": DATE, "end": DATE},
    "procedures": {"patient_id": STRING, "visit_id": STRING, "code": STRING, "time": DATE},
    "observations": {"patient_id": STRING, "visit_id": STRING, "code": STRING,
                     "value": "float64", "unit": STRING, "time": DATE},
    "notes": {"patient_id": STRING, "visit_id": STRING, "note_id": STRING, "category": STRING,
              "time": DATE, "text": STRING},
    "modalities": {"patient_id": STRING, "visit_id": STRING, "modality": STRING,
                   "path": STRING, "time": DATE},
}

#: Columns whose values identify people or documents: never shown in error messages.
ID_COLUMNS = frozenset({"patient_id", "visit_id", "note_id"})
#: Free-text or path columns: never shown either.
_PRIVATE = ID_COLUMNS | {"text", "path", "label"}

SEXES = ("F", "M", "U")
MAPPINGS = ("direct", "gem_exact", "gem_approximate", "gem_combination", "no_map")
MODALITIES = ("image", "volume", "slide", "signal", "audio", "genomic", "video")

# Longest value echoed in a message; longer ones are likely text pasted into the wrong column.
_MAX_SHOWN = 40


def empty_table(table: str) -> pd.DataFrame:
    """An empty table with the required columns and dtypes.

    Examples:
        >>> empty_table("visits").columns.tolist()
        ['patient_id', 'visit_id', 'start', 'end', 'visit_type']
    """
    spec = _spec(table)
    return pd.DataFrame({c: pd.Series([], dtype=d) for c, d in spec.items()})


def isin(values: pd.Series, allowed: object) -> np.ndarray:
    """Boolean array: which ``values`` are in ``allowed`` (missing values never are).

    Compared as text with Arrow's hash join: pandas' own ``Series.isin`` on string
    columns walks ``allowed`` in Python and took ~15 s for a 400k-row MIMIC check.

    Examples:
        >>> import pandas as pd
        >>> isin(pd.Series(["a", None, "c"]), ["c", "x"]).tolist()
        [False, False, True]
    """
    arrow = pd.StringDtype("pyarrow", na_value=pd.NA)
    left = pa.array(pd.Series(values).astype(arrow).array)
    if isinstance(allowed, (set, frozenset)):
        allowed = list(allowed)
    right = pa.array(pd.Series(allowed).astype(arrow).array)
    if isinstance(right, pa.ChunkedArray):
        right = right.combine_chunks()
    hit = pc.is_in(left, value_set=right, skip_nulls=True)
    return np.asarray(hit.to_numpy(zero_copy_only=False), dtype=bool)


def describe_value(table: str, column: str, value: object) -> str:
    """How an offending value may appear in a message without leaking private data.

    Examples:
        >>> describe_value("diagnoses", "code", "XX:1")
        "value 'XX:1'"
        >>> describe_value("notes", "time", "Patient is doing well")
        'value (hidden, 21 characters)'
    """
    text = str(value)
    if table == "notes" or column in _PRIVATE or len(text) > _MAX_SHOWN:
        return f"value (hidden, {len(text)} characters)"
    return f"value {text!r}"


def coerce_table(df: pd.DataFrame, table: str) -> pd.DataFrame:
    """Returns ``df`` shaped as ``table``: lower-case names, parsed dates, cast dtypes.

    Required columns come first in their canonical order; extra columns are kept after
    them unchanged. The input is not modified.

    Args:
        df: A user or reader DataFrame.
        table: One of :data:`TABLES` (``"patients"``, ``"visits"``, ...).

    Returns:
        A new DataFrame with a fresh ``RangeIndex``.

    Raises:
        SchemaError: Unknown table, missing or duplicate columns, or a value that cannot be
            cast; the message names table, column and row (see module docstring).
    """
    spec = _spec(table)
    if not isinstance(df, pd.DataFrame):
        raise SchemaError(f"{table}: expected a pandas DataFrame, got {type(df).__name__}")
    names = [str(c).strip().lower() for c in df.columns]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise SchemaError(f"{table}: duplicate columns {dup} (column names are case-insensitive)")
    out = df.copy(deep=False)  # copy-on-write: columns are replaced, never edited in place
    out.columns = names
    out = out.reset_index(drop=True)
    missing = [c for c in spec if c not in out.columns]
    if missing:
        raise SchemaError(f"{table}: missing columns {missing}; expected {list(spec)}")
    for col, dtype in spec.items():
        if dtype == DATE:
            out[col] = _to_dates(out[col], table, col)
        elif dtype == "Int64":
            out[col] = _to_int(out[col], table, col)
        elif dtype == "float64":
            out[col] = _to_float(out[col], table, col)
        else:
            out[col] = _to_string(out[col], table, col)
    extra = [c for c in out.columns if c not in spec]
    return out[list(spec) + extra]


def _spec(table: str) -> dict[str, str]:
    if table not in TABLES:
        raise SchemaError(f"unknown table {table!r}: expected one of {', '.join(TABLES)}")
    return TABLES[table]


def _fail(where: str, col: str, s: pd.Series, pos: int, expected: str,
          private: bool | None = None, row_word: str = "row") -> SchemaError:
    """Error naming place, column and row; the row is the index label at ``pos``."""
    value = s.iloc[pos]
    shown = describe_value("notes" if private else where, col, value)
    return SchemaError(f"{where}: column {col!r}, {row_word} {s.index[pos]}: {shown} {expected}")


def to_dates(s: pd.Series, where: str, col: str, private: bool = False,
             row_word: str = "row") -> pd.Series:
    """Parses ``s`` as ``datetime64[ns]``; errors name ``where``, ``col`` and the index label.

    Args:
        s: Values (text or datetimes).
        where: Table or file name for the message.
        col: Column name for the message.
        private: Never show the offending value (columns of a notes file).
        row_word: How rows are called in the message (e.g. ``"data row"``).

    Examples:
        >>> import pandas as pd
        >>> to_dates(pd.Series(["2100-01-01", "soon"], index=[1, 2]), "ADMISSIONS.csv",
        ...          "ADMITTIME", row_word="data row")
        Traceback (most recent call last):
        ...
        ontologies.errors.SchemaError: ADMISSIONS.csv: column 'ADMITTIME', data row 2: value ...
    """
    return _to_dates(s, where, col, private, row_word)


def _to_string(s: pd.Series, table: str, col: str) -> pd.Series:
    if isinstance(s.dtype, pd.StringDtype) and s.dtype.na_value is pd.NA:
        return s
    if pd.api.types.is_float_dtype(s.dtype):
        # ids read as floats because of missing values: 123.0 must become "123", not "123.0"
        values = s.to_numpy(dtype="float64", na_value=np.nan)
        finite = ~np.isnan(values)
        if np.all(values[finite] == np.round(values[finite])):
            return s.astype("Int64").astype(STRING)
    if pd.api.types.is_bool_dtype(s.dtype) or pd.api.types.is_datetime64_any_dtype(s.dtype):
        raise _fail(table, col, s, 0, f"has dtype {s.dtype}: expected text")
    out = s.astype(STRING)
    # empty or blank cells are missing, as in the CSV files the readers load
    return out.mask(out.str.strip() == "")


def _to_int(s: pd.Series, table: str, col: str) -> pd.Series:
    num = pd.to_numeric(s, errors="coerce")
    bad = num.isna() & s.notna() & (s.astype(STRING).str.strip() != "")
    values = num.to_numpy(dtype="float64", na_value=np.nan)
    frac = ~np.isnan(values) & (values != np.round(values))
    bad = bad.to_numpy() | frac
    if bad.any():
        raise _fail(table, col, s, int(np.flatnonzero(bad)[0]), "is not an integer")
    return num.astype("Int64")


def _to_float(s: pd.Series, table: str, col: str) -> pd.Series:
    num = pd.to_numeric(s, errors="coerce")
    bad = (num.isna() & s.notna() & (s.astype(STRING).str.strip() != "")).to_numpy()
    if bad.any():
        raise _fail(table, col, s, int(np.flatnonzero(bad)[0]), "is not a number")
    return num.astype("float64")


def _to_dates(s: pd.Series, table: str, col: str, private: bool | None = None,
              row_word: str = "row") -> pd.Series:
    if s.dtype == DATE:
        return s  # already canonical: nothing can be out of range
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        parsed = s
    else:
        text = s.astype(STRING).str.strip()
        text = text.mask(text == "")
        parsed = _parse(text)
        failed = parsed.isna() & text.notna()
        if failed.any():
            # one inferred format did not fit every row: parse the rest element by element
            retry = _parse(text[failed], mixed=True)
            parsed = parsed.astype("datetime64[us]").mask(failed, retry.astype("datetime64[us]"))
            failed = parsed.isna() & text.notna()
            if failed.any():
                raise _fail(table, col, s, int(np.flatnonzero(failed.to_numpy())[0]),
                            "is not a date", private, row_word)
    if isinstance(parsed.dtype, pd.DatetimeTZDtype):
        parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    low, high = pd.Timestamp.min, pd.Timestamp.max
    out = (parsed < low) | (parsed > high)
    if out.any():
        raise _fail(table, col, s, int(np.flatnonzero(out.to_numpy())[0]),
                    f"is outside the dates pandas can hold ({low.year}..{high.year})",
                    private, row_word)
    return parsed.astype(DATE)


def _parse(text: pd.Series, mixed: bool = False) -> pd.Series:
    kwargs = {"format": "mixed"} if mixed else {}
    try:
        parsed = pd.to_datetime(text, errors="coerce", **kwargs)
    except (ValueError, TypeError):
        # mixed UTC offsets (FHIR timestamps): bring everything to UTC
        parsed = pd.to_datetime(text, errors="coerce", utc=True, **kwargs)
    if isinstance(parsed.dtype, pd.DatetimeTZDtype):
        parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    return parsed
