"""Column specs of the patient-record tables and :func:`coerce_table`.

Every table of :class:`~graphs.records.schema.PatientRecords` is a long pandas table with
fixed required columns (extra columns are kept). :func:`coerce_table` turns a user
DataFrame into that shape: lower-cased column names, ids as pandas ``"string"``, dates
as ``datetime64[ns]`` (time-zone aware values are converted to UTC and made naive),
``seq_num`` as nullable ``Int64`` and ``value`` as ``float64``.

Privacy: error messages name the table (or the source file, see :func:`locate`), the
column and the row, and say what kind of value is wrong ("is not a date"). They show the
offending value only for columns of codes and categories (:data:`SHOWN_COLUMNS`), never
identifiers, dates, numbers, free text, or anything in the ``notes`` table.

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
    ontologies.errors.SchemaError: patients: column 'birth_date', row 1:
    value (hidden, 9 characters) is not a date
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

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
    "SHOWN_COLUMNS",
    "SOURCE_FILE",
    "SOURCE_ROW",
    "empty_table",
    "coerce_table",
    "describe_value",
    "locate",
    "to_dates",
    "to_numbers",
    "isin",
    "index_of",
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
#: Columns (of the tables, or of the source files, lower-cased) whose values may appear in
#: messages: codes and categories, useful to find and harmless to show. Every other
#: column is hidden: ids, dates, free text, paths, and numbers too (a misaligned row can
#: put an id or a year there; the message says "is not a number" instead).
SHOWN_COLUMNS = frozenset({
    "code", "source_code", "mapping", "sex", "modality", "visit_type", "unit", "gender",
    "icd_version", "icd_code", "icd9_code", "vocabulary_id", "concept_code"})
#: Provenance columns a reader may add to any table: the source file (its name) and the
#: row in it (1-based data row of a CSV file, entry index of a JSON bundle). Messages
#: cite them (see :func:`locate`); ``graphs.records.registry.finish`` drops them.
SOURCE_FILE = "_source_file"
SOURCE_ROW = "_source_row"

SEXES = ("F", "M", "U")
MAPPINGS = ("direct", "gem_exact", "gem_approximate", "gem_combination", "no_map")
MODALITIES = ("image", "volume", "slide", "signal", "audio", "genomic", "video")

# Longest value echoed in a message; longer ones are likely text pasted into the wrong column.
_MAX_SHOWN = 40
# Largest integer a float64 holds exactly: text numbers beyond it would be rounded silently.
_EXACT = 2**53


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


def _arrow_strings(values: object) -> pa.Array:
    """``values`` as one Arrow string array (cheap for Arrow-backed string columns)."""
    if isinstance(values, np.ndarray) and values.dtype == object:
        values = pd.array(values, dtype=pd.StringDtype("pyarrow", na_value=pd.NA))
    out = pa.array(pd.Series(values).astype(pd.StringDtype("pyarrow", na_value=pd.NA)).array)
    return out.combine_chunks() if isinstance(out, pa.ChunkedArray) else out


def index_of(values: object, keys: object) -> np.ndarray:
    """Position of each of ``values`` in ``keys`` (-1 where absent or missing).

    Equal to ``pd.Index(keys).get_indexer(values)`` for unique string keys, computed with
    Arrow's hash lookup, several times faster than pandas' object-array ``get_indexer``
    on millions of ids (``benchmarks/bench_cohort_build.py`` times the builder using it).

    Examples:
        >>> index_of(pd.Series(["b", None, "z", "a"]), ["a", "b"]).tolist()
        [1, -1, -1, 0]
    """
    found = pc.index_in(_arrow_strings(values), value_set=_arrow_strings(keys),
                        skip_nulls=True)
    return np.asarray(pc.fill_null(found, -1).to_numpy(zero_copy_only=False), dtype=np.int64)


def describe_value(table: str, column: str, value: object) -> str:
    """How an offending value may appear in a message without leaking private data.

    Only values of :data:`SHOWN_COLUMNS` (codes and categories; any spelling case)
    outside the ``notes`` table are shown; other values are described by length.

    Examples:
        >>> describe_value("diagnoses", "code", "XX:1")
        "value 'XX:1'"
        >>> describe_value("PATIENTS.csv", "DOB", "2075-13-01")
        'value (hidden, 10 characters)'
        >>> describe_value("notes", "category", "Patient is doing well")
        'value (hidden, 21 characters)'
    """
    text = str(value)
    column = str(column).strip().lower()
    shown = (table != "notes" and len(text) <= _MAX_SHOWN
             and (column in SHOWN_COLUMNS or column.endswith("_concept_id")))
    if shown:
        return f"value {text!r}"
    return f"value (hidden, {len(text)} character{'' if len(text) == 1 else 's'})"


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
            cast (including infinite numbers); the message names table, column and row, or
            the source file and row when the table has provenance columns (see
            :func:`locate`).
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
    cast = {DATE: _to_dates, "Int64": _to_int, "float64": _to_float}
    for col, dtype in spec.items():
        out[col] = cast.get(dtype, _to_string)(out[col], _in_table(out, table, col))
    extra = [c for c in out.columns if c not in spec]
    return out[list(spec) + extra]


def _spec(table: str) -> dict[str, str]:
    if table not in TABLES:
        raise SchemaError(f"unknown table {table!r}: expected one of {', '.join(TABLES)}")
    return TABLES[table]


def locate(df: pd.DataFrame, table: str, rows: int | Sequence[int],
           column: str | None = None) -> str:
    """Message prefix saying where rows of ``table`` are: their file and row when known.

    Without the provenance columns (:data:`SOURCE_FILE`, :data:`SOURCE_ROW`) the rows are
    the 0-based positions in the table; with them, the file and its data row (the entry
    index for ``.json`` bundles). Never shows a value.

    Args:
        df: The table the positions refer to.
        table: Its name.
        rows: One position or several (e.g. the rows of a repeated id).
        column: The column at fault, if one is.

    Examples:
        >>> import pandas as pd
        >>> df = pd.DataFrame({"sex": ["X"]})
        >>> locate(df, "patients", 0, "sex")
        "patients: column 'sex', row 0"
        >>> df = df.assign(**{SOURCE_FILE: ["PATIENTS.csv"], SOURCE_ROW: [4]})
        >>> locate(df, "patients", [0], "sex")
        "PATIENTS.csv: column 'sex' (patients table), data row 4"
    """
    pos = [int(rows)] if isinstance(rows, (int, np.integer)) else [int(r) for r in rows]
    col = "" if column is None else f"column {column!r}"
    if SOURCE_FILE not in df.columns or SOURCE_ROW not in df.columns:
        rows_word = "row" if len(pos) == 1 else "rows"
        return f"{table}: {col + ', ' if col else ''}{rows_word} {', '.join(map(str, pos))}"
    files = [str(df[SOURCE_FILE].iloc[p]) for p in pos]
    numbers = [str(df[SOURCE_ROW].iloc[p]) for p in pos]
    what = f"{col} ({table} table)" if col else f"{table} table"
    if len(set(files)) == 1:
        return f"{files[0]}: {what}, {_row_word(files[0], len(pos))} {', '.join(numbers)}"
    places = ", ".join(f"{f} {_row_word(f)} {n}" for f, n in zip(files, numbers, strict=True))
    return f"{what}: {places}"


def _row_word(file: str, count: int = 1) -> str:
    # rows of a JSON bundle are its entries; of a CSV file, its data rows (header excluded)
    if file.lower().endswith(".json"):
        return "entry" if count == 1 else "entries"
    return "data row" if count == 1 else "data rows"


def to_dates(s: pd.Series, where: str, col: str, private: bool = False,
             row_word: str = "row") -> pd.Series:
    """Parses ``s`` as ``datetime64[ns]``; errors name ``where``, ``col`` and the index label.

    The offending value is never shown (dates of birth and visits identify people): the
    message says what kind of problem it is.

    Args:
        s: Values (text or datetimes).
        where: Table or file name for the message.
        col: Column name for the message.
        private: Kept for callers reading notes files; date values are always hidden.
        row_word: How rows are called in the message (e.g. ``"data row"``).

    Examples:
        >>> import pandas as pd
        >>> to_dates(pd.Series(["2100-01-01", "soon"], index=[1, 2]), "ADMISSIONS.csv",
        ...          "ADMITTIME", row_word="data row")
        Traceback (most recent call last):
        ...
        ontologies.errors.SchemaError: ADMISSIONS.csv: column 'ADMITTIME', data row 2:
        value (hidden, 4 characters) is not a date
    """
    return _to_dates(s, _labelled(s, where, col, row_word, private))


def to_numbers(s: pd.Series, where: str, col: str, integer: bool = False,
               row_word: str = "row") -> pd.Series:
    """Parses text ``s`` as ``float64`` (or ``Int64`` if ``integer``); errors name the row.

    Infinite values, and integers beyond what a float holds exactly (2**53), are errors,
    not silently stored.

    Args:
        s: Values (text or numbers).
        where: Table or file name for the message.
        col: Column name for the message.
        integer: Whole numbers only (``Int64``).
        row_word: How rows are called in the message (e.g. ``"data row"``).

    Examples:
        >>> import pandas as pd
        >>> to_numbers(pd.Series(["1", None, "3"]), "x.csv", "seq_num", integer=True).tolist()
        [1, <NA>, 3]
        >>> to_numbers(pd.Series(["1.5", "inf"], index=[1, 2]), "measurement.csv",
        ...            "value_as_number", row_word="data row")
        Traceback (most recent call last):
        ...
        ontologies.errors.SchemaError: measurement.csv: column 'value_as_number', data row 2:
        value (hidden, 3 characters) is not a finite number
    """
    fail = _labelled(s, where, col, row_word)
    return _to_int(s, fail) if integer else _to_float(s, fail)


Fail = Callable[[int, str], SchemaError]


def _labelled(s: pd.Series, where: str, col: str, row_word: str,
              private: bool = False) -> Fail:
    """Error maker for a file column: rows are the index labels of ``s``."""
    def fail(pos: int, expected: str) -> SchemaError:
        shown = describe_value("notes" if private else where, col, s.iloc[pos])
        return SchemaError(f"{where}: column {col!r}, {row_word} {s.index[pos]}: {shown} "
                           f"{expected}")
    return fail


def _in_table(df: pd.DataFrame, table: str, col: str) -> Fail:
    """Error maker for a table column: rows located by :func:`locate`."""
    def fail(pos: int, expected: str) -> SchemaError:
        shown = describe_value(table, col, df[col].iloc[pos])
        return SchemaError(f"{locate(df, table, pos, col)}: {shown} {expected}")
    return fail


def _to_string(s: pd.Series, fail: Fail) -> pd.Series:
    if isinstance(s.dtype, pd.StringDtype) and s.dtype.na_value is pd.NA:
        return s
    if pd.api.types.is_float_dtype(s.dtype):
        values = s.to_numpy(dtype="float64", na_value=np.nan)
        infinite = np.isinf(values)
        if infinite.any():
            raise fail(int(np.flatnonzero(infinite)[0]), "is not a finite number: expected "
                       "an identifier")
        # ids read as floats because of missing values: 123.0 must become "123", not "123.0"
        finite = ~np.isnan(values)
        whole = values[finite]
        if np.all(whole == np.round(whole)) and np.all(np.abs(whole) <= _EXACT):
            return s.astype("Int64").astype(STRING)
    if pd.api.types.is_bool_dtype(s.dtype) or pd.api.types.is_datetime64_any_dtype(s.dtype):
        raise fail(0, f"has dtype {s.dtype}: expected text")
    out = s.astype(STRING)
    # empty or blank cells are missing, as in the CSV files the readers load
    return out.mask(out.str.strip() == "")


def _numbers(s: pd.Series, fail: Fail, expected: str) -> tuple[pd.Series, np.ndarray]:
    """``s`` as numbers and its float values; text that is no number fails."""
    num = pd.to_numeric(s, errors="coerce")
    bad = (num.isna() & s.notna() & (s.astype(STRING).str.strip() != "")).to_numpy(dtype=bool)
    if bad.any():
        raise fail(int(np.flatnonzero(bad)[0]), expected)
    values = num.to_numpy(dtype="float64", na_value=np.nan)
    infinite = np.isinf(values)
    if infinite.any():
        raise fail(int(np.flatnonzero(infinite)[0]), "is not a finite number")
    return num, values


def _to_int(s: pd.Series, fail: Fail) -> pd.Series:
    num, values = _numbers(s, fail, "is not an integer")
    if pd.api.types.is_signed_integer_dtype(num.dtype):
        return num.astype("Int64")  # already exact: no float round trip
    known = ~np.isnan(values)
    frac = known & (values != np.round(values))
    if frac.any():
        raise fail(int(np.flatnonzero(frac)[0]), "is not an integer")
    huge = known & (np.abs(values) > _EXACT)
    if huge.any():
        raise fail(int(np.flatnonzero(huge)[0]), "is not an integer between -2**53 and 2**53")
    return pd.Series(values, index=s.index).astype("Int64")


def _to_float(s: pd.Series, fail: Fail) -> pd.Series:
    num, _ = _numbers(s, fail, "is not a number")
    return num.astype("float64")


def _to_dates(s: pd.Series, fail: Fail) -> pd.Series:
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
                raise fail(int(np.flatnonzero(failed.to_numpy())[0]), "is not a date")
    if isinstance(parsed.dtype, pd.DatetimeTZDtype):
        parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    low, high = pd.Timestamp.min, pd.Timestamp.max
    out = (parsed < low) | (parsed > high)
    if out.any():
        raise fail(int(np.flatnonzero(out.to_numpy())[0]),
                   f"is outside the dates pandas can hold ({low.year}..{high.year})")
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
