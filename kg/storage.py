"""Saving and loading a knowledge graph as a folder of parquet tables plus JSON metadata.

Layout of a saved graph::

    <folder>/concepts.parquet    concepts table (pyarrow)
    <folder>/relations.parquet   relations table (pyarrow)
    <folder>/metadata.json       format name and version, graph metadata, column dtypes,
                                 row counts

The folder is written through :func:`ontologies.atomic.atomic_dir`: a crash or an error
mid-save leaves the previously saved folder untouched. Loading restores every column
dtype exactly (``string`` stays ``string``, NaN stays NaN, ``bool`` stays ``bool``).

Examples:
    >>> import tempfile, pathlib
    >>> from ontologies.schema import make_concepts, make_relations
    >>> from kg.graph import KnowledgeGraph
    >>> kg = KnowledgeGraph(make_concepts(["A:1", "A:2"], ["a", "b"], "disease", rare=False),
    ...                     make_relations(["A:1"], "is_a", ["A:2"]), {"sources": ["demo"]})
    >>> folder = save(kg, pathlib.Path(tempfile.mkdtemp()) / "kg")
    >>> sorted(p.name for p in folder.iterdir())
    ['concepts.parquet', 'metadata.json', 'relations.parquet']
    >>> load(folder).equals(kg, check_order=True)
    True
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from kg.graph import KnowledgeGraph
from kg.tables import apply_dtype_spec, check_dtype_spec, dtype_spec
from ontologies.atomic import atomic_dir
from ontologies.errors import DataNotFoundError, ParseError, SchemaError

__all__ = ["save", "load", "FORMAT", "FORMAT_VERSION"]

#: Written into metadata.json so a loader knows what it is reading.
FORMAT = "medkg-knowledge-graph"
#: Bumped whenever the layout changes incompatibly.
FORMAT_VERSION = 1

_FILES = {"concepts": "concepts.parquet", "relations": "relations.parquet"}
_META = "metadata.json"


def _write_table(df: pd.DataFrame, path: Path, name: str) -> None:
    try:
        df.to_parquet(path, engine="pyarrow", index=False)
    except (pa.ArrowException, TypeError, ValueError) as err:
        raise SchemaError(f"{name}: cannot be stored as parquet ({err}); object columns "
                          "must hold one type per column") from err


def save(kg: KnowledgeGraph, folder: str | os.PathLike) -> Path:
    """Saves the graph into ``folder`` (created or atomically replaced).

    Args:
        kg: The graph.
        folder: Destination folder.

    Returns:
        The folder.

    Raises:
        SchemaError: Metadata is not JSON-serialisable or a column cannot go to parquet.
    """
    folder = Path(folder)
    src, tgt = kg.edge_index()
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "n_concepts": len(kg),
        "n_relations": kg.n_relations,
        "n_dangling": int(((src < 0) | (tgt < 0)).sum()),
        "concept_dtypes": dtype_spec(kg._concepts),
        "relation_dtypes": dtype_spec(kg._relations),
        "metadata": kg._metadata,
    }
    try:
        text = json.dumps(manifest, indent=2, ensure_ascii=False)
    except (TypeError, ValueError) as err:
        raise SchemaError(f"metadata cannot be saved as JSON: {err}; expected str, number, "
                          "bool, None, list and dict values") from err
    with atomic_dir(folder) as tmp:
        _write_table(kg._concepts, tmp / _FILES["concepts"], "concepts")
        _write_table(kg._relations, tmp / _FILES["relations"], "relations")
        (tmp / _META).write_text(text + "\n", encoding="utf-8")
    return folder


def _read_manifest(folder: Path) -> dict[str, Any]:
    if not folder.is_dir():
        raise DataNotFoundError(f"{folder}: no saved knowledge graph (folder not found)")
    path = folder / _META
    if not path.is_file():
        raise DataNotFoundError(f"{path}: missing; {folder} is not a saved knowledge graph")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ParseError(f"not valid JSON: {err}", path) from err
    except RecursionError as err:  # json recurses once per nesting level
        raise ParseError("JSON nested too deeply: expected the manifest medkg writes",
                         path) from err
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else manifest
        raise SchemaError(f"{path}: format {found!r}; expected {FORMAT!r}")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise SchemaError(f"{path}: format_version {manifest.get('format_version')!r}; "
                          f"this version of medkg reads {FORMAT_VERSION}")
    for key in ("concept_dtypes", "relation_dtypes"):
        check_dtype_spec(manifest.get(key), f"{path}: {key}")
    if not isinstance(manifest.get("metadata") or {}, dict):
        raise SchemaError(f"{path}: metadata holds a {type(manifest['metadata']).__name__}; "
                          "expected a JSON object")
    return manifest


def _read_table(folder: Path, name: str, manifest: dict[str, Any]) -> pd.DataFrame:
    path = folder / _FILES[name]
    if not path.is_file():
        raise DataNotFoundError(f"{path}: missing from the saved knowledge graph")
    try:
        df = pd.read_parquet(path, engine="pyarrow")
    except (pa.ArrowException, OSError) as err:
        raise ParseError(f"cannot read parquet: {err}", path) from err
    expected = manifest.get(f"n_{name}")
    if expected is not None and len(df) != expected:
        raise SchemaError(f"{path}: {len(df)} rows; metadata.json says {expected}")
    spec = manifest.get("concept_dtypes" if name == "concepts" else "relation_dtypes")
    return apply_dtype_spec(df, spec, str(path))


def load(folder: str | os.PathLike, *, validate: bool = True) -> KnowledgeGraph:
    """Loads a graph saved by :func:`save`.

    Args:
        folder: The saved folder.
        validate: Re-validate the tables (off saves time on trusted folders).

    Raises:
        DataNotFoundError: The folder or one of its files is missing.
        ParseError: A file is corrupt.
        SchemaError: Wrong format or format version, a malformed manifest entry, or row
            counts that do not match.
    """
    folder = Path(folder)
    manifest = _read_manifest(folder)
    concepts = _read_table(folder, "concepts", manifest)
    relations = _read_table(folder, "relations", manifest)
    # Relations kept dangling on purpose (on_dangling="keep") stay kept.
    policy = "keep" if manifest.get("n_dangling") else "raise"
    return KnowledgeGraph(concepts, relations, manifest.get("metadata") or {},
                          validate=validate, on_dangling=policy)
