"""Finding and reading the CSV tables of a records extract (shared by the readers).

Table files are matched case-insensitively (``ADMISSIONS.csv``, ``admissions.csv.gz``),
columns too. Files are read in chunks with only the needed columns, every value as text
(ids keep leading zeros), and an optional filter applied per chunk, so a file larger
than memory (MIMIC-III ``NOTEEVENTS`` is ~4 GB, 2M rows) never has to be held whole.
Every data row must have as many fields as the header: a stray delimiter would shift
values into the wrong columns.

Errors name the file, the column as the file spells it and the 1-based data row (or the
line, for broken CSV structure); they never show ids, dates or note text.

Examples:
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "PATIENTS.csv").write_text("ROW_ID,SUBJECT_ID,GENDER\\n1,007,F\\n2,8,M\\n")
    >>> path = find_table(d, "patients")
    >>> path.name
    'PATIENTS.csv'
    >>> read_table(path, ["subject_id", "gender"]).to_dict("list")
    {'subject_id': ['007', '8'], 'gender': ['F', 'M']}
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import logging
import os
import re
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv

from graphs.records.columns import SOURCE_FILE, SOURCE_ROW, isin, to_dates, to_numbers
from ontologies.errors import DataNotFoundError, ParseError, SchemaError

__all__ = ["find_table", "read_table", "header", "parse_dates", "parse_numbers", "sourced",
           "id_filter", "DEFAULT_CHUNKSIZE"]

log = logging.getLogger(__name__)

#: Rows per chunk: ~100k rows keeps even note chunks (a few kB of text each) in the
#: hundreds of MB while costing little per-chunk overhead on small tables.
DEFAULT_CHUNKSIZE = 100_000

_SUFFIXES = (".csv", ".csv.gz")
# pandas reports "line N" (1-based) or "row N" (0-based, header = row 0)
_LINE = re.compile(r"\b(line|row) (\d+)")
# Arrow parses the CSV structure in blocks; one row (a long note) must fit in a block.
_BLOCK = 1 << 26


def find_table(
    folder: str | os.PathLike,
    name: str,
    subfolders: Iterable[str] = ("",),
    required: bool = True,
) -> Path | None:
    """Path of table ``name`` (``name.csv`` or ``name.csv.gz``, any case) in ``folder``.

    Args:
        folder: The extract's folder.
        name: Table name, e.g. ``"admissions"``.
        subfolders: Sub-folders to look in, in order (``""`` is the folder itself).
        required: Raise if missing (else return ``None``).

    Returns:
        The path; the uncompressed file wins when both exist.

    Raises:
        DataNotFoundError: ``folder`` is missing, or the table is and ``required``.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataNotFoundError(f"records folder {str(folder)!r} does not exist")
    wanted = {name.lower() + s: i for i, s in enumerate(_SUFFIXES)}
    looked = []
    for sub in subfolders:
        where = folder / sub if sub else folder
        if not where.is_dir():
            continue
        looked.append(str(where))
        hits = sorted((wanted[p.name.lower()], p) for p in where.iterdir()
                      if p.name.lower() in wanted and p.is_file())
        if hits:
            return hits[0][1]
    if required:
        raise DataNotFoundError(
            f"table {name!r} not found: expected {name}.csv or {name}.csv.gz (any case) in "
            f"{', '.join(looked) or str(folder)}")
    return None


def header(path: Path) -> tuple[list[str], str]:
    """Column names of a CSV file and its delimiter (comma, or tab as in OMOP vocabularies).

    Raises:
        ParseError: No header row, a file that is not UTF-8 text, or broken gzip.
    """
    try:
        with _open_text(path, errors="replace") as handle:
            first = handle.readline()
        sep = "\t" if "\t" in first and "," not in first else ","
        names = pd.read_csv(path, nrows=0, sep=sep, compression=_compression(path)).columns
    except UnicodeDecodeError as err:
        raise ParseError(f"not UTF-8 text (byte {err.start} of the header): expected a "
                         "UTF-8 CSV file", path=path, line=1) from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, OSError, EOFError) as err:
        raise ParseError(f"cannot read the header ({type(err).__name__}): expected a CSV "
                         "file with a header row", path=path, line=1) from None
    return [str(c) for c in names], sep


def read_table(
    path: Path,
    columns: list[str],
    optional: Iterable[str] = (),
    keep: Callable[[pd.DataFrame], np.ndarray | pd.Series] | None = None,
    chunksize: int | None = DEFAULT_CHUNKSIZE,
    progress: bool = False,
) -> pd.DataFrame:
    """Reads the named columns of a CSV table as text, chunk by chunk.

    Args:
        path: The file (``.csv`` or ``.csv.gz``).
        columns: Required columns (any case in the file); returned lower-case.
        optional: Columns read when present, otherwise filled with missing values.
        keep: Row filter applied to each chunk (lower-case column names) before the
            chunks are joined, e.g. a patient subset or ``ISERROR`` removal.
        chunksize: Rows per chunk, or ``None`` to read at once.
        progress: Show a tqdm bar over chunks.

    Returns:
        A DataFrame of ``columns + optional`` (text values, missing as NA) whose index is
        the 1-based data row in the file (header excluded), so later errors can cite it.

    Raises:
        SchemaError: A required column is missing (names file and column).
        ParseError: The CSV is malformed: broken quotes, a row with more or fewer fields
            than the header, text that is not UTF-8 (names file and line where known).
    """
    names, sep = header(path)
    lower = {n.strip().lower(): n for n in names}
    missing = [c for c in columns if c not in lower]
    if missing:
        raise SchemaError(f"{path}: missing columns {missing} (column names are "
                          f"case-insensitive); found {sorted(lower)}")
    optional = [c for c in optional if c not in columns]
    present = [c for c in columns + optional if c in lower]
    rename = {lower[c]: c for c in present}
    try:
        # index_col=False: a first row with a surplus field must not become the index
        reader = pd.read_csv(path, usecols=list(rename), dtype=str, sep=sep,
                             chunksize=chunksize, compression=_compression(path),
                             keep_default_na=False, na_values=[""], index_col=False)
        with contextlib.closing(reader) if chunksize is not None else contextlib.nullcontext():
            chunks = [reader] if chunksize is None else reader
            if progress and chunksize is not None:
                from tqdm.auto import tqdm

                chunks = tqdm(chunks, desc=path.name, unit="chunk")
            parts = []
            for chunk in chunks:
                chunk = chunk.rename(columns=rename)
                if keep is not None:
                    chunk = chunk[np.asarray(keep(chunk), dtype=bool)]
                parts.append(chunk)
    except UnicodeDecodeError:
        raise ParseError("not UTF-8 text: expected a UTF-8 CSV file", path=path) from None
    except (pd.errors.ParserError, EOFError, OSError) as err:
        match = _LINE.search(str(err))
        line = None
        if match:
            line = int(match.group(2)) + (match.group(1) == "row")
        raise ParseError(f"malformed CSV ({type(err).__name__}): expected {len(names)} "
                         "fields per row and balanced quotes", path=path, line=line) from None
    _check_fields(path, sep, len(names))
    out = pd.concat(parts) if parts else pd.DataFrame(columns=present)
    out.index = out.index + 1
    for c in optional:
        if c not in out.columns:
            out[c] = pd.NA
    return out[columns + optional]


def _open_text(path: Path, errors: str = "strict") -> Any:
    if _compression(path) == "gzip":
        return gzip.open(path, "rt", encoding="utf-8", errors=errors, newline="")
    return open(path, encoding="utf-8", errors=errors, newline="")


def _compression(path: Path) -> str | None:
    # by name, in any case: pandas' and Arrow's inference miss "ADMISSIONS.CSV.GZ"
    return "gzip" if path.name.lower().endswith(".gz") else None


def _check_fields(path: Path, sep: str, expected: int) -> None:
    """Raises ParseError at the first data row whose field count is not the header's.

    pandas silently drops the surplus fields of a row when it reads selected columns, so
    the structure is checked apart with Arrow's CSV parser (fast; it refuses such rows)
    and, only when that fails, the line is found with the csv module.
    """
    names = [f"f{i}" for i in range(expected)]
    options = (pa_csv.ReadOptions(column_names=names, skip_rows=1, block_size=_BLOCK,
                                  use_threads=False),
               pa_csv.ParseOptions(delimiter=sep, newlines_in_values=True),
               pa_csv.ConvertOptions(include_columns=names[:1],
                                     column_types={names[0]: pa.binary()}))
    try:
        with contextlib.closing(pa.input_stream(str(path), compression=_compression(path))) \
                as stream, contextlib.closing(pa_csv.open_csv(stream, *options)) as batches:
            for _ in batches:
                pass
    except (pa.ArrowInvalid, OSError):
        line, found = _first_bad_row(path, sep, expected)
        shape = "broken quoting" if found is None else f"{found} fields"
        raise ParseError(f"malformed CSV row ({shape}): expected {expected} fields as in the "
                         "header (a stray delimiter shifts values into the wrong columns)",
                         path=path, line=line) from None


def _first_bad_row(path: Path, sep: str, expected: int) -> tuple[int | None, int | None]:
    """(line, field count) of the first data row with a wrong field count, if found."""
    limit = csv.field_size_limit(sys.maxsize)  # a note's text can exceed the 128 kB default
    try:
        with _open_text(path, errors="replace") as handle:
            rows = csv.reader(handle, delimiter=sep)
            next(rows, None)  # the header
            start = rows.line_num + 1
            for row in rows:
                if row and len(row) != expected:
                    return start, len(row)
                start = rows.line_num + 1
    except (csv.Error, OSError, EOFError):
        return start, None
    finally:
        csv.field_size_limit(limit)
    return None, None


def parse_dates(df: pd.DataFrame, columns: Iterable[str], path: Path,
                private: bool = False) -> pd.DataFrame:
    """Parses ``columns`` of a table from :func:`read_table` in place and returns it.

    Errors name the file, the column as the file spells it (upper-case for MIMIC-III),
    the 1-based data row and what is wrong, never the value (dates identify people).

    Args:
        df: A table from :func:`read_table` (its index is the data row).
        columns: Its date columns (lower-case).
        path: The file, for messages.
        private: Kept for the notes readers; date values are never shown anyway.

    Examples:
        >>> import pandas as pd, pathlib
        >>> df = pd.DataFrame({"admittime": ["2100-01-01 10:00:00", "x"]}, index=[1, 2])
        >>> parse_dates(df, ["admittime"], pathlib.Path("ADMISSIONS.csv"))
        Traceback (most recent call last):
        ...
        ontologies.errors.SchemaError: ADMISSIONS.csv: column 'ADMITTIME', data row 2:
        value (hidden, 1 character) is not a date
    """
    for col in columns:
        df[col] = to_dates(df[col], path.name, _spelled(col, path), private=private,
                           row_word="data row")
    return df


def parse_numbers(df: pd.DataFrame, columns: Iterable[str], path: Path,
                  integer: bool = False) -> pd.DataFrame:
    """Parses numeric ``columns`` of a table from :func:`read_table` in place.

    Text that is not a number, infinite values and (with ``integer``) fractions are
    errors naming the file, the column as the file spells it and the data row.

    Examples:
        >>> import pandas as pd, pathlib
        >>> df = pd.DataFrame({"seq_num": ["1", "inf"]}, index=[1, 2])
        >>> parse_numbers(df, ["seq_num"], pathlib.Path("DIAGNOSES_ICD.csv"), integer=True)
        Traceback (most recent call last):
        ...
        ontologies.errors.SchemaError: DIAGNOSES_ICD.csv: column 'SEQ_NUM', data row 2:
        value (hidden, 3 characters) is not a finite number
    """
    for col in columns:
        df[col] = to_numbers(df[col], path.name, _spelled(col, path), integer=integer,
                             row_word="data row")
    return df


def _spelled(col: str, path: Path) -> str:
    # the column as the user's file spells it: upper-case in MIMIC-III's upper-case files
    return col.upper() if path.name.split(".")[0].isupper() else col


def sourced(table: pd.DataFrame, path: Path | str) -> pd.DataFrame:
    """``table`` with provenance columns: the file's name and each row's index label.

    For a table built from :func:`read_table` output the index is the 1-based data row,
    so later validation errors can cite ``PATIENTS.csv, data row 2``; see
    :func:`graphs.records.columns.locate`.

    Examples:
        >>> import pandas as pd
        >>> out = sourced(pd.DataFrame({"x": ["a"]}, index=[7]), "PATIENTS.csv")
        >>> out[SOURCE_FILE].tolist(), out[SOURCE_ROW].tolist()
        (['PATIENTS.csv'], [7])
    """
    name = Path(path).name
    return table.assign(**{SOURCE_FILE: pd.Categorical([name] * len(table)),
                           SOURCE_ROW: table.index.to_numpy(dtype="int64")})


def id_filter(ids: Iterable[Any] | None,
              column: str = "subject_id") -> Callable[[pd.DataFrame], np.ndarray] | None:
    """Chunk filter for :func:`read_table` keeping rows whose ``column`` is in ``ids``.

    Ids are compared as text, so ``[10006]`` and ``["10006"]`` select the same rows.

    Examples:
        >>> import pandas as pd
        >>> keep = id_filter([7])
        >>> keep(pd.DataFrame({"subject_id": ["7", "8"]})).tolist()
        [True, False]
    """
    if ids is None:
        return None
    wanted = pd.Index(pd.Series(list(ids)).astype(str).str.strip().unique())
    return lambda chunk: isin(chunk[column].str.strip(), wanted)
