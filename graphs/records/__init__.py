"""Patient records: the :class:`PatientRecords` model and readers (MIMIC-III/IV, OMOP, FHIR).

Importing the package registers every reader; ``read_records(format, folder)`` reads one.
"""

from graphs.records.columns import MAPPINGS, MODALITIES, SEXES, TABLES, coerce_table, empty_table
from graphs.records.fhir import read_fhir
from graphs.records.mimic3 import read_mimic3
from graphs.records.mimic4 import read_mimic4
from graphs.records.omop import read_omop
from graphs.records.registry import READERS, read_records
from graphs.records.schema import TABLE_NAMES, PatientRecords, concat, drop_orphans

__all__ = [
    "PatientRecords", "TABLE_NAMES", "TABLES", "MAPPINGS", "MODALITIES", "SEXES",
    "coerce_table", "empty_table", "concat", "drop_orphans",
    "READERS", "read_records", "read_mimic3", "read_mimic4", "read_omop", "read_fhir",
]
