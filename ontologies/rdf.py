"""OWL / RDF / SKOS vocabularies (Turtle, RDF/XML, N-Triples, N3) read through rdflib.

Registry name ``"rdf"``. What becomes what:

* **concepts**: every named (non-blank) resource typed ``owl:Class``, ``rdfs:Class`` or
  ``skos:Concept``, or used in ``rdfs:subClassOf`` / ``skos:broader`` / ``skos:narrower``
  (``owl:Thing``/``owl:Nothing`` and ``owl:deprecated true`` classes are left out).
  ``label`` from ``skos:prefLabel`` or ``rdfs:label`` (the ``language`` tag first, then
  untagged, then any); extra columns ``iri``, ``synonyms`` (``skos:altLabel``,
  ``oboInOwl:hasExactSynonym``) and ``definition`` (``skos:definition``, IAO:0000115).
* **relations**: ``rdfs:subClassOf`` and ``skos:broader`` -> ``is_a``. A blank-node
  superclass is skipped unless it is an ``owl:Restriction`` with ``owl:onProperty P`` and
  ``owl:someValuesFrom C``: that becomes the relation ``snake_case(local name of P)``
  (``BFO:0000050`` -> ``part_of`` for well-known OBO properties).

IRIs become CURIEs, in this order: OBO PURLs
(``http://purl.obolibrary.org/obo/HP_0001250`` -> ``HP:0001250``); the ``prefixes``
argument; the file's own ``@prefix``/``xmlns`` bindings (longest namespace wins); else a
prefix made from the namespace's last path segment (``http://example.org/onto/Foo`` ->
``onto:Foo``), numbered if taken (``onto2``), never a hash so ids are readable and stable.
``metadata["prefixes"]`` lists every prefix used, so CURIEs expand back to IRIs.

RDF/XML is checked with :mod:`defusedxml` before rdflib sees it
(:mod:`ontologies.rdf_parse`): DTD entity declarations and external entities are refused
(billion-laughs and XXE files raise ParseError), which also refuses Protégé-style
``<!ENTITY owl "...">`` headers — convert such files to Turtle.
rdflib is slow on big graphs (~40k triples/s): read big code systems from native files.

Examples:
    >>> import pathlib, tempfile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "demo.ttl"
    >>> _ = p.write_text('''@prefix owl: <http://www.w3.org/2002/07/owl#> .
    ... @prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
    ... @prefix obo: <http://purl.obolibrary.org/obo/> .
    ... obo:HP_0001250 a owl:Class ; rdfs:label "Seizure"@en ;
    ...     rdfs:subClassOf obo:HP_0000118 .
    ... ''')
    >>> t = read_rdf(p)
    >>> t.concepts[["id", "label", "semantic_type"]].values.tolist()
    [['HP:0000118', <NA>, 'phenotype'], ['HP:0001250', 'Seizure', 'phenotype']]
    >>> t.relations[["source", "relation", "target"]].values.tolist()
    [['HP:0001250', 'is_a', 'HP:0000118']]
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

import pandas as pd
import rdflib
from rdflib import OWL, RDF, RDFS, SKOS, BNode, Literal, URIRef

from ontologies.catalog import READERS
from ontologies.errors import ConfigError, DataNotFoundError
from ontologies.obo import KNOWN_RELATIONS, infer_semantic_type, snake_case
from ontologies.rdf_parse import parse_rdf
from ontologies.schema import SEMANTIC_TYPES, CodeSystemTables, make_concepts, make_relations

__all__ = ["read_rdf", "CurieMaker", "guess_format", "FORMATS"]

#: File suffix -> rdflib format name.
FORMATS = {".ttl": "turtle", ".turtle": "turtle", ".nt": "nt", ".ntriples": "nt", ".n3": "n3",
           ".owl": "xml", ".rdf": "xml", ".xml": "xml", ".rdfxml": "xml"}
OBO_PURL = re.compile(r"^http://purl\.obolibrary\.org/obo/([A-Za-z][A-Za-z0-9]*)_([^/#\s]+)$")
OBO_IN_OWL = rdflib.Namespace("http://www.geneontology.org/formats/oboInOwl#")
IAO_DEFINITION = URIRef("http://purl.obolibrary.org/obo/IAO_0000115")
_PREFIX = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]*$")
_BUILTIN = (str(RDF), str(RDFS), str(OWL), "http://www.w3.org/2001/XMLSchema#")


def guess_format(path: str | os.PathLike) -> str:
    """rdflib format name from the file suffix.

    Examples:
        >>> guess_format("hp.owl"), guess_format("demo.ttl")
        ('xml', 'turtle')
    """
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise ConfigError(f"cannot guess the RDF format of {path!s} from {suffix!r}: pass "
                          f"format= one of {sorted(set(FORMATS.values()))}")
    return FORMATS[suffix]


class CurieMaker:
    """Turns IRIs into CURIEs (see the module docstring for the rules) and remembers them.

    Args:
        prefixes: prefix -> namespace IRI, tried before ``bindings``.
        bindings: The graph's own prefix -> namespace bindings.

    Examples:
        >>> make = CurieMaker({"ex": "http://example.org/ns#"})
        >>> make("http://example.org/ns#Thing"), make("http://purl.obolibrary.org/obo/HP_0001250")
        ('ex:Thing', 'HP:0001250')
        >>> make("http://other.org/vocab/terms/Fever"), make("http://else.org/terms/Cough")
        ('terms:Fever', 'terms2:Cough')
        >>> make.used["terms2"]
        'http://else.org/terms/'
    """

    def __init__(self, prefixes: Mapping[str, str] | None = None,
                 bindings: Mapping[str, str] | None = None):
        self._namespaces: list[tuple[str, str]] = []  # (namespace, prefix), longest first
        taken: set[str] = set()
        for source in (prefixes or {}), (bindings or {}):
            for prefix, namespace in source.items():
                prefix = str(prefix) or _derive_prefix(str(namespace))
                if _PREFIX.match(prefix) and prefix not in taken:
                    taken.add(prefix)
                    self._namespaces.append((str(namespace), prefix))
        self._namespaces.sort(key=lambda item: -len(item[0]))
        self._taken = taken
        self._cache: dict[str, str] = {}
        #: Prefixes actually used -> namespace.
        self.used: dict[str, str] = {}

    def __call__(self, iri: str) -> str:
        iri = str(iri)
        if iri not in self._cache:
            self._cache[iri] = self._make(iri)
        return self._cache[iri]

    def _make(self, iri: str) -> str:
        obo = OBO_PURL.match(iri)
        if obo:
            self.used.setdefault(obo.group(1), f"http://purl.obolibrary.org/obo/{obo.group(1)}_")
            return f"{obo.group(1)}:{obo.group(2)}"
        for namespace, prefix in self._namespaces:
            local = iri[len(namespace):]
            if iri.startswith(namespace) and local and not any(c.isspace() for c in local):
                self.used.setdefault(prefix, namespace)
                return f"{prefix}:{local}"
        cut = max(iri.rfind("#"), iri.rfind("/"))
        if cut < 0 or cut == len(iri) - 1:
            cut = iri.rfind(":")
        namespace, local = iri[:cut + 1], iri[cut + 1:]
        prefix = base = _derive_prefix(namespace)
        number = 2
        while prefix in self._taken:
            prefix, number = f"{base}{number}", number + 1
        self._taken.add(prefix)
        self._namespaces.append((namespace, prefix))
        self._namespaces.sort(key=lambda item: -len(item[0]))
        self.used[prefix] = namespace
        return f"{prefix}:{local or '_'}"


def _derive_prefix(namespace: str) -> str:
    """``'http://example.org/onto.owl#'`` -> ``'onto'``; hash-free, readable."""
    body = re.sub(r"^[a-zA-Z][a-zA-Z0-9+.-]*:(//)?", "", namespace).rstrip("#/:")
    segments = [s for s in re.split(r"[/#:]", body) if s]
    name = segments[-1] if len(segments) > 1 else (segments[0].split(".")[-2]
                                                   if segments and "." in segments[0] else
                                                   (segments[0] if segments else "ns"))
    name = re.sub(r"\.(owl|ttl|rdf|xml|nt|n3)$", "", name, flags=re.IGNORECASE)
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
    return name if name[:1].isalpha() else f"ns_{name}"


def _best_literal(values: list[Literal], language: str) -> str | None:
    """Prefers the language tag (``en``, ``en-GB``), then untagged, then any; stable."""
    if not values:
        return None

    def rank(lit: Literal) -> tuple[int, str]:
        lang = (lit.language or "").lower()
        first = 0 if lang.split("-")[0] == language else (1 if not lang else 2)
        return first, str(lit)

    return str(min(values, key=rank))


@READERS.register("rdf")
def read_rdf(
    path: str | os.PathLike,
    *,
    format: str | None = None,
    prefixes: Mapping[str, str] | None = None,
    semantic_type: str | None = None,
    language: str = "en",
    keep_deprecated: bool = False,
    name: str = "rdf",
) -> CodeSystemTables:
    """Reads classes and their hierarchy from an OWL/RDF/SKOS file.

    Args:
        path: The file (``.ttl``, ``.owl``/``.rdf``/``.xml``, ``.nt``, ``.n3``).
        format: rdflib format (``"turtle"``, ``"xml"``, ``"nt"``, ``"n3"``); None guesses
            from the suffix.
        prefixes: Extra prefix -> namespace IRI used for CURIEs, tried first.
        semantic_type: One type for all concepts; None infers from the CURIE prefix
            (HP -> phenotype, MONDO/DOID -> disease, ...; unknown -> other).
        language: Preferred language tag for labels and synonyms.
        keep_deprecated: Keep ``owl:deprecated true`` classes.
        name: Name stored in the returned tables.

    Returns:
        Validated tables; ``metadata`` has the format, triple count, prefixes used,
        ontology IRI and version, and how many blank-node superclasses were skipped.

    Raises:
        DataNotFoundError: ``path`` does not exist.
        ParseError: Syntax error (with line where the parser gives one) or unsafe XML.
        ConfigError: Unknown format or semantic type.
    """
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"RDF file not found: {path}")
    fmt = format or guess_format(path)
    if semantic_type is not None and semantic_type not in SEMANTIC_TYPES:
        raise ConfigError(f"semantic_type {semantic_type!r}: expected one of "
                          f"{', '.join(SEMANTIC_TYPES)}")
    graph = parse_rdf(path, fmt)
    curie = CurieMaker(prefixes, {p: str(n) for p, n in graph.namespaces()})

    classes: set[URIRef] = set()
    for kind in (OWL.Class, RDFS.Class, SKOS.Concept):
        classes.update(s for s in graph.subjects(RDF.type, kind) if isinstance(s, URIRef))
    edges: list[tuple[URIRef, str, URIRef]] = []
    skipped = 0
    for child, parent in graph.subject_objects(RDFS.subClassOf):
        if isinstance(parent, URIRef):
            edges.append((child, "is_a", parent))
        elif isinstance(parent, BNode) and (parent, RDF.type, OWL.Restriction) in graph:
            prop = graph.value(parent, OWL.onProperty)
            filler = graph.value(parent, OWL.someValuesFrom)
            if isinstance(prop, URIRef) and isinstance(filler, URIRef):
                edges.append((child, _relation(prop, curie), filler))
            else:
                skipped += 1
        else:
            skipped += 1
    edges += [(s, "is_a", o) for s, o in graph.subject_objects(SKOS.broader)]
    edges += [(o, "is_a", s) for s, o in graph.subject_objects(SKOS.narrower)]
    edges = [e for e in edges if isinstance(e[0], URIRef) and isinstance(e[2], URIRef)]
    classes.update(node for s, _, o in edges for node in (s, o))
    excluded = {OWL.Thing, OWL.Nothing}
    if not keep_deprecated:
        excluded |= {s for s, o in graph.subject_objects(OWL.deprecated)
                     if isinstance(o, Literal) and o.toPython() in (True, "true")}
    classes = {c for c in classes if c not in excluded and not str(c).startswith(_BUILTIN)}
    ordered = sorted(classes, key=lambda c: curie(c))

    def literals(subject: URIRef, predicates: tuple) -> list[Literal]:
        return [o for p in predicates for o in graph.objects(subject, p)
                if isinstance(o, Literal)]

    labels, synonyms, definitions = [], [], []
    for cls in ordered:
        labels.append(_best_literal(literals(cls, (SKOS.prefLabel,)), language)
                      or _best_literal(literals(cls, (RDFS.label,)), language))
        alts = [str(o) for o in literals(cls, (SKOS.altLabel, OBO_IN_OWL.hasExactSynonym))
                if (o.language or language).lower().split("-")[0] == language]
        synonyms.append("|".join(dict.fromkeys(sorted(alts))) or None)
        definitions.append(_best_literal(literals(cls, (SKOS.definition, IAO_DEFINITION)),
                                         language))
    ids = [curie(c) for c in ordered]
    types = semantic_type if semantic_type is not None else infer_semantic_type(ids)
    concepts = make_concepts(ids, labels, types, iri=[str(c) for c in ordered],
                             synonyms=pd.Series(synonyms, dtype="string"),
                             definition=pd.Series(definitions, dtype="string"))
    kept = [e for e in edges if e[0] in classes and e[2] in classes]
    frame = pd.DataFrame([(curie(s), r, curie(o)) for s, r, o in kept],
                         columns=["source", "relation", "target"])
    frame = frame.drop_duplicates().sort_values(["source", "relation", "target"])
    relations = make_relations(frame["source"], frame["relation"], frame["target"],
                               provenance=f"rdf:{path.name}")
    ontology = next((s for s in graph.subjects(RDF.type, OWL.Ontology)), None)
    version = graph.value(ontology, OWL.versionInfo) if ontology is not None else None
    metadata = {
        "source": str(path), "format": fmt, "n_triples": len(graph),
        "ontology": None if ontology is None else str(ontology),
        "version": None if version is None else str(version),
        "prefixes": dict(sorted(curie.used.items())),
        "n_blank_superclasses_skipped": skipped,
    }
    return CodeSystemTables(name, concepts, relations, metadata).validate()


def _relation(prop: URIRef, curie: CurieMaker) -> str:
    """Relation name of a restriction's property: known OBO name, else its local name."""
    known = KNOWN_RELATIONS.get(curie(prop))
    if known:
        return known
    iri = str(prop)
    return snake_case(iri[max(iri.rfind("#"), iri.rfind("/")) + 1:])
