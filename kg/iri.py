"""CURIE <-> IRI mapping and the medkg RDF vocabulary.

A CURIE ``PREFIX:local`` becomes ``namespace + percent-encode(local)``, where the
namespace comes from :data:`PREFIXES` (BioPortal PURLs for ICD, ``snomed.info`` for
SNOMED CT, OBO PURLs for HPO/DO/MONDO, ...) or, for any other prefix,
``https://w3id.org/medkg/id/<PREFIX>/``. Every character outside ``A-Z a-z 0-9 - . _``
is percent-encoded (UTF-8), including ``%``, ``/``, ``:`` and spaces, so decoding is exact:
``iri_to_curie(curie_to_iri(c)) == c`` for every CURIE. IRIs are matched back to the
longest namespace that prefixes them.

Examples:
    >>> curie_to_iri("ICD10CM:S00.00XA")
    'http://purl.bioontology.org/ontology/ICD10CM/S00.00XA'
    >>> curie_to_iri("HP:0001250")
    'http://purl.obolibrary.org/obo/HP_0001250'
    >>> curie_to_iri("LOCAL:a b/c")
    'https://w3id.org/medkg/id/LOCAL/a%20b%2Fc'
    >>> iri_to_curie("https://w3id.org/medkg/id/LOCAL/a%20b%2Fc")
    'LOCAL:a b/c'
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from urllib.parse import quote, unquote

import numpy as np
import pandas as pd

from ontologies.errors import SchemaError

__all__ = [
    "PREFIXES",
    "FALLBACK",
    "MEDKG",
    "MEDKG_REL",
    "MEDKG_ATTR",
    "MEDKG_JSON",
    "encode_local",
    "curie_to_iri",
    "iri_to_curie",
    "curies_to_iris",
    "iris_to_curies",
    "class_name",
    "attribute_iri",
    "attribute_name",
    "is_prefix_name",
]

#: CURIE prefix -> IRI namespace for well-known systems.
PREFIXES: dict[str, str] = {
    "ICD10CM": "http://purl.bioontology.org/ontology/ICD10CM/",
    "ICD9CM": "http://purl.bioontology.org/ontology/ICD9CM/",
    "ICD10PCS": "http://purl.bioontology.org/ontology/ICD10PCS/",
    "ATC": "http://purl.bioontology.org/ontology/ATC/",
    "RXNORM": "http://purl.bioontology.org/ontology/RXNORM/",
    "SNOMEDCT": "http://snomed.info/id/",
    "HP": "http://purl.obolibrary.org/obo/HP_",
    "DOID": "http://purl.obolibrary.org/obo/DOID_",
    "MONDO": "http://purl.obolibrary.org/obo/MONDO_",
    "GO": "http://purl.obolibrary.org/obo/GO_",
    "CHEBI": "http://purl.obolibrary.org/obo/CHEBI_",
    "UBERON": "http://purl.obolibrary.org/obo/UBERON_",
}

#: Namespace of prefixes not in :data:`PREFIXES`: ``FALLBACK + PREFIX + "/" + local``.
FALLBACK = "https://w3id.org/medkg/id/"
#: Classes (``medkg:Disease``, ``medkg:Relation``) and properties of medkg.
MEDKG = "https://w3id.org/medkg/schema#"
#: Relation predicates: ``medkg-rel:is_a``.
MEDKG_REL = "https://w3id.org/medkg/relation/"
#: Extra attribute columns: ``medkg-attr:<column>``.
MEDKG_ATTR = "https://w3id.org/medkg/attribute/"
#: Datatype of literals holding JSON (object-column values such as lists).
MEDKG_JSON = MEDKG + "json"

_SAFE = re.compile(r"[A-Za-z0-9._-]*")
_UNSAFE = r"[^A-Za-z0-9._-]"
# Turtle/SPARQL prefix names we dare write unescaped.
_PREFIX_NAME = re.compile(r"[A-Za-z](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?")


def encode_local(local: str) -> str:
    """Percent-encodes everything but ``A-Z a-z 0-9 - . _`` (exactly reversible).

    Examples:
        >>> encode_local("E08-E13"), encode_local("100%/x")
        ('E08-E13', '100%25%2Fx')
    """
    if _SAFE.fullmatch(local):
        return local
    try:
        return quote(local, safe="").replace("~", "%7E")
    except UnicodeEncodeError as err:
        raise SchemaError(f"code {local!r} cannot be encoded as UTF-8 for an IRI") from err


def _namespace(prefix: str, prefixes: Mapping[str, str]) -> str:
    return prefixes.get(prefix) or f"{FALLBACK}{prefix}/"


def curie_to_iri(curie: str, prefixes: Mapping[str, str] = PREFIXES) -> str:
    """The IRI of one CURIE."""
    prefix, sep, local = str(curie).partition(":")
    if not sep or not prefix:
        raise SchemaError(f"bad CURIE {curie!r}: expected PREFIX:local such as 'ICD10CM:E11.9'")
    return _namespace(prefix, prefixes) + encode_local(local)


def curies_to_iris(curies: pd.Series | list[str],
                   prefixes: Mapping[str, str] = PREFIXES) -> np.ndarray:
    """Vectorised :func:`curie_to_iri`; returns an object array of strings.

    Examples:
        >>> curies_to_iris(["SNOMEDCT:44054006", "X:a/b"]).tolist()
        ['http://snomed.info/id/44054006', 'https://w3id.org/medkg/id/X/a%2Fb']
    """
    s = pd.Series(curies, dtype="string").reset_index(drop=True)
    if not len(s):
        return np.empty(0, dtype=object)
    parts = s.str.partition(":")
    bad = (parts[1] != ":") | (parts[0] == "") | s.isna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise SchemaError(f"bad CURIE {s.iloc[row]!r} at row {row}: expected PREFIX:local")
    local = parts[2]
    unsafe = local.str.contains(_UNSAFE, regex=True).to_numpy(dtype=bool)
    if unsafe.any():
        local = local.copy()
        local[unsafe] = [encode_local(x) for x in local[unsafe].tolist()]
    uniq = pd.unique(parts[0].to_numpy(dtype=object))
    ns = parts[0].map({p: _namespace(p, prefixes) for p in uniq}).astype("string")
    return (ns + local).to_numpy(dtype=object)


def iris_to_curies(iris: pd.Series | list[str],
                   prefixes: Mapping[str, str] = PREFIXES) -> np.ndarray:
    """Vectorised :func:`iri_to_curie`; unrecognised IRIs give ``None``.

    Examples:
        >>> iris_to_curies(["http://purl.obolibrary.org/obo/HP_0001250",
        ...                 "http://example.org/x"]).tolist()
        ['HP:0001250', None]
    """
    s = pd.Series(iris, dtype="string").reset_index(drop=True)
    pattern, by_ns = _reverse_pattern(tuple(prefixes.items()))
    found = s.str.extract(pattern)  # one regex pass: (namespace, fallback prefix, local)
    prefix = found[0].map(by_ns).astype("string").fillna(found[1].astype("string"))
    local = found[2].astype("string")
    encoded = local.str.contains("%", regex=False).fillna(False).to_numpy(dtype=bool)
    if encoded.any():
        local = local.copy()
        local[encoded] = [_decode(x) for x in local[encoded].tolist()]
    result = (prefix + ":" + local).to_numpy(dtype=object)
    result[pd.isna(result)] = None
    return result


@functools.lru_cache(maxsize=16)
def _reverse_pattern(items: tuple[tuple[str, str], ...]) -> tuple[re.Pattern, dict[str, str]]:
    by_ns: dict[str, str] = {}
    for prefix, ns in items:
        by_ns.setdefault(ns, prefix)
    # Longest namespace first, so HP_ wins over a broader OBO namespace.
    known = "|".join(re.escape(ns) for ns in sorted(by_ns, key=len, reverse=True))
    pattern = re.compile(f"^(?:({known})|{re.escape(FALLBACK)}([A-Za-z][A-Za-z0-9_.-]*)/)(.*)\\Z",
                         re.DOTALL)
    return pattern, by_ns


def _decode(local: str) -> str:
    try:
        return unquote(local, errors="strict")
    except UnicodeDecodeError as err:
        raise SchemaError(f"IRI local part {local!r} is not valid percent-encoded UTF-8") \
            from err


def iri_to_curie(iri: str, prefixes: Mapping[str, str] = PREFIXES) -> str:
    """The CURIE of one IRI.

    Raises:
        SchemaError: No known namespace prefixes the IRI.
    """
    curie = iris_to_curies([str(iri)], prefixes)[0]
    if curie is None:
        raise SchemaError(f"IRI {iri!r} is in no known namespace: expected one of "
                          f"{', '.join(sorted(set(prefixes.values())))} or {FALLBACK}<PREFIX>/")
    return curie


def class_name(semantic_type: str) -> str:
    """``"disease"`` -> ``"Disease"`` (the local name of the RDF class).

    Examples:
        >>> class_name("disease")
        'Disease'
    """
    return "".join(part.capitalize() for part in semantic_type.split("_"))


def attribute_iri(column: str) -> str:
    """IRI of the property holding an extra attribute column."""
    return MEDKG_ATTR + encode_local(column)


def attribute_name(iri: str) -> str:
    """Column name of an attribute property IRI (inverse of :func:`attribute_iri`).

    Raises:
        SchemaError: The local part is not valid percent-encoded UTF-8.

    Examples:
        >>> attribute_name(attribute_iri("onset age"))
        'onset age'
        >>> attribute_name(MEDKG_ATTR + "%FF")
        Traceback (most recent call last):
        ...
        ontologies.errors.SchemaError: IRI local part '%FF' is not valid percent-encoded UTF-8
    """
    return _decode(iri[len(MEDKG_ATTR):])


def is_prefix_name(prefix: str) -> bool:
    """Whether ``prefix`` can be bound as a Turtle/SPARQL prefix name as is.

    Examples:
        >>> is_prefix_name("ICD10CM"), is_prefix_name("a.b.")
        (True, False)
    """
    return bool(_PREFIX_NAME.fullmatch(prefix))
