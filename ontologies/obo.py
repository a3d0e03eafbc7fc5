"""OBO 1.4 flat files (HPO, DOID, MONDO, ...) read by a small streaming parser of our own.

:func:`iter_obo` walks the file line by line and yields one record per stanza, so memory
grows with the number of terms, not with the file. :func:`read_obo` (registry name
``"obo"``) turns the ``[Term]`` stanzas into medkg tables:

* concepts: ``id`` as written in the file (``HP:0001250``), ``label`` from ``name``,
  extra columns ``synonyms`` ("|"-joined quoted synonym texts), ``definition``,
  ``alt_ids`` and ``xrefs`` (normalised, "|"-joined);
* relations: ``is_a`` (term -> parent), one relation per ``relationship:`` line
  (``relationship: part_of UBERON:1`` -> ``part_of``), and **xrefs as ``maps_to``**
  for the prefixes in ``xref_prefixes``. OBO xrefs do not say how close the match is
  (DOID/HPO use them for "same or close"), so they are kept as a separate, weaker
  relation than ``is_a``; MONDO's ``{source="MONDO:equivalentTo"}`` qualifier is kept in
  the extra column ``xref_source`` so a user can keep only exact matches.

Xref prefixes are normalised (``SNOMEDCT_US_2023_03_01`` -> ``SNOMEDCT``, ``ICD-10`` ->
``ICD10``, ``MSH`` -> ``MESH``, ``Orphanet`` -> ``ORPHA``, ...) and ICD codes get their dot
(``ICD10CM:E119`` -> ``ICD10CM:E11.9``), so they meet the ids of the ICD readers.

Examples:
    >>> import pathlib, tempfile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "demo.obo"
    >>> _ = p.write_text('''format-version: 1.2
    ... data-version: demo/2024-01-01
    ...
    ... [Term]
    ... id: DOID:9351
    ... name: diabetes mellitus
    ... synonym: "DM" EXACT []
    ... xref: ICD10CM:E08-E13
    ...
    ... [Term]
    ... id: DOID:9352
    ... name: type 2 diabetes mellitus
    ... is_a: DOID:9351 ! diabetes mellitus
    ... xref: ICD10CM:E119
    ... ''')
    >>> t = read_obo(p)
    >>> t.concepts[["id", "label", "semantic_type"]].values.tolist()
    [['DOID:9351', 'diabetes mellitus', 'disease'],
     ['DOID:9352', 'type 2 diabetes mellitus', 'disease']]
    >>> t.concepts["synonyms"].tolist()
    ['DM', <NA>]
    >>> t.relations[["source", "relation", "target"]].values.tolist()
    [['DOID:9351', 'maps_to', 'ICD10CM:E08-E13'], ['DOID:9352', 'is_a', 'DOID:9351'],
     ['DOID:9352', 'maps_to', 'ICD10CM:E11.9']]
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ontologies.catalog import READERS
from ontologies.errors import ConfigError, DataNotFoundError, ParseError, SchemaError
from ontologies.schema import (
    SEMANTIC_TYPES,
    CodeSystemTables,
    make_concepts,
    make_relations,
    split_curie,
)

__all__ = [
    "OboStanza", "iter_obo", "read_obo", "infer_semantic_type", "normalize_xref",
    "relation_name", "snake_case", "KNOWN_RELATIONS", "DEFAULT_XREF_PREFIXES",
]

#: Relation ids that have a well-known readable name (shared with the RDF reader).
KNOWN_RELATIONS = {
    "BFO:0000050": "part_of", "BFO:0000051": "has_part", "RO:0002200": "has_phenotype",
    "RO:0000052": "inheres_in", "RO:0002314": "inheres_in_part_of",
    "RO:0004026": "disease_has_location", "RO:0002573": "has_modifier",
    "RO:0002451": "transmitted_by", "RO:0004003": "has_material_basis_in_germline_mutation_in",
}

#: Id prefix -> medkg semantic type; anything else is ``other``.
PREFIX_SEMANTIC_TYPES = {
    "HP": "phenotype", "MP": "phenotype", "DOID": "disease", "MONDO": "disease",
    "ORPHA": "disease", "OMIM": "disease", "DECIPHER": "disease", "EFO": "disease",
    "UBERON": "anatomy", "FMA": "anatomy", "CL": "anatomy", "CHEBI": "substance",
    "DRON": "drug", "NCBITaxon": "organism", "HGNC": "gene", "NCBIGene": "gene",
}

#: Xref prefixes that become ``maps_to`` relations by default (after normalisation).
DEFAULT_XREF_PREFIXES = ("ICD10CM", "ICD10", "ICD9CM", "SNOMEDCT", "UMLS", "OMIM", "ORPHA",
                         "MESH", "NCIT", "DOID", "MONDO", "HP")

# Upper-cased, punctuation-free prefix -> canonical prefix.
_XREF_ALIASES = {
    "ICD10CM": "ICD10CM", "ICD10": "ICD10", "ICD10WHO": "ICD10", "ICD9CM": "ICD9CM",
    "ICD9": "ICD9CM", "ICDO": "ICDO", "UMLS": "UMLS", "UMLSCUI": "UMLS", "MSH": "MESH",
    "MESH": "MESH", "OMIM": "OMIM", "MIM": "OMIM", "OMIMPS": "OMIMPS", "ORPHA": "ORPHA",
    "ORPHANET": "ORPHA", "ORDO": "ORPHA", "NCIT": "NCIT", "NCI": "NCIT", "MEDDRA": "MEDDRA",
    "SCTID": "SNOMEDCT", "DOID": "DOID", "MONDO": "MONDO", "HP": "HP", "GARD": "GARD",
    "EFO": "EFO",
}
_QUOTED = re.compile(r'^"((?:[^"\\]|\\.)*)"\s*(.*)$')
_QUALIFIERS = re.compile(r"\s*\{(.*)\}\s*$")
_COMMENT = re.compile(r"(?<!\\)\s!.*$")
_SOURCE = re.compile(r'source="([^"]*)"')
_ESCAPE = re.compile(r"\\(.)")
_ESCAPES = {"n": "\n", "t": "\t", "W": " "}
_STANZA = re.compile(r"^\[([A-Za-z]+)\]$")
_SCOPES = ("EXACT", "BROAD", "NARROW", "RELATED")


@dataclass
class OboStanza:
    """One stanza of an OBO file: its type (``Term``, ``Typedef``, ``header``) and tags.

    Attributes:
        kind: Stanza type without brackets, or ``"header"`` for the file header.
        line: 1-based line where the stanza starts.
        tags: Tag -> raw values in file order (comments and qualifiers still attached).
    """

    kind: str
    line: int
    tags: dict[str, list[tuple[str, int]]] = field(default_factory=dict)

    def first(self, tag: str) -> str | None:
        """The first value of ``tag`` or None."""
        values = self.tags.get(tag)
        return values[0][0] if values else None

    def values(self, tag: str) -> list[tuple[str, int]]:
        """All ``(value, line)`` pairs of ``tag``."""
        return self.tags.get(tag, [])


def iter_obo(path: str | os.PathLike) -> Iterator[OboStanza]:
    """Yields the header and then each stanza of an OBO file, reading it line by line.

    Args:
        path: The ``.obo`` file.

    Yields:
        :class:`OboStanza` records; the first one has ``kind == "header"``.

    Raises:
        DataNotFoundError: The file does not exist.
        ParseError: A line is neither a tag-value pair, a stanza header, a comment nor
            blank, a stanza has no ``id``, or the file is not UTF-8.

    Examples:
        >>> import pathlib, tempfile
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.obo"
        >>> _ = p.write_text("format-version: 1.4\\n[Term]\\nid: X:1\\nname: one\\n")
        >>> [(s.kind, s.first("id")) for s in iter_obo(p)]
        [('header', None), ('Term', 'X:1')]
    """
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"OBO file not found: {path}")
    current = OboStanza("header", 1)
    try:
        with path.open(encoding="utf-8") as handle:
            for number, raw in enumerate(handle, start=1):
                line = raw.strip()
                if not line or line.startswith("!"):
                    continue
                if line[0] == "[":
                    stanza = _STANZA.match(line)
                    if stanza:
                        yield _checked(current, path)
                        current = OboStanza(stanza.group(1), number)
                        continue
                tag, sep, value = line.partition(":")  # str ops: ~3x faster than a regex
                if not sep or not tag.replace("_", "").replace("-", "").isalnum():
                    raise ParseError(f"bad line {line[:60]!r}: expected 'tag: value', "
                                     "'[Stanza]', a '!' comment or a blank line", path, number)
                current.tags.setdefault(tag, []).append((value.strip(), number))
    except UnicodeDecodeError as err:
        raise ParseError(f"not UTF-8 ({err.reason} at byte {err.start})", path) from err
    yield _checked(current, path)


def _checked(stanza: OboStanza, path: Path) -> OboStanza:
    if stanza.kind != "header" and not stanza.first("id"):
        raise ParseError(f"[{stanza.kind}] stanza without an 'id:' tag", path, stanza.line)
    return stanza


def _unescape(text: str) -> str:
    if "\\" not in text:
        return text
    return _ESCAPE.sub(lambda m: _ESCAPES.get(m.group(1), m.group(1)), text)


def _split_id(value: str) -> tuple[str, str]:
    """``'HP:1 {source="x"} ! name'`` -> ``('HP:1', 'source="x"')``."""
    if "!" in value:
        value = _COMMENT.sub("", value)
    if "{" not in value:
        return _unescape(value.strip()), ""
    qualifiers = _QUALIFIERS.search(value)
    if qualifiers:
        value = value[:qualifiers.start()]
    return _unescape(value.strip()), qualifiers.group(1) if qualifiers else ""


def _curie(value: str, what: str, path: Path, line: int) -> str:
    """``value`` if it is a CURIE (``HP:0001250``), else a ParseError naming the line."""
    try:
        split_curie(value)
    except SchemaError:
        raise ParseError(f"{what} {value!r}: expected a prefixed id such as 'HP:0001250'",
                         path, line) from None
    return value


def _quoted(value: str, tag: str, path: Path, line: int) -> tuple[str, str]:
    """``'"text" EXACT []'`` -> ``('text', 'EXACT []')``; raises on a missing quote."""
    match = _QUOTED.match(value)
    if match is None:
        raise ParseError(f"{tag}: value {value[:60]!r} must start with a quoted string "
                         '("...")', path, line)
    return _unescape(match.group(1)), match.group(2)


def snake_case(name: str) -> str:
    """Turns a property name into a snake_case relation name.

    Examples:
        >>> snake_case("hasFindingSite"), snake_case("part of"), snake_case("RO:0002200")
        ('has_finding_site', 'part_of', 'ro_0002200')
    """
    name = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", str(name))
    name = re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_").lower()
    if not name:
        return "related_to"
    return name if name[0].isalpha() else f"r_{name}"


def relation_name(type_id: str, typedef_names: dict[str, str] | None = None) -> str:
    """Readable relation name of an OBO relationship type or property CURIE.

    Known ids (``BFO:0000050``) use :data:`KNOWN_RELATIONS`; a CURIE declared in a
    ``[Typedef]`` of the same file uses that stanza's name; anything else is snake_cased.

    Examples:
        >>> relation_name("BFO:0000050"), relation_name("RO:9", {"RO:9": "has onset"})
        ('part_of', 'has_onset')
    """
    if type_id in KNOWN_RELATIONS:
        return KNOWN_RELATIONS[type_id]
    if typedef_names and type_id in typedef_names and ":" in type_id:
        return snake_case(typedef_names[type_id])
    return snake_case(type_id)


def normalize_xref(xref: str) -> str | None:
    """Normalises an xref CURIE; returns None when it is not ``PREFIX:local``.

    Examples:
        >>> normalize_xref("SNOMEDCT_US_2023_03_01:44054006")
        'SNOMEDCT:44054006'
        >>> normalize_xref("ICD10CM:e119"), normalize_xref("ICD-10:E11.9")
        ('ICD10CM:E11.9', 'ICD10:E11.9')
        >>> normalize_xref("MSH:D003924"), normalize_xref("Orphanet:558")
        ('MESH:D003924', 'ORPHA:558')
        >>> normalize_xref("ICD9CM:2500"), normalize_xref("https://example.org") is None
        ('ICD9CM:250.0', True)
    """
    prefix, sep, local = str(xref).strip().partition(":")
    local = local.strip()
    if not sep or not prefix or local.startswith("//") or len(local.split()) != 1:
        return None  # no prefix, empty or spaced local part, or a URL ("https://...")
    key = re.sub(r"[^A-Z0-9]", "", prefix.upper())
    if key.startswith("SNOMED"):
        canonical = "SNOMEDCT"
    else:
        canonical = _XREF_ALIASES.get(key, prefix)
    if not re.match(r"^[A-Za-z][A-Za-z0-9_.-]*$", canonical):
        return None
    if canonical in ("ICD10CM", "ICD10", "ICD9CM"):
        local = local.upper()
        if "." not in local and "-" not in local:
            cut = 4 if local.startswith("E") and canonical == "ICD9CM" else 3
            if len(local) > cut:
                local = f"{local[:cut]}.{local[cut:]}"
    return f"{canonical}:{local}"


def infer_semantic_type(ids: Iterable[str], default: str = "other") -> pd.Series:
    """Semantic type from each id's prefix (HP -> phenotype, DOID/MONDO -> disease, ...).

    Examples:
        >>> infer_semantic_type(["HP:0001250", "MONDO:0005148", "GO:1"]).tolist()
        ['phenotype', 'disease', 'other']
    """
    prefixes = pd.Series(list(ids), dtype="string").str.split(":", n=1).str[0]
    return prefixes.map(PREFIX_SEMANTIC_TYPES).fillna(default).astype("string")


@READERS.register("obo")
def read_obo(
    path: str | os.PathLike,
    *,
    semantic_type: str | None = None,
    xref_prefixes: Iterable[str] | None = DEFAULT_XREF_PREFIXES,
    xref_relation: str = "maps_to",
    keep_obsolete: bool = False,
    synonym_scopes: Iterable[str] = ("EXACT", "BROAD", "NARROW", "RELATED"),
    name: str = "obo",
) -> CodeSystemTables:
    """Reads the ``[Term]`` stanzas of an OBO 1.4 file into concepts and relations.

    Args:
        path: The ``.obo`` file.
        semantic_type: One type for every term; None infers it from each id's prefix
            (HP -> phenotype, DOID/MONDO/ORPHA/OMIM -> disease, UBERON -> anatomy, ...).
        xref_prefixes: Normalised xref prefixes that become relations; None keeps none.
        xref_relation: Name of the xref relation (``"maps_to"`` or ``"xref"``).
        keep_obsolete: Keep ``is_obsolete: true`` terms (adds an ``obsolete`` column and
            ``replaced_by`` relations).
        synonym_scopes: Synonym scopes collected into the ``synonyms`` column.
        name: Name stored in the returned tables.

    Returns:
        Validated :class:`~ontologies.schema.CodeSystemTables`; ``metadata`` holds the
        header (``data-version``, ``ontology``, licence) and counts.

    Raises:
        DataNotFoundError: ``path`` does not exist.
        ParseError: A malformed line or stanza, a term id or ``is_a``/``relationship``/
            ``replaced_by`` target that is not a prefixed id (with file and line), or no
            ``[Term]`` stanza at all.
        ConfigError: ``semantic_type`` is not one of the medkg types.
    """
    if semantic_type is not None and semantic_type not in SEMANTIC_TYPES:
        raise ConfigError(f"semantic_type {semantic_type!r}: expected one of "
                          f"{', '.join(SEMANTIC_TYPES)}")
    path = Path(path)
    scopes = {s.upper() for s in synonym_scopes}
    wanted = None if xref_prefixes is None else {str(p) for p in xref_prefixes}
    rows: dict[str, dict] = {}
    edges: list[tuple[str, str, str, str | None]] = []  # source, relation, target, xref_source
    typedef_names: dict[str, str] = {}
    header: dict[str, list[str]] = {}
    obsolete_dropped = terms = 0
    for stanza in iter_obo(path):
        if stanza.kind == "header":
            header = {t: [v for v, _ in vs] for t, vs in stanza.tags.items()}
            continue
        term_id, _ = _split_id(stanza.first("id"))
        if stanza.kind == "Typedef":
            typedef_names[term_id] = _split_id(stanza.first("name") or term_id)[0]
            for xref, _ in stanza.values("xref"):  # "part_of" declares xref BFO:0000050
                typedef_names.setdefault(_split_id(xref)[0], typedef_names[term_id])
            continue
        if stanza.kind != "Term":
            continue
        terms += 1
        term_id = _curie(term_id, "[Term] id", path, stanza.line)
        obsolete = (stanza.first("is_obsolete") or "").strip().lower() == "true"
        if obsolete and not keep_obsolete:
            obsolete_dropped += 1
            continue
        row = rows.get(term_id)
        if row is None:  # OBO 1.4: stanzas sharing an id are merged
            row = rows[term_id] = {"label": None, "definition": None, "synonyms": [],
                                   "alt_ids": [], "xrefs": [], "obsolete": obsolete}
        if row["label"] is None and stanza.first("name") is not None:
            row["label"] = _unescape(_COMMENT.sub("", stanza.first("name")).strip())
        for value, line in stanza.values("def")[:1]:
            row["definition"] = row["definition"] or _quoted(value, "def", path, line)[0]
        for value, line in stanza.values("synonym"):
            text, rest = _quoted(value, "synonym", path, line)
            scope = rest.split(None, 1)[0].upper() if rest.split() else ""
            if (scope if scope in _SCOPES else "RELATED") in scopes:  # spec default: RELATED
                row["synonyms"].append(text)
        row["alt_ids"] += [_split_id(v)[0] for v, _ in stanza.values("alt_id")]
        for value, line in stanza.values("is_a"):
            edges.append((term_id, "is_a", _curie(_split_id(value)[0], "is_a target", path,
                                                  line), None))
        for value, line in stanza.values("relationship"):
            parts = _split_id(value)[0].split()
            if len(parts) < 2:
                raise ParseError(f"relationship {value!r}: expected 'relationship: <type> "
                                 "<target id>'", path, line)
            edges.append((term_id, parts[0], _curie(parts[1], "relationship target", path,
                                                    line), None))
        for value, _ in stanza.values("xref"):
            raw_id = value.split(None, 1)[0] if value.split() else ""
            xref = normalize_xref(_unescape(raw_id))
            if xref is None:
                continue
            row["xrefs"].append(xref)
            if wanted is not None and xref.split(":", 1)[0] in wanted:
                source = _SOURCE.search(value)
                edges.append((term_id, xref_relation, xref, source.group(1) if source else None))
        if obsolete:
            edges += [(term_id, "replaced_by",
                       _curie(_split_id(v)[0], "replaced_by target", path, line), None)
                      for v, line in stanza.values("replaced_by")]
    if not terms:
        raise ParseError("no [Term] stanza: expected an OBO ontology with terms (empty or "
                         "truncated file?)", path)
    return _tables(path, name, rows, edges, typedef_names, header, semantic_type,
                   keep_obsolete, obsolete_dropped)


def _tables(path: Path, name: str, rows: dict[str, dict], edges: list, typedef_names: dict,
            header: dict, semantic_type: str | None, keep_obsolete: bool,
            obsolete_dropped: int) -> CodeSystemTables:
    ids = list(rows)
    values = list(rows.values())

    def joined(key: str) -> list[str | None]:
        return ["|".join(dict.fromkeys(v[key])) or None for v in values]

    extra = {"synonyms": joined("synonyms"),
             "definition": [v["definition"] for v in values],
             "alt_ids": joined("alt_ids"), "xrefs": joined("xrefs")}
    if keep_obsolete:
        extra["obsolete"] = [v["obsolete"] for v in values]
    types = semantic_type if semantic_type is not None else infer_semantic_type(ids)
    concepts = make_concepts(ids, [v["label"] for v in values], types, **extra)
    for col in ("synonyms", "definition", "alt_ids", "xrefs"):
        concepts[col] = concepts[col].astype("string")
    frame = pd.DataFrame(edges, columns=["source", "relation", "target", "xref_source"])
    names = {r: relation_name(r, typedef_names) for r in frame["relation"].unique()}
    ontology = (header.get("ontology") or [path.stem])[0]
    relations = make_relations(frame["source"], frame["relation"].map(names), frame["target"],
                               provenance=f"obo:{ontology}",
                               xref_source=frame["xref_source"].astype("string"))
    relations = relations.drop_duplicates(["source", "relation", "target"], ignore_index=True)
    properties = dict(v.split(" ", 1) for v in header.get("property_value", []) if " " in v)
    version = (header.get("data-version") or [None])[0] or _strip_literal(
        properties.get("owl:versionInfo"))
    metadata = {
        "source": str(path), "ontology": ontology, "version": version,
        "format_version": (header.get("format-version") or [None])[0],
        "license": _strip_literal(properties.get("terms:license")
                                  or properties.get("dcterms:license")),
        "remark": header.get("remark", []), "title": _strip_literal(properties.get("dc:title")),
        "n_terms": len(ids), "n_obsolete_dropped": obsolete_dropped,
    }
    return CodeSystemTables(name, concepts, relations, metadata).validate()


def _strip_literal(value: str | None) -> str | None:
    """``'"2025-01-16" xsd:string'`` -> ``'2025-01-16'``."""
    if value is None:
        return None
    match = _QUOTED.match(value.strip())
    return _unescape(match.group(1)) if match else value.strip()
