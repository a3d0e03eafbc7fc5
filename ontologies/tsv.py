"""Strict reading of tab-separated UTF-8 files (SNOMED CT RF2, HPO annotations).

:func:`read_tsv` checks the field count of every line at once (numpy over the raw bytes)
before pandas parses, so a truncated row is reported with its line number. Lines end at
``\\n`` (an optional ``\\r`` before it is dropped); quotes are data. A carriage return
anywhere else is refused: pandas would end a line there, which the field count does not
see, and rows would shift against their line numbers.

Examples:
    >>> import pathlib, tempfile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.txt"
    >>> _ = p.write_bytes(b"id\\tterm\\r\\n0012\\tA \\"quoted\\" term\\r\\n")
    >>> table, lines = read_tsv(p, ["id", "term"])
    >>> table.values.tolist(), lines.tolist()
    ([['0012', 'A "quoted" term']], [2])
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ontologies.errors import DataNotFoundError, ParseError

__all__ = ["read_tsv"]

_TAB, _LF, _CR = 9, 10, 13


def read_tsv(path: str | os.PathLike, required: Sequence[str], *, header_index: int = 0,
             rename: Callable[[str], str] | None = None) -> tuple[pd.DataFrame, np.ndarray]:
    """Reads a tab-separated UTF-8 file as strings, checking header and field counts.

    Every line from the header on must have as many fields as the header.

    Args:
        path: The file.
        required: Columns that must be in the header (extra columns are ignored).
        header_index: 0-based index of the header line (lines before it are skipped).
        rename: Optional function normalising header names before the check.

    Returns:
        The table (``required`` columns, all ``str``, empty fields ``""``) and the
        1-based line number of each row.

    Raises:
        DataNotFoundError: ``path`` is missing. ParseError: empty file, not UTF-8,
            missing column, a carriage return inside a line, or a row with the wrong
            number of fields (with file and line).

    Examples:
        >>> import pathlib, tempfile
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "cr.txt"
        >>> _ = p.write_bytes(b"id\\tterm\\n1\\tbroken\\rterm\\n")
        >>> read_tsv(p, ["id", "term"])
        Traceback (most recent call last):
        ...
        ontologies.errors.ParseError: ...cr.txt:2: carriage return inside the line...
    """
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"file not found: {path}")
    raw = path.read_bytes()
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ParseError(f"not UTF-8 ({err.reason})", path,
                         raw.count(b"\n", 0, err.start) + 1) from err
    data = np.frombuffer(raw, dtype=np.uint8)
    ends = np.append(np.flatnonzero(data == _LF), len(raw))  # end of every line
    starts = np.concatenate([[0], ends[:-1] + 1])
    line_of = np.searchsorted(ends, np.flatnonzero(data == _TAB))
    tabs = np.bincount(line_of, minlength=len(ends))
    size = ends - starts
    carriage = np.zeros(len(ends), dtype=bool)  # a trailing \r (CRLF files) is not content
    carriage[size > 0] = data[ends[size > 0] - 1] == _CR
    stray = np.flatnonzero(data == _CR)
    stray = stray[~np.isin(stray + 1, ends)]  # a \r not right before a line end
    if len(stray):
        line = int(np.searchsorted(ends, stray[0]))
        raise ParseError(f"carriage return inside the line (byte {int(stray[0])}): expected "
                         "lines ending in \\n or \\r\\n and no \\r in values", path, line + 1)
    blank = size - carriage <= 0
    if header_index >= len(ends) or blank[header_index:].all():
        raise ParseError(f"empty file: expected a header line with {', '.join(required)}", path)
    header_text = raw[starts[header_index]:ends[header_index]].decode("utf-8").rstrip("\r")
    header = [rename(h) if rename else h.strip() for h in header_text.split("\t")]
    missing = [c for c in required if c not in header]
    if missing:
        raise ParseError(f"missing column(s) {missing} in header {header}; expected "
                         f"{list(required)}", path, header_index + 1)
    body = np.arange(len(ends)) > header_index
    wrong = body & ~blank & (tabs != tabs[header_index])
    if wrong.any():
        line = int(np.flatnonzero(wrong)[0])
        raise ParseError(f"row has {tabs[line] + 1} fields, expected {tabs[header_index] + 1} "
                         f"({', '.join(header)})", path, line + 1)
    rows = np.flatnonzero(body & ~blank) + 1
    if not len(rows):
        return pd.DataFrame({c: pd.Series([], dtype=str) for c in required}), rows
    table = pd.read_csv(io.BytesIO(raw), sep="\t", header=None, skiprows=header_index + 1,
                        names=header, usecols=list(required), dtype=str, na_filter=False,
                        quoting=csv.QUOTE_NONE, encoding="utf-8", skip_blank_lines=True)
    return table[list(required)], rows
