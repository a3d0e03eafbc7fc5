"""Readers of medical code systems, returning concepts and relations tables.

Importing the package registers every reader; ``ontologies.load(name)`` reads one.
"""

from ontologies import atc, ccs, ccsr, codes, hpo, icd9cm, icd10cm, obo, rdf, snomed  # noqa: F401  (register readers)
from ontologies.catalog import READERS, available, load
from ontologies.errors import (
    ConfigError,
    DataNotFoundError,
    DuplicateIdError,
    InputError,
    MedKGError,
    ParseError,
    SchemaError,
    UnknownCodeError,
    UnknownNameError,
)
from ontologies.schema import (
    CONCEPT_COLUMNS,
    RELATION_COLUMNS,
    SEMANTIC_TYPES,
    CodeSystemTables,
    make_concepts,
    make_relations,
)

__all__ = [
    "READERS", "available", "load",
    "MedKGError", "SchemaError", "DuplicateIdError", "ParseError", "UnknownCodeError",
    "UnknownNameError", "DataNotFoundError", "ConfigError", "InputError",
    "CONCEPT_COLUMNS", "RELATION_COLUMNS", "SEMANTIC_TYPES", "CodeSystemTables",
    "make_concepts", "make_relations",
]
