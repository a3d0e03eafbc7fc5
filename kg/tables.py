"""Table helpers shared by the graph, its builders and its views.

The knowledge graph keeps two pandas tables. These helpers give them one canonical
form (core columns typed ``string``/``float64``, a fresh ``RangeIndex``), concatenate
tables without losing dtypes, collapse duplicate concepts, and describe/restore column
dtypes so every view (networkx, RDF, parquet) round-trips exactly.

Examples:
    >>> from ontologies.schema import make_concepts
    >>> a = make_concepts(["A:1"], ["one"], "disease", depth=1)
    >>> b = make_concepts(["A:1", "A:2"], [None, "two"], "disease", note=["x", "y"])
    >>> c = combine_concepts(concat_frames([a, b]))
    >>> c[["id", "label", "depth", "note"]].astype(object).values.tolist()
    [['A:1', 'one', 1, 'x'], ['A:2', 'two', <NA>, 'y']]
    >>> dtype_spec(c)["depth"]
    'Int64'
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from ontologies.errors import SchemaError
from ontologies.schema import CONCEPT_COLUMNS, RELATION_ATTRIBUTES, RELATION_COLUMNS

__all__ = [
    "CONCEPT_STRING_COLUMNS",
    "RELATION_STRING_COLUMNS",
    "normalise_concepts",
    "normalise_relations",
    "empty_relations",
    "concat_frames",
    "combine_concepts",
    "dtype_spec",
    "check_dtype_spec",
    "apply_dtype_spec",
    "merge_metadata",
    "python_values",
    "fill_code_system",
    "infer_column",
]

logger = logging.getLogger(__name__)

CONCEPT_STRING_COLUMNS = list(CONCEPT_COLUMNS)
RELATION_STRING_COLUMNS = ["source", "relation", "target", "provenance"]

# Dtypes that cannot hold a missing value, and the nullable dtype used when a
# concatenation introduces one (int64 -> Int64 keeps integers integers).
_NULLABLE = {"int64": "Int64", "int32": "Int32", "bool": "boolean"}


def _require(df: Any, columns: list[str], name: str) -> None:
    if not isinstance(df, pd.DataFrame):
        raise SchemaError(f"{name}: expected a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise SchemaError(f"{name}: missing columns {missing}; expected {columns} first")
    if not df.columns.is_unique:
        dup = df.columns[df.columns.duplicated()].tolist()
        raise SchemaError(f"{name}: duplicate column names {dup}")


def _order(df: pd.DataFrame, core: list[str]) -> pd.DataFrame:
    extra = [c for c in df.columns if c not in core]
    return df[core + extra].reset_index(drop=True)


def normalise_concepts(concepts: pd.DataFrame, name: str = "concepts") -> pd.DataFrame:
    """Core columns first and typed ``string``; extra columns keep their dtype.

    Examples:
        >>> df = pd.DataFrame({"id": ["A:1"], "code": ["1"], "label": ["x"],
        ...                    "semantic_type": ["disease"], "system": ["A"], "n": [3]})
        >>> normalise_concepts(df).dtypes.astype(str).tolist()
        ['string', 'string', 'string', 'string', 'string', 'int64']
    """
    _require(concepts, CONCEPT_COLUMNS, name)
    out = _order(concepts, CONCEPT_COLUMNS)
    cast = {c: "string" for c in CONCEPT_STRING_COLUMNS if str(out[c].dtype) != "string"}
    return out.astype(cast) if cast else out


def normalise_relations(relations: pd.DataFrame | None,
                        name: str = "relations") -> pd.DataFrame:
    """Core columns first; endpoints/provenance ``string``, attributes ``float64``.

    Raises:
        SchemaError: A column is missing or an attribute value is not a number.

    Examples:
        >>> df = pd.DataFrame({"source": ["A:1"], "relation": ["is_a"], "target": ["A:2"],
        ...                    "probability": ["0.5"], "frequency": [None],
        ...                    "severity": [None], "provenance": [None]})
        >>> normalise_relations(df)["probability"].tolist()
        [0.5]
        >>> normalise_relations(df.assign(severity=["high"]))
        Traceback (most recent call last):
        ...
        ontologies.errors.SchemaError: relations: severity 'high' at row 0 is not a number in [0, 1]
    """
    if relations is None:
        return empty_relations()
    _require(relations, RELATION_COLUMNS, name)
    out = _order(relations, RELATION_COLUMNS)
    cast: dict[str, str] = {c: "string" for c in RELATION_STRING_COLUMNS
                            if str(out[c].dtype) != "string"}
    for col in RELATION_ATTRIBUTES:
        if str(out[col].dtype) == "float64":
            continue
        values = pd.to_numeric(out[col], errors="coerce")
        bad = values.isna() & out[col].notna()
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise SchemaError(f"{name}: {col} {out[col].iloc[row]!r} at row {row} is not a "
                              "number in [0, 1]")
        out[col] = values.astype("float64")
    return out.astype(cast) if cast else out


def empty_relations() -> pd.DataFrame:
    """An empty relations table with the canonical dtypes.

    Examples:
        >>> list(empty_relations().columns) == RELATION_COLUMNS
        True
    """
    return pd.DataFrame({
        c: pd.Series([], dtype="string" if c in RELATION_STRING_COLUMNS else "float64")
        for c in RELATION_COLUMNS})


def _nullable(dtype: Any) -> Any:
    return _NULLABLE.get(str(dtype), dtype)


def concat_frames(frames: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """Concatenates tables whose extra columns differ, keeping dtypes where possible.

    A column absent from some tables is filled with missing values of a nullable form of
    its dtype (``int64`` -> ``Int64``, ``bool`` -> ``boolean``) instead of pandas'
    default ``object``/``float64`` upcast; a column typed differently across tables, one
    of them a string, becomes ``string``.

    Examples:
        >>> a = pd.DataFrame({"id": pd.Series(["a"], dtype="string"), "flag": [True]})
        >>> b = pd.DataFrame({"id": pd.Series(["b"], dtype="string")})
        >>> concat_frames([a, b]).dtypes.astype(str).tolist()
        ['string', 'boolean']
    """
    frames = [f for f in frames if f is not None]
    if not frames:
        raise SchemaError("nothing to concatenate: expected at least one table")
    if len(frames) == 1:
        return frames[0].reset_index(drop=True)
    columns: dict[str, Any] = {}
    kinds: dict[str, set[str]] = {}
    for frame in frames:
        for col, dtype in frame.dtypes.items():
            columns.setdefault(col, dtype)
            kinds.setdefault(col, set()).add(str(dtype))
    # A column typed differently across tables, one of them a string: unify on "string".
    stringy = {c for c, k in kinds.items()
               if len(k) > 1 and any(pd.api.types.is_string_dtype(pd.api.types.pandas_dtype(d))
                                     and d != "object" for d in k)}
    aligned = []
    for frame in frames:
        frame = frame.copy(deep=False)
        for col, dtype in columns.items():
            if col not in frame.columns:
                fill = "string" if col in stringy else _nullable(dtype)
                frame[col] = pd.Series(index=frame.index, dtype=fill)  # all missing
            elif col in stringy and str(frame[col].dtype) != "string":
                frame[col] = frame[col].astype("string")
        aligned.append(frame[list(columns)])
    return pd.concat(aligned, ignore_index=True)


def combine_concepts(concepts: pd.DataFrame, name: str = "concepts") -> pd.DataFrame:
    """Collapses rows sharing an id: the first row wins, its gaps are filled from later rows.

    Examples:
        >>> from ontologies.schema import make_concepts
        >>> df = make_concepts(["A:1", "A:2", "A:1"], ["one", "two", "uno"], "disease",
        ...                    note=[None, "b", "c"])
        >>> combine_concepts(df)[["id", "label", "note"]].values.tolist()
        [['A:1', 'one', 'c'], ['A:2', 'two', 'b']]
    """
    dup = concepts["id"].duplicated()
    if not dup.any():
        return concepts.reset_index(drop=True)
    n_ids = concepts.loc[dup, "id"].nunique()
    logger.info("%s: %d id(s) occur more than once (%d extra rows); kept the first row of "
                "each and filled its missing attributes from later rows", name, n_ids,
                int(dup.sum()))
    dtypes = concepts.dtypes
    # groupby.first() takes the first non-missing value per column, in row order.
    out = concepts.groupby("id", sort=False, dropna=False).first().reset_index()
    out = out[list(concepts.columns)]
    return out.astype({c: d for c, d in dtypes.items() if out[c].dtype != d}, errors="ignore")


def dtype_spec(df: pd.DataFrame) -> dict[str, str]:
    """Column name -> dtype name, in column order (JSON-serialisable).

    Examples:
        >>> dtype_spec(pd.DataFrame({"a": [1.0], "b": [True]}))
        {'a': 'float64', 'b': 'bool'}
    """
    return {str(c): str(d) for c, d in df.dtypes.items()}


def check_dtype_spec(spec: Any, name: str = "dtype spec") -> Mapping[str, str] | None:
    """Returns ``spec`` if it is None or a ``{column: dtype}`` mapping of strings.

    Specs come from files (metadata.json, RDF), so their shape is checked before use.

    Raises:
        SchemaError: Anything else, naming ``name``.

    Examples:
        >>> check_dtype_spec({"id": "string"})
        {'id': 'string'}
        >>> check_dtype_spec(["id"], "metadata.json: concept_dtypes")
        Traceback (most recent call last):
        ...
        ontologies.errors.SchemaError: metadata.json: concept_dtypes holds a list; expected ...
    """
    if spec is None or (isinstance(spec, Mapping) and all(
            isinstance(k, str) and isinstance(v, str) for k, v in spec.items())):
        return spec
    found = "non-string keys or dtypes" if isinstance(spec, Mapping) \
        else f"a {type(spec).__name__}"
    raise SchemaError(f'{name} holds {found}; expected an object {{"column": "dtype", ...}}')


def apply_dtype_spec(df: pd.DataFrame, spec: Mapping[str, str] | None,
                     name: str = "table") -> pd.DataFrame:
    """Reorders and casts ``df`` to ``spec``; columns absent from ``df`` are added empty.

    Columns of ``df`` that ``spec`` does not name are kept at the end unchanged.

    Raises:
        SchemaError: ``spec`` is not a {column: dtype} mapping, or a column cannot take
            its recorded dtype.

    Examples:
        >>> df = pd.DataFrame({"b": [1.0, 2.0], "a": ["x", None]})
        >>> out = apply_dtype_spec(df, {"a": "string", "b": "int64", "c": "float64"})
        >>> out.dtypes.astype(str).tolist()
        ['string', 'int64', 'float64']
    """
    if not check_dtype_spec(spec, f"{name}: dtype spec"):
        return df
    out = df.copy(deep=False)
    for col, dtype in spec.items():
        if col not in out.columns:
            out[col] = pd.Series(pd.NA if dtype != "float64" else np.nan,
                                 index=out.index, dtype=object)
        if str(out[col].dtype) == dtype:
            continue
        try:
            if dtype in ("int64", "int32", "Int64", "Int32") and out[col].dtype == object:
                out[col] = pd.to_numeric(out[col])
            out[col] = out[col].astype(dtype)
        except (TypeError, ValueError) as err:
            raise SchemaError(f"{name}: column {col!r} cannot be read as {dtype}: {err}") \
                from err
    extra = [c for c in out.columns if c not in spec]
    return out[list(spec) + extra]


def merge_metadata(first: Mapping[str, Any], second: Mapping[str, Any]) -> dict[str, Any]:
    """Merges two metadata dicts: nested dicts merge, lists union, ``first`` wins otherwise.

    Examples:
        >>> merge_metadata({"sources": {"a": 1}, "n": 1}, {"sources": {"b": 2}, "n": 2})
        {'sources': {'a': 1, 'b': 2}, 'n': 1}
    """
    out = dict(first)
    out.update({k: v for k, v in second.items() if k not in first})
    for key in [k for k in first if k in second]:
        a, b = first[key], second[key]
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            out[key] = merge_metadata(a, b)
        elif isinstance(a, list) and isinstance(b, list):
            out[key] = a + [x for x in b if x not in a]
    return out


def python_values(series: pd.Series, missing: Any = None) -> list[Any]:
    """The column as plain Python values (``int``, ``float``, ``bool``, ``str``), with
    ``missing`` in place of NaN/NA.

    Examples:
        >>> python_values(pd.Series([1.5, np.nan]), missing="?")
        [1.5, '?']
        >>> python_values(pd.Series([1, None], dtype="Int64"))
        [1, None]
    """
    mask = series.isna().to_numpy()
    if series.dtype == object:
        values = np.empty(len(series), dtype=object)
        values[:] = [v.item() if isinstance(v, np.generic) else v for v in series]
    elif pd.api.types.is_extension_array_dtype(series.dtype):
        values = series.to_numpy(dtype=object, copy=True)  # NA replaced below
    else:  # numpy dtypes: tolist() yields Python scalars
        values = np.empty(len(series), dtype=object)
        values[:] = series.to_numpy().tolist()
    if mask.any():
        values[mask] = missing
    return values.tolist()


def fill_code_system(concepts: pd.DataFrame) -> pd.DataFrame:
    """Fills missing ``code``/``system`` from the CURIE in ``id`` (hand-made input).

    Examples:
        >>> df = pd.DataFrame({"id": ["A:1"], "code": [None], "system": [None]})
        >>> fill_code_system(df)[["code", "system"]].values.tolist()
        [['1', 'A']]
    """
    out = concepts.copy(deep=False)
    for col in ("code", "system"):
        if col not in out.columns:
            out[col] = pd.Series(pd.NA, index=out.index, dtype="string")
    if out["code"].isna().any() or out["system"].isna().any():
        parts = out["id"].astype("string").str.partition(":")
        out["system"] = out["system"].astype("string").fillna(parts[0])
        out["code"] = out["code"].astype("string").fillna(parts[2])
    return out


def infer_column(values: list[Any]) -> pd.Series:
    """A column from plain Python values (``None`` = missing) with a best-guess dtype.

    Used when a view carries no recorded dtypes (hand-made networkx or RDF input):
    integers with gaps become ``Int64``, booleans with gaps ``boolean``, strings
    ``string``, numbers ``float64``; anything mixed stays ``object``.

    Examples:
        >>> [str(infer_column(v).dtype) for v in ([1, None], [True], ["a", None], [1, 2.5])]
        ['Int64', 'bool', 'string', 'float64']
    """
    present = [v for v in values if v is not None]
    kinds = frozenset(type(v) for v in present)
    full = len(present) == len(values)
    dtype = {frozenset({float}): "float64", frozenset({float, int}): "float64",
             frozenset({bool}): "bool" if full else "boolean",
             frozenset({int}): "int64" if full else "Int64",
             frozenset({str}): "string"}.get(kinds, object)
    return pd.Series(values, dtype=object).astype(dtype)
