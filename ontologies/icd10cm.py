"""ICD-10-CM (FY2026) read straight from the CDC/NCHS tabular XML.

The tabular file ships inside the installed ``simple_icd_10_cm`` package; it is located
with :func:`importlib.util.find_spec` so that the (2 s) import of that package is not
paid, and parsed with ``defusedxml``. The reader returns the whole tabular tree:

=========== =========================================== ==========================
level       what                                        id
=========== =========================================== ==========================
chapter     22 chapters                                 ``ICD10CM:CH04``
block       sections (ranges of categories)             ``ICD10CM:E08-E13``
category    3-character codes                           ``ICD10CM:E11``
subcategory 4- to 7-character codes listed in the XML   ``ICD10CM:E11.9``
extension   codes built from a ``sevenChrDef`` (7th     ``ICD10CM:S00.00XA``
            character, placeholder ``X`` padding)
=========== =========================================== ==========================

Thirty-nine sections hold a single category and carry its code as their id (section
``B10`` holds category ``B10``); their block id is written as the range ``B10-B10`` so that
ids stay unique. Extension codes are generated for every leaf under a ``sevenChrDef``
(its own or its nearest ancestor's), padding to 6 characters with ``X``; the one
restriction the tabular states in prose (S06: 7th characters D and S do not apply when
the 6th character is 7 or 8) is applied from :data:`EXTENSION_EXCEPTIONS`. Together this
gives the same 98,505 items as ``simple_icd_10_cm.get_all_codes()``.

Extra concept columns: ``level`` (above), ``billable`` (leaf codes: the codes valid on a
claim), ``generated`` (built from a ``sevenChrDef``), ``chapter`` and ``block`` (CURIEs of
the enclosing chapter and block). Chapters and blocks have semantic type ``category``,
every code ``disease``.

Relations: ``is_a`` child -> parent for the whole tree, and the instructional notes
``excludes1``, ``excludes2``, ``use_additional_code``, ``code_first``, ``code_also`` from
the node carrying the note to each code the note names (the raw note is kept in the
``note`` column). Code references are read from the parenthesised parts of a note when
it has any (``"diabetes (E08-E13)"``), else from its whole text (``"conditions
classified to A74.-"``). A single code (``E11.9``, ``E11.-``, ``T41.- with ...``) points
to that code. A range points to the smallest set of existing nodes that exactly covers
it: ``E08-E13`` is a block so it points to the block; ``N18.1-N18.6`` points to the six
subcategories; ``A00-B99`` points to chapter 1. References to nothing in the release,
and self-references, are dropped (their count is in the metadata).

Examples:
    >>> xml = '''<ICD10CM.tabular><version>2026</version>
    ... <chapter><name>4</name><desc>Endocrine diseases (E08-E13)</desc>
    ...  <section id="E08-E13"><desc>Diabetes mellitus (E08-E13)</desc>
    ...   <diag><name>E11</name><desc>Type 2 diabetes mellitus</desc>
    ...    <useAdditionalCode><note>insulin use (Z79.4)</note></useAdditionalCode>
    ...    <diag><name>E11.9</name><desc>Type 2 diabetes mellitus, no complication</desc></diag>
    ...   </diag></section></chapter></ICD10CM.tabular>'''
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "tabular.xml"
    >>> _ = path.write_text(xml)
    >>> t = load_icd10cm(path)
    >>> t.concepts[["id", "level", "billable"]].values.tolist()
    [['ICD10CM:CH04', 'chapter', False], ['ICD10CM:E08-E13', 'block', False],
     ['ICD10CM:E11', 'category', False], ['ICD10CM:E11.9', 'subcategory', True]]
    >>> t.relations[["source", "relation", "target"]].values.tolist()
    [['ICD10CM:E08-E13', 'is_a', 'ICD10CM:CH04'], ['ICD10CM:E11', 'is_a', 'ICD10CM:E08-E13'],
     ['ICD10CM:E11.9', 'is_a', 'ICD10CM:E11']]
    >>> t.metadata["unresolved_references"]  # Z79.4 is not in this tiny file
    1
"""

from __future__ import annotations

import contextlib
import gc
import importlib.util
import os
import re
import xml.etree.ElementTree as _ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import defusedxml
import defusedxml.ElementTree as DET
import numpy as np
import pandas as pd

from ontologies.catalog import READERS
from ontologies.codes import ICD10CM_PREFIX
from ontologies.errors import DataNotFoundError, DuplicateIdError, ParseError
from ontologies.schema import CodeSystemTables, make_relations

__all__ = [
    "TABULAR_FILE",
    "LEVELS",
    "NOTE_RELATIONS",
    "EXTENSION_EXCEPTIONS",
    "tabular_path",
    "load_icd10cm",
    "extract_references",
]

#: The FY2026 tabular shipped in ``simple_icd_10_cm`` (April 1, 2026 update).
TABULAR_FILE = "icd10c-tabular-April-1-2026.xml"
PREFIX = ICD10CM_PREFIX
LICENCE = "US public domain (CDC/NCHS)"
LEVELS = ("chapter", "block", "category", "subcategory", "extension")

#: XML note element -> relation name.
NOTE_RELATIONS = {
    "excludes1": "excludes1",
    "excludes2": "excludes2",
    "useAdditionalCode": "use_additional_code",
    "codeFirst": "code_first",
    "codeAlso": "code_also",
}

#: (category, 6th character) -> 7th characters that do not apply, as the S06 note says:
#: "7th characters D and S do not apply to codes in category S06 with 6th character 7
#: ... or 8 ...". The only such prose rule in the FY2026 tabular.
EXTENSION_EXCEPTIONS: dict[tuple[str, str], frozenset[str]] = {
    ("S06", "7"): frozenset("DS"),
    ("S06", "8"): frozenset("DS"),
}

# A code as written in notes: E11, E11.9, C7A.092, E16.A; a reference is a code, a
# range of two codes, or a code followed by "-" / ".-" ("and its subdivisions").
_CODE = r"[A-Z][0-9][0-9A-Z](?:\.[0-9A-Z]{1,4})?"
_REFERENCE = re.compile(rf"(?<![0-9A-Za-z.])({_CODE})(?:-({_CODE})|\.?-)?(?![0-9A-Za-z])")
_PARENTHESES = re.compile(r"\(([^()]*)\)")
# Shape of a listed code and a section id: looser than notes' codes, since the FY2026
# tabular lists "QA0.0" (a letter in 2nd place); still refuses blanks and stray dots.
_NAME = re.compile(r"[A-Z][0-9A-Z]{2}(?:\.[0-9A-Z]{1,4})?\Z")
_SECTION = re.compile(r"[A-Z][0-9A-Z]{2}(?:-[A-Z][0-9A-Z]{2})?\Z")
_TOP = "\uffff"  # sorts after every code character: "E11" + _TOP bounds E11's subtree


def tabular_path() -> Path:
    """Path of the tabular XML inside the installed ``simple_icd_10_cm`` package.

    Found without importing the package (its import parses the whole file, ~2 s).

    Examples:
        >>> tabular_path().name
        'icd10c-tabular-April-1-2026.xml'
    """
    spec = importlib.util.find_spec("simple_icd_10_cm")
    if spec is None or not spec.submodule_search_locations:
        raise DataNotFoundError("package 'simple_icd_10_cm' is not installed: it ships the "
                                "ICD-10-CM tabular XML; install simple-icd-10-cm or pass path=")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / TABULAR_FILE
    if not path.is_file():
        raise DataNotFoundError(f"{path} not found: expected the FY2026 tabular XML shipped "
                                "with simple-icd-10-cm 1.5")
    return path


def _parse(path: Path) -> _ET.Element:
    """Parses with defusedxml (no DTD entities, no external references)."""
    target = _ET.TreeBuilder()
    parser = DET.DefusedXMLParser(target=target)
    expat = getattr(parser, "parser", None)
    if expat is not None:
        # defusedxml needs the pure-Python XMLParser, which relays every element event
        # through two Python methods (~0.1 s here). Its protections live on the expat
        # handlers for DTD/entity declarations, which stay in place; element events can
        # go straight to the C tree builder (the tabular uses no XML namespaces).
        expat.ordered_attributes = False
        expat.StartElementHandler = target.start
        expat.EndElementHandler = target.end
    try:
        with open(path, "rb") as handle:
            parser.feed(handle.read())
        return parser.close()
    except FileNotFoundError as err:
        raise DataNotFoundError(f"{path} not found: expected an ICD-10-CM tabular XML") from err
    except _ET.ParseError as err:
        line = err.position[0] if getattr(err, "position", None) else None
        raise ParseError(f"not well-formed XML ({err}); expected the ICD-10-CM tabular",
                         path, line) from err
    except defusedxml.DefusedXmlException as err:
        raise ParseError(f"forbidden XML construct ({err}); the tabular has no DTD or "
                         "entities", path) from err


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pauses the cyclic garbage collector while ~1M acyclic objects are created.

    CPython scans the young objects every few hundred allocations and, as they survive,
    the old ones too; here that costs ~40% of the load and frees nothing (elements,
    tuples and strings form no cycles). The collector's previous state is restored.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


# Columns of _Tree.rows, one tuple per node in pre-order.
_ROW = ("code", "label", "level", "parent", "chapter", "block", "billable", "generated",
        "lo", "hi")


class _Tree:
    """One walk over the XML filling flat row tuples (no per-node objects).

    ``lo``/``hi`` are the smallest/largest listed code in a node's subtree, used to
    resolve code ranges in notes; ``parent`` is the parent's row number (-1 for chapters).
    """

    def __init__(self, path: Path):
        self.path = path
        self.rows: list[tuple] = []
        self.notes: list[tuple[str, str, str]] = []  # (source code, xml tag, text)

    def walk(self, el: _ET.Element, parent: int, chapter: str | None, block: str | None,
             seven: dict[str, str] | None) -> tuple[str, str]:
        """Adds ``el`` (chapter, section or diag) and its subtree; returns (lo, hi)."""
        name = desc = None
        kids: list[_ET.Element] = []
        notes: list[tuple[str, str]] = []
        for sub in el:
            tag = sub.tag
            if tag == "diag" or tag == "section":
                kids.append(sub)
            elif tag == "name":
                name = sub.text
            elif tag == "desc":
                desc = sub.text
            elif tag in NOTE_RELATIONS:
                notes.extend((tag, n.text) for n in sub if n.text)
            elif tag == "sevenChrDef":
                seven = _seven_chr_def(sub)
        if el.tag == "chapter":
            if not (name or "").strip().isdigit():
                raise ParseError(f"chapter name {name!r}: expected a chapter number", self.path)
            code = chapter = f"CH{int(name):02d}"
            level, lo, hi = "chapter", _TOP, ""
        elif el.tag == "section":
            sid = el.get("id") or ""
            if not _SECTION.match(sid):
                raise ParseError(f"<section id={sid!r}> in chapter {chapter}: expected a "
                                 "category range such as 'E08-E13' or one category", self.path)
            code = block = sid if "-" in sid else f"{sid}-{sid}"
            level, lo, hi = "block", _TOP, ""
        else:
            if not name:
                raise ParseError(f"<diag> without <name> under row {parent}", self.path)
            if not _NAME.match(name):
                raise ParseError(f"<diag> name {name!r} in block {block}: expected a code "
                                 "such as 'E11' or 'E11.9'", self.path)
            code = name
            level, lo, hi = ("category" if len(name) == 3 else "subcategory"), name, name
        if chapter is None:
            raise ParseError(f"<{el.tag}> {code!r} outside a chapter", self.path)
        extend = not kids and el.tag == "diag" and bool(seven)
        me = len(self.rows)
        self.rows.append(None)  # placeholder: lo/hi are known after the children
        self.notes.extend((code, tag, text) for tag, text in notes)
        for kid in kids:
            kid_lo, kid_hi = self.walk(kid, me, chapter, block, seven)
            lo, hi = min(lo, kid_lo), max(hi, kid_hi)
        self.rows[me] = (code, desc or code, level, parent, chapter, block,
                         el.tag == "diag" and not kids and not extend, False, lo, hi)
        if extend:
            self._extend(me, code, desc or code, chapter, block, seven)
        return lo, hi

    def _extend(self, me: int, code: str, desc: str, chapter: str, block: str | None,
                seven: dict[str, str]) -> None:
        stem = (code + "." if len(code) == 3 else code).ljust(7, "X")
        skip = EXTENSION_EXCEPTIONS.get((stem[:3], stem[6]), frozenset())
        self.rows.extend((stem + char, f"{desc}, {meaning}", "extension", me, chapter, block,
                          True, True, None, None)
                         for char, meaning in seven.items() if char not in skip)

    def columns(self) -> dict[str, np.ndarray]:
        """The rows as one object array per column (see ``_ROW``)."""
        return {name: np.array(col, dtype=object) for name, col in
                zip(_ROW, zip(*self.rows, strict=True), strict=True)}


def _seven_chr_def(el: _ET.Element) -> dict[str, str]:
    """``{"A": "initial encounter", ...}``; a trailing <note> is appended with "/"."""
    out: dict[str, str] = {}
    last = None
    for sub in el:
        if sub.tag == "extension":
            last = sub.get("char")
            out[last] = sub.text or ""
        elif sub.tag == "note" and last is not None and sub.text:
            out[last] += "/" + sub.text
    return out


def extract_references(notes: pd.Series) -> pd.DataFrame:
    """Code references in note texts.

    References inside parentheses are used when a note has any, else those anywhere in
    it (so ``"any type in A15 (J65)"`` names only J65).

    Args:
        notes: Note texts; the index identifies the note.

    Returns:
        One row per reference, indexed like ``notes`` (a note may repeat), with columns
        ``start`` and ``end`` (``<NA>`` unless the reference is a range).

    Examples:
        >>> s = pd.Series(["type 2 diabetes (E11.-)", "burns (T20-T32, X00-X19)",
        ...                "classified to A74.-", "in A15 (J65)", "no code here"])
        >>> extract_references(s).values.tolist()
        [['E11', <NA>], ['T20', 'T32'], ['X00', 'X19'], ['A74', <NA>], ['J65', <NA>]]
    """
    # A comprehension over ~11k short notes: pandas' extractall also loops in Python,
    # and is ~10x slower here.
    found = [_REFERENCE.findall(" ".join(_PARENTHESES.findall(text)))
             or _REFERENCE.findall(text) for text in notes.astype(str)]
    counts = np.fromiter(map(len, found), dtype=np.int64, count=len(found))
    pairs = [pair for refs in found for pair in refs]
    out = pd.DataFrame(pairs or None, columns=["start", "end"],
                       index=notes.index.repeat(counts), dtype="string")
    return out.replace("", pd.NA)


def _cover(start: np.ndarray, end: np.ndarray, cols: dict[str, np.ndarray]) -> pd.DataFrame:
    """For each range, the smallest set of listed nodes whose subtrees exactly cover it.

    A node is inside ``[start, end]`` when its subtree's codes all lie between ``start``
    and ``end`` (or a descendant of ``end``); the cover keeps the inside nodes whose
    parent is not inside.
    """
    listed = np.flatnonzero(~cols["generated"].astype(bool))
    lo, hi = cols["lo"][listed], cols["hi"][listed]
    order = np.argsort(lo, kind="stable")
    lo, hi, rows = lo[order], hi[order], listed[order]
    position = np.full(len(cols["code"]) + 1, -1, dtype=np.int64)
    position[rows] = np.arange(len(rows))
    parent = position[cols["parent"][rows].astype(np.int64)]  # -1 -> last slot "False"
    ranges, targets = [], []
    for i, (a, b) in enumerate(zip(start, end, strict=True)):
        top = b + _TOP
        i0, i1 = np.searchsorted(lo, [a, top], side="left")
        inside = np.zeros(len(rows) + 1, dtype=bool)
        inside[i0:i1] = hi[i0:i1] <= top
        idx = np.flatnonzero(inside[:-1])
        keep = rows[idx[~inside[parent[idx]]]]
        ranges.extend([i] * len(keep))
        targets.extend(cols["code"][keep])
    return pd.DataFrame({"range": np.array(ranges, dtype=np.int64), "target": targets})


def _note_relations(tree: _Tree, cols: dict[str, np.ndarray]) -> tuple[pd.DataFrame, int]:
    """Note edges (source, relation, target codes, note) and the unresolved count."""
    notes = pd.DataFrame(tree.notes or None, columns=["source", "tag", "note"], dtype=object)
    notes["relation"] = notes["tag"].map(NOTE_RELATIONS)
    refs = extract_references(notes["note"]).astype(object)
    refs = refs.join(notes[["source", "relation", "note"]]).reset_index(drop=True)
    refs["ref"] = np.arange(len(refs))
    known = set(cols["code"])
    is_range = refs["end"].notna().to_numpy()
    single = refs[~is_range & np.array([s in known for s in refs["start"]], dtype=bool)]
    single = single.assign(target=single["start"])
    ranges = refs[is_range]
    pairs = ranges[["start", "end"]].drop_duplicates(ignore_index=True)
    covered = _cover(pairs["start"].to_numpy(), pairs["end"].to_numpy(), cols)
    covered = covered.join(pairs, on="range").drop(columns="range")
    ranged = ranges.merge(covered, on=["start", "end"])
    edges = pd.concat([single, ranged], ignore_index=True).sort_values("ref", kind="stable")
    unresolved = len(refs) - edges["ref"].nunique()
    edges = edges[edges["source"] != edges["target"]]
    edges = edges.drop_duplicates(["source", "relation", "target"])
    return edges[["source", "relation", "target", "note"]], int(unresolved)


def _check_unique(codes: np.ndarray, path: Path) -> None:
    """Raises DuplicateIdError naming the file if a code is listed (or generated) twice."""
    codes = pd.Series(codes, dtype=object)
    repeated = codes.duplicated(keep=False).to_numpy()
    if repeated.any():
        first = codes.iloc[int(np.flatnonzero(repeated)[0])]
        raise DuplicateIdError(f"{path}: code {first!r} occurs {int((codes == first).sum())} "
                               "times in the tabular; expected each code once")


def _concepts(cols: dict[str, np.ndarray]) -> pd.DataFrame:
    """The concepts table (built directly: ``make_concepts`` re-splits 98k CURIEs)."""
    def curie(values: np.ndarray) -> pd.Series:
        return PREFIX + ":" + pd.Series(values, dtype="string")

    level = cols["level"]
    group = (level == "chapter") | (level == "block")
    return pd.DataFrame({
        "id": curie(cols["code"]),
        "code": pd.Series(cols["code"], dtype="string"),
        "label": pd.Series(cols["label"], dtype="string"),
        "semantic_type": pd.Series(np.where(group, "category", "disease"), dtype="string"),
        "system": pd.Series([PREFIX] * len(level), dtype="string"),
        "level": pd.Series(level, dtype="string"),
        "billable": cols["billable"].astype(bool),
        "generated": cols["generated"].astype(bool),
        "chapter": curie(cols["chapter"]),
        "block": curie(cols["block"]),
    })


@READERS.register("icd10cm")
def load_icd10cm(path: str | os.PathLike | None = None) -> CodeSystemTables:
    """Reads the ICD-10-CM tabular into concepts and relations tables.

    Args:
        path: A tabular XML in the CDC format; default: the FY2026 file shipped with
            ``simple_icd_10_cm`` (see :func:`tabular_path`).

    Returns:
        Validated tables (see the module docstring for columns and rules).

    Raises:
        DataNotFoundError: The file (or the package shipping it) is missing.
        ParseError: The XML is malformed or lacks chapters, or a section id or code is
            not shaped like one (naming the file; the tree keeps no line numbers).
        DuplicateIdError: A code is listed twice (naming the file).

    Examples:
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "tabular.xml"
        >>> _ = path.write_text('''<ICD10CM.tabular><chapter><name>20</name><desc>External
        ...   </desc><section id="T66"><desc>Radiation (T66)</desc><diag><name>T66</name>
        ...   <desc>Radiation sickness</desc><sevenChrDef><extension char="A">initial
        ...   encounter</extension></sevenChrDef></diag></section></chapter>
        ...   </ICD10CM.tabular>''')
        >>> load_icd10cm(path).concepts["id"].tolist()
        ['ICD10CM:CH20', 'ICD10CM:T66-T66', 'ICD10CM:T66', 'ICD10CM:T66.XXXA']
    """
    path = tabular_path() if path is None else Path(path)
    with _gc_paused():
        return _load(path)


def _load(path: Path) -> CodeSystemTables:
    root = _parse(path)
    if root.tag != "ICD10CM.tabular":
        raise ParseError(f"root element <{root.tag}>: expected <ICD10CM.tabular>", path)
    year = (root.findtext("version") or "").strip()
    version = f"FY{year}" if year else "unknown version"
    tree = _Tree(path)
    for chapter in root.iterfind("chapter"):
        tree.walk(chapter, -1, None, None, None)
    if not tree.rows:
        raise ParseError("no <chapter> elements: expected the ICD-10-CM tabular", path)
    del root
    cols = tree.columns()
    _check_unique(cols["code"], path)
    concepts = _concepts(cols)

    provenance = f"ICD-10-CM {version} tabular"
    child = np.flatnonzero(cols["parent"].astype(np.int64) >= 0)
    ids = concepts["id"].to_numpy(dtype=object)
    is_a = make_relations(ids[child], "is_a", ids[cols["parent"][child].astype(np.int64)],
                          provenance=provenance, note=None)
    notes, unresolved = _note_relations(tree, cols)
    note_rel = make_relations(PREFIX + ":" + notes["source"], notes["relation"],
                              PREFIX + ":" + notes["target"], provenance=provenance,
                              note=notes["note"])
    relations = pd.concat([is_a, note_rel], ignore_index=True)
    relations["note"] = relations["note"].astype("string")
    metadata: dict[str, Any] = {
        "system": PREFIX,
        "version": version,
        "source": str(path),
        "licence": LICENCE,
        "attribution": "ICD-10-CM tabular list, National Center for Health Statistics (CDC)",
        "concepts_by_level": concepts["level"].value_counts().reindex(LEVELS, fill_value=0)
        .to_dict(),
        "relations_by_type": relations["relation"].value_counts().to_dict(),
        "notes": len(tree.notes),
        "unresolved_references": unresolved,
    }
    return CodeSystemTables("icd10cm", concepts, relations, metadata).validate()
