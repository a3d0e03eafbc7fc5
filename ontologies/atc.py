"""ATC-style drug classification from a user-supplied table (registry name ``"atc"``).

medkg does not ship the WHO ATC index (its licence forbids redistribution); export it
as CSV/TSV with a code and a name column and pass ``path=``. Header variants such as
``code``/``ATC code``/``atc_code`` and ``name``/``ATC level name``/``label`` are
recognised case-insensitively.

The level follows from the code length (1, 3, 4, 5, 7 characters -> levels 1..5,
e.g. ``A``, ``A10``, ``A10B``, ``A10BA``, ``A10BA02``). Levels 1-4 are ``category``
concepts, level 5 (the chemical substance) is ``drug``; each code ``is_a`` its parent
level. If the parent is missing from the table, the edge goes to the nearest ancestor
that is present (no edge if none is) and a warning says how many parents were missing.

The WHO export repeats a level-5 code once per route of administration (DDD rows);
repeated codes with the same name are merged, repeated codes with different names are
an error.

Examples:
    >>> import pathlib, tempfile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "atc.csv"
    >>> _ = p.write_text("ATC code,ATC level name\\nX,DEMO GROUP\\nX01,DEMO SUBGROUP\\n"
    ...                  "X01A,demo class\\nX01AA,demo subclass\\nX01AA01,demozole\\n")
    >>> t = read_atc(p)
    >>> t.concepts[["id", "semantic_type", "atc_level"]].values.tolist()[-2:]
    [['ATC:X01AA', 'category', 4], ['ATC:X01AA01', 'drug', 5]]
    >>> t.relations[["source", "target"]].values.tolist()[-1]
    ['ATC:X01AA01', 'ATC:X01AA']
"""

from __future__ import annotations

import csv
import os
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from ontologies.catalog import READERS
from ontologies.errors import ConfigError, DataNotFoundError, ParseError
from ontologies.schema import CodeSystemTables, make_concepts, make_relations

__all__ = ["read_atc", "atc_level", "LEVEL_LENGTHS", "CODE_HEADERS", "NAME_HEADERS"]

#: Code length -> ATC level.
LEVEL_LENGTHS = {1: 1, 3: 2, 4: 3, 5: 4, 7: 5}
#: Accepted header names (lower-cased, punctuation folded to spaces).
CODE_HEADERS = ("code", "atc code", "atc", "atccode", "atc cd", "atc_code")
NAME_HEADERS = ("name", "atc level name", "atc name", "level name", "label", "atc_name",
                "description", "term")
_CODE = re.compile(r"^[A-Z](\d\d([A-Z]([A-Z](\d\d)?)?)?)?$")
_EXPECTED_CODE = ("an ATC code of 1, 3, 4, 5 or 7 characters such as A, A10, A10B, A10BA or "
                  "A10BA02")


def atc_level(code: str) -> int:
    """ATC level (1..5) of a code, from its shape.

    Examples:
        >>> atc_level("A10BA02"), atc_level("A10")
        (5, 2)
        >>> atc_level("A10BA0")
        Traceback (most recent call last):
        ...
        ontologies.errors.ConfigError: ATC code 'A10BA0': expected an ATC code of ...
    """
    code = str(code).strip().upper()
    if not _CODE.match(code):
        raise ConfigError(f"ATC code {code!r}: expected {_EXPECTED_CODE}")
    return LEVEL_LENGTHS[len(code)]


def _fold(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", str(name).lower()).strip()


def _find_column(header: list[str], wanted: tuple[str, ...], given: str | None) -> str | None:
    if given is not None:
        return given if given in header else None
    folded = {_fold(h): h for h in header}
    return next((folded[_fold(w)] for w in wanted if _fold(w) in folded), None)


def _read(path: Path, sep: str | None) -> pd.DataFrame:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        line = path.read_bytes().count(b"\n", 0, err.start) + 1
        raise ParseError(f"not UTF-8 ({err.reason}); save the table as UTF-8", path, line) \
            from err
    lines = text.splitlines()
    first = next((line for line in lines if line.strip()), "")
    if not first:
        raise ParseError("empty file: expected a header with a code and a name column", path)
    if not lines[0].strip():  # pandas would take the blank line for the header
        raise ParseError(f"line 1 is blank: expected the header (a code and a name column) "
                         f"on line 1, found it on line {lines.index(first) + 1}", path, 1)
    if sep is None:
        suffix = path.suffix.lower()
        sep = "\t" if suffix in (".tsv", ".tab") or "\t" in first else (
            ";" if ";" in first and "," not in first else ",")
    try:
        # blank lines are kept (and dropped below) so row i stays on file line i + 2
        return pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, na_filter=False,
                           encoding="utf-8-sig", skip_blank_lines=False,
                           quoting=csv.QUOTE_MINIMAL)
    except pd.errors.ParserError as err:
        found = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(err))
        if found:
            raise ParseError(f"row has {found.group(3)} fields, expected {found.group(1)} "
                             f"(separator {sep!r})", path, int(found.group(2))) from err
        raise ParseError(f"cannot parse the table: {err}", path) from err


@READERS.register("atc")
def read_atc(
    path: str | os.PathLike,
    *,
    sep: str | None = None,
    code_column: str | None = None,
    name_column: str | None = None,
) -> CodeSystemTables:
    """Reads an ATC-format table (code, name) into concepts and ``is_a`` relations.

    Args:
        path: CSV or TSV file with a header line.
        sep: Field separator; None picks tab for ``.tsv`` or a tab in the header line,
            else ``;`` or ``,``.
        code_column: Exact header of the code column; None recognises the usual names.
        name_column: Exact header of the name column; None recognises the usual names.

    Returns:
        Validated tables named ``"atc"``: ids ``ATC:<code>``, extra column ``atc_level``.

    Raises:
        DataNotFoundError: ``path`` is missing.
        ParseError: Missing column, bad code, empty name, wrong field count, or one code
            with two different names (with file and line).
    """
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"ATC table not found: {path}")
    table = _read(path, sep)
    header = [str(c) for c in table.columns]
    code_col = _find_column(header, CODE_HEADERS, code_column)
    name_col = _find_column(header, NAME_HEADERS, name_column)
    if code_col is None or name_col is None:
        what = "code" if code_col is None else "name"
        variants = CODE_HEADERS if code_col is None else NAME_HEADERS
        raise ParseError(f"no {what} column in header {header}: expected one of "
                         f"{', '.join(repr(v) for v in variants)} (any case)", path, 1)
    codes = table[code_col].astype("string").str.strip().str.upper()
    names = table[name_col].astype("string").str.strip()
    lines = np.arange(len(table)) + 2  # header is line 1
    filled = (codes != "") | (names != "")
    codes, names, lines = codes[filled], names[filled], lines[filled.to_numpy()]
    bad = ~codes.str.match(_CODE.pattern)
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise ParseError(f"code {codes.iloc[row]!r}: expected {_EXPECTED_CODE}", path,
                         int(lines[row]))
    empty = names == ""
    if empty.any():
        row = int(np.flatnonzero(empty.to_numpy())[0])
        raise ParseError(f"code {codes.iloc[row]!r} has an empty name", path, int(lines[row]))
    rows = pd.DataFrame({"code": codes.to_numpy(), "name": names.to_numpy(), "line": lines})
    rows["key"] = rows["name"].str.lower().str.split().str.join(" ")
    distinct = rows.drop_duplicates(["code", "key"])
    clash = distinct["code"].duplicated(keep=False)
    if clash.any():
        pair = distinct[distinct["code"] == distinct.loc[clash, "code"].iloc[0]].iloc[:2]
        raise ParseError(f"code {pair['code'].iloc[0]!r} has two names: "
                         f"{pair['name'].iloc[0]!r} (line {pair['line'].iloc[0]}) and "
                         f"{pair['name'].iloc[1]!r}; expected one name per code", path,
                         int(pair["line"].iloc[1]))
    rows = distinct.reset_index(drop=True)
    level = rows["code"].str.len().map(LEVEL_LENGTHS).astype("int64")
    parent, missing = _parents(rows["code"], level)
    if missing:
        warnings.warn(f"{path}: {missing} ATC codes have no parent row; linked to the nearest "
                      "ancestor present (codes without one are roots)", UserWarning,
                      stacklevel=2)
    concepts = make_concepts("ATC:" + rows["code"], rows["name"],
                             np.where(level == 5, "drug", "category"),
                             atc_level=level.astype("Int64"))
    has = parent.notna()
    relations = make_relations("ATC:" + rows.loc[has, "code"], "is_a",
                               "ATC:" + parent[has], provenance="atc")
    counts = level.value_counts().sort_index()
    metadata = {"source": str(path), "n_missing_parents": missing,
                "n_codes_per_level": {int(k): int(v) for k, v in counts.items()},
                "note": "user-supplied table; WHO ATC content is not distributed with medkg"}
    return CodeSystemTables("atc", concepts, relations, metadata).validate()


def _parents(codes: pd.Series, level: pd.Series) -> tuple[pd.Series, int]:
    """Nearest present ancestor of each code (vectorised over the four prefix lengths)."""
    present = set(codes)
    parent = pd.Series(pd.NA, index=codes.index, dtype="string")
    lengths = sorted(LEVEL_LENGTHS)
    for length in lengths[:-1]:  # shorter prefixes first, longer ones overwrite
        prefix = codes.str[:length]
        ok = (codes.str.len() > length) & prefix.isin(present)
        parent[ok] = prefix[ok]
    # The parent level's code length (level 1 has none); a code with no ancestor in the
    # table at all keeps a missing parent, which is not "direct" either.
    parent_length = level.map({lvl: lengths[lvl - 2] for lvl in range(2, 6)})
    direct = (parent.str.len() == parent_length).fillna(False).to_numpy(dtype=bool)
    missing = int(((level > 1).to_numpy() & ~direct).sum())
    return parent, missing
