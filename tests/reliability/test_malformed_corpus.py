"""Every reader against the malformed-input corpus (tests/fixtures/malformed/<format>/).

Each case names one broken input and the error it must raise: a
:class:`~ontologies.errors.MedKGError` subclass whose message names the file (and the
line or row where the reader knows it). Text inputs are files in the corpus; binary ones
(DICOM, NIfTI, WAV, WFDB signals, torch files, parquet) are generated in ``tmp_path``.
Inputs a reader is documented to skip (with a warning or a log record) are in
:func:`test_documented_skip`. Known bugs are strict xfails whose reason reads
``"<module>: <bug>"``; remove the mark once the module is fixed.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import pickle
import shutil
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from ontologies.errors import (
    ConfigError,
    DataNotFoundError,
    DuplicateIdError,
    InputError,
    MedKGError,
    ParseError,
    SchemaError,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
M = FIXTURES / "malformed"


@dataclass(frozen=True)
class Case:
    """One malformed input: how to read it and what the error must say."""

    id: str
    read: Callable[[Path], Any]  # tmp_path -> reader result (expected to raise)
    error: type[BaseException] = MedKGError
    expect: tuple[str, ...] = ()  # substrings the message must contain (file, line/row)
    uses: tuple[str, ...] = ()  # corpus files (relative to M) this case reads
    bug: str | None = None


CASES: list[Case] = []


def case(id: str, read: Callable[[Path], Any], error: type = MedKGError,
         expect: tuple[str, ...] | str = (), uses: tuple[str, ...] | str = (),
         bug: str | None = None) -> None:
    CASES.append(Case(id, read, error, (expect,) if isinstance(expect, str) else expect,
                      (uses,) if isinstance(uses, str) else uses, bug))


def file_case(fmt: str, name: str, reader: Callable[[Path], Any], error: type = MedKGError,
              line: int | None = None, expect: tuple[str, ...] = (), bug: str | None = None,
              id: str | None = None) -> None:
    """A corpus file read by ``reader``; the message must name it (and ``line``)."""
    where = name if line is None else f"{name}:{line}:"
    case(id or f"{fmt}/{name}", lambda tmp: reader(M / fmt / name), error,
         (where, *expect), f"{fmt}/{name}", bug)


def overlay(base: Path, replacements: Path, tmp: Path) -> Path:
    """A copy of folder ``base`` with the files under ``replacements`` written over it."""
    out = tmp / "extract"
    shutil.copytree(base, out)
    for f in replacements.rglob("*"):
        if f.is_file():
            target = out / f.relative_to(replacements)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(f, target)
    return out


def used_files(folder: str) -> tuple[str, ...]:
    return tuple(str(p.relative_to(M)) for p in sorted((M / folder).rglob("*")) if p.is_file())


# ====================================================================== ontologies
from ontologies.atc import read_atc  # noqa: E402
from ontologies.ccsr import load_ccsr  # noqa: E402
from ontologies.hpo import read_hpoa  # noqa: E402
from ontologies.icd9cm import load_ccs, load_gem_9to10, load_icd9cm  # noqa: E402
from ontologies.icd10cm import load_icd10cm  # noqa: E402
from ontologies.obo import read_obo  # noqa: E402
from ontologies.rdf import read_rdf  # noqa: E402
from ontologies.snomed import read_snomedct, read_snomedct_icd10_map  # noqa: E402

for name, err, line in [("truncated.xml", ParseError, 5), ("wrong_root.xml", ParseError, None),
                        ("no_chapters.xml", ParseError, None),
                        ("bad_chapter_name.xml", ParseError, None),
                        ("diag_without_name.xml", ParseError, None),
                        ("xml_bomb.xml", ParseError, None),
                        ("external_entity.xml", ParseError, None),
                        ("latin1.xml", ParseError, 5), ("empty.xml", ParseError, None)]:
    file_case("icd10cm", name, load_icd10cm, err, line)
file_case("icd10cm", "duplicate_code.xml", load_icd10cm, DuplicateIdError,
          bug="ontologies.icd10cm: DuplicateIdError for a repeated <diag> code names no file")
file_case("icd10cm", "section_without_id.xml", load_icd10cm, ParseError,
          bug="ontologies.icd10cm: <section> without id silently becomes concept 'ICD10CM:-'")
file_case("icd10cm", "code_with_space.xml", load_icd10cm, ParseError,
          bug="ontologies.icd10cm: malformed <diag> code raises SchemaError naming no file")

for name, line in [("missing_column.csv", 1), ("malformed_code.csv", 3), ("empty.csv", None),
                   ("latin1.csv", None), ("utf16.csv", None)]:
    file_case("icd9cm", name, load_icd9cm, ParseError, line)
file_case("icd9cm", "header_only.csv", load_icd9cm, ParseError,
          bug="ontologies.icd9cm: header-only CSV raises raw numpy UFuncTypeError in _hierarchy")
file_case("icd9cm", "duplicate_code.csv", load_icd9cm, DuplicateIdError, line=3,
          bug="ontologies.icd9cm: a repeated dgns_cd is accepted silently (last label wins)")
file_case("icd9cm", "short_row.csv", load_icd9cm, ParseError, line=2,
          bug="ontologies.icd9cm: a row with too few fields is padded silently")

for name, line in [("bad_flags.csv", 3), ("missing_columns.csv", 1), ("malformed_code.csv", 3),
                   ("nodx_on_mapped_row.csv", 2)]:
    file_case("gem", name, load_gem_9to10, ParseError, line)

for name, line in [("codes_before_category.txt", 1), ("no_categories.txt", None),
                   ("malformed_code.txt", 2), ("latin1.txt", None),
                   ("duplicate_category.txt", None)]:
    file_case("ccs", name, load_ccs, ParseError, line)

for name, line in [("invalid.json", 2), ("not_object.json", None), ("bad_category.json", None),
                   ("bad_key.json", None), ("empty.json", None), ("utf16.json", None)]:
    file_case("ccsr", name, load_ccsr, ParseError, line)
file_case("ccsr", "conflicting_spellings.json", load_ccsr, ParseError,
          bug="ontologies.ccsr: 'E119' and 'E11.9' with different categories give one code "
              "two default categories silently")


def _deep_json(tmp: Path, name: str = "deep.json") -> Path:
    path = tmp / name
    path.write_text("[" * 50_000 + "]" * 50_000)
    return path


case("ccsr/deeply_nested(generated)", lambda tmp: load_ccsr(_deep_json(tmp)), ParseError,
     "deep.json", bug="ontologies.ccsr: deeply nested JSON raises raw RecursionError")

SN = M / "snomed"


def snomed(concept: str = "valid_concept.txt", description: str = "valid_description.txt",
           relationship: str = "valid_relationship.txt") -> Callable[[Path], Any]:
    return lambda tmp: read_snomedct(concept_path=SN / concept,
                                     description_path=SN / description,
                                     relationship_path=SN / relationship)


for kind, name, line in [("concept", "concept_missing_column.txt", 1),
                         ("concept", "concept_wrong_field_count.txt", 3),
                         ("concept", "concept_bad_sctid.txt", 3),
                         ("concept", "concept_bad_date.txt", 3),
                         ("concept", "concept_bad_active.txt", 3),
                         ("concept", "concept_empty.txt", None),
                         ("description", "description_latin1.txt", 2),
                         ("relationship", "relationship_utf16.txt", 1)]:
    case(f"snomed/{name}", snomed(**{kind: name}), ParseError,
         name if line is None else f"{name}:{line}:",
         (f"snomed/{name}", "snomed/valid_concept.txt", "snomed/valid_description.txt",
          "snomed/valid_relationship.txt"))
file_case("snomed", "map_bad_group.txt", read_snomedct_icd10_map, ParseError, 2)
case("snomed/missing_folder", lambda tmp: read_snomedct(tmp / "no-release"), DataNotFoundError,
     "no-release")

for name, line in [("bad_line.obo", 7), ("stanza_without_id.obo", 8), ("unquoted_def.obo", 7),
                   ("relationship_without_target.obo", 7), ("latin1.obo", None),
                   ("utf16.obo", None), ("truncated.obo", 7)]:
    file_case("obo", name, read_obo, ParseError, line)
file_case("obo", "empty.obo", read_obo, ParseError,
          bug="ontologies.obo: an empty file gives empty tables without error or log")
file_case("obo", "empty_is_a.obo", read_obo, ParseError, line=7,
          bug="ontologies.obo: 'is_a:' without a target becomes a relation to ''")
file_case("obo", "bad_id.obo", read_obo, ParseError, line=4,
          bug="ontologies.obo: an id that is not a CURIE raises SchemaError naming no file/line")

for name, line in [("bad_hpo_id.hpoa", 5), ("bad_aspect.hpoa", 5), ("bad_frequency.hpoa", 5),
                   ("zero_denominator.hpoa", 5), ("wrong_field_count.hpoa", 5),
                   ("no_header.hpoa", 3), ("empty.hpoa", None), ("latin1.hpoa", 4)]:
    file_case("hpoa", name, read_hpoa, ParseError, line)

for name, err, line in [("syntax_error.ttl", ParseError, 5), ("bad_line.nt", ParseError, None),
                        ("unknown_suffix.rdfz", ConfigError, None),
                        ("truncated.owl", ParseError, None), ("xml_bomb.owl", ParseError, None),
                        ("external_entity.owl", ParseError, None)]:
    file_case("rdf", name, read_rdf, err, line)
for name, exc in [("truncated.ttl", "IndexError"), ("latin1.ttl", "UnicodeDecodeError"),
                  ("utf16.ttl", "UnicodeDecodeError")]:
    file_case("rdf", name, read_rdf, ParseError,
              bug=f"ontologies.rdf: _parse lets rdflib's raw {exc} escape on Turtle input")

for name, err, line in [("no_code_column.csv", ParseError, 1), ("bad_code.csv", ParseError, 3),
                        ("empty_name.csv", ParseError, 3), ("two_names.csv", ParseError, 3),
                        ("wrong_field_count.csv", ParseError, 3), ("latin1.csv", ParseError, 2),
                        ("utf16.csv", ParseError, 1), ("empty.csv", ParseError, None),
                        ("unterminated_quote.csv", ParseError, None)]:
    file_case("atc", name, read_atc, err, line)

# ====================================================================== kg
from graphs.cohort.demo import tiny_kg  # noqa: E402
from kg.rdf_view import from_rdf  # noqa: E402
from kg.storage import load as load_kg  # noqa: E402
from kg.storage import save as save_kg  # noqa: E402

for name in ("truncated.ttl", "latin1.ttl"):
    file_case("kg_rdf", name, from_rdf, ParseError)
file_case("kg_rdf", "bad_json_literal.ttl", from_rdf, ParseError,
          bug="kg.rdf_view: a malformed medkg:json literal raises raw JSONDecodeError (_value)")
file_case("kg_rdf", "dtypes_not_object.ttl", from_rdf, ParseError,
          bug="kg.rdf_view: medkg:conceptDtypes that is not a JSON object raises raw "
              "AttributeError")
file_case("kg_rdf", "bad_attribute_escape.ttl", from_rdf, ParseError,
          bug="kg.iri: attribute_name lets a raw UnicodeDecodeError escape on '%FF'")
file_case("kg_rdf", "probability_text.ttl", from_rdf, ParseError,
          bug="kg.rdf_view: a non-numeric medkg:probability silently becomes NaN")
file_case("rdf", "xml_bomb.owl", lambda p: from_rdf(p, on_dangling="keep"), ParseError,
          bug="kg.rdf_view: RDF/XML is parsed without defusedxml: entity expansion (billion "
              "laughs) is accepted", id="kg_rdf/xml_bomb.owl")
file_case("rdf", "external_entity.owl", lambda p: from_rdf(p, on_dangling="keep"), ParseError,
          bug="kg.rdf_view: RDF/XML with an external entity (XXE) is accepted silently",
          id="kg_rdf/external_entity.owl")


def _saved_kg(tmp: Path) -> Path:
    return save_kg(tiny_kg(), tmp / "kg")


def _manifest(folder: Path, **changes: Any) -> Path:
    meta = json.loads((folder / "metadata.json").read_text())
    meta.update(changes)
    (folder / "metadata.json").write_text(json.dumps(meta))
    return folder


def kg_case(id: str, mutate: Callable[[Path], Any], error: type, expect: str,
            bug: str | None = None) -> None:
    def read(tmp: Path) -> Any:
        folder = _saved_kg(tmp)
        mutate(folder)
        return load_kg(folder)
    case(f"kg_store/{id}", read, error, expect, bug=bug)


kg_case("missing_manifest", lambda f: (f / "metadata.json").unlink(), DataNotFoundError,
        "metadata.json")
kg_case("manifest_not_json", lambda f: (f / "metadata.json").write_text("{"), ParseError,
        "metadata.json")
kg_case("manifest_utf16", lambda f: (f / "metadata.json").write_bytes(
    json.dumps({"format": "x"}).encode("utf-16")), ParseError, "metadata.json")
kg_case("wrong_format", lambda f: _manifest(f, format="something-else"), SchemaError,
        "metadata.json")
kg_case("wrong_version", lambda f: _manifest(f, format_version=99), SchemaError,
        "metadata.json")
kg_case("truncated_parquet", lambda f: (f / "concepts.parquet").write_bytes(
    (f / "concepts.parquet").read_bytes()[:64]), ParseError, "concepts.parquet")
kg_case("row_count_mismatch", lambda f: _manifest(f, n_concepts=7), SchemaError,
        "concepts.parquet")
kg_case("missing_table", lambda f: (f / "relations.parquet").unlink(), DataNotFoundError,
        "relations.parquet")
kg_case("dtypes_not_object", lambda f: _manifest(f, concept_dtypes=["id"]), SchemaError,
        "metadata.json", bug="kg.storage: concept_dtypes that is not an object raises raw "
                             "AttributeError in kg.tables.apply_dtype_spec")
kg_case("deeply_nested_manifest", lambda f: (f / "metadata.json").write_text(
    "[" * 50_000 + "]" * 50_000), ParseError, "metadata.json",
        bug="kg.storage: deeply nested metadata.json raises raw RecursionError")

# ====================================================================== records
from graphs.cohort.demo import tiny_records  # noqa: E402
from graphs.records import PatientRecords, read_fhir, read_mimic3, read_mimic4, read_omop  # noqa: E402


def mimic3_case(sub: str, error: type, expect: tuple[str, ...], bug: str | None = None) -> None:
    case(f"mimic3/{sub}", lambda tmp: read_mimic3(
        overlay(FIXTURES / "mimic3", M / "mimic3" / sub, tmp), map_to_icd10=False),
         error, expect, used_files(f"mimic3/{sub}"), bug)


mimic3_case("missing_column", SchemaError, ("ADMISSIONS.csv", "dischtime"))
mimic3_case("bad_date", SchemaError, ("PATIENTS.csv", "'DOB'", "data row 2"))
mimic3_case("date_out_of_range", SchemaError, ("PATIENTS.csv", "'DOB'", "data row 1"))
mimic3_case("unterminated_quote", ParseError, ("DIAGNOSES_ICD.csv",))
mimic3_case("empty_file", ParseError, ("PATIENTS.csv",))
mimic3_case("not_gzip", ParseError, ("NOTEEVENTS.csv.gz",))
mimic3_case("latin1_header", ParseError, ("PATIENTS.csv",),
            bug="graphs.records.files: header() lets a raw UnicodeDecodeError escape")
mimic3_case("utf16", ParseError, ("PATIENTS.csv",),
            bug="graphs.records.files: header() lets a raw UnicodeDecodeError escape")
mimic3_case("extra_field", ParseError, ("DIAGNOSES_ICD.csv", "2"),
            bug="graphs.records.files: a row with an extra field makes pandas use column 1 "
                "as index; read_table raises raw TypeError at 'out.index + 1'")
mimic3_case("seq_num_inf", SchemaError, ("seq_num",),
            bug="graphs.records.columns: _to_int raises raw OverflowError on 'inf'")
mimic3_case("duplicate_patient", DuplicateIdError, ("PATIENTS.csv",),
            bug="graphs.records.schema: DuplicateIdError names the table, not PATIENTS.csv")


def _truncated_gz(tmp: Path) -> Any:
    folder = overlay(FIXTURES / "mimic3", tmp / "none", tmp)
    data = (folder / "NOTEEVENTS.csv.gz").read_bytes()
    (folder / "NOTEEVENTS.csv.gz").write_bytes(data[: len(data) // 2])
    return read_mimic3(folder, map_to_icd10=False)


case("mimic3/truncated_gz(generated)", _truncated_gz, ParseError, "NOTEEVENTS.csv.gz")


def _without(base: Path, rel: str, reader: Callable[[Path], Any]) -> Callable[[Path], Any]:
    def read(tmp: Path) -> Any:
        folder = tmp / "extract"
        shutil.copytree(base, folder)
        (folder / rel).unlink()
        return reader(folder)
    return read


case("mimic3/missing_table", _without(FIXTURES / "mimic3", "ADMISSIONS.csv",
                                      lambda f: read_mimic3(f, map_to_icd10=False)),
     DataNotFoundError, "admissions")


def mimic4_case(sub: str, error: type, expect: tuple[str, ...], bug: str | None = None) -> None:
    case(f"mimic4/{sub}", lambda tmp: read_mimic4(
        overlay(FIXTURES / "mimic4", M / "mimic4" / sub, tmp), map_to_icd10=False),
         error, expect, used_files(f"mimic4/{sub}"), bug)


mimic4_case("bad_icd_version", SchemaError, ("diagnoses_icd.csv", "icd_version", "data row 1"))
mimic4_case("negative_anchor_age", SchemaError, ("patients.csv", "anchor_age", "data row 1"))
mimic4_case("fractional_anchor_age", SchemaError, ("patients.csv", "anchor_age"),
            bug="graphs.records.mimic4: _birth_dates raises raw TypeError on '52.5'")
mimic4_case("anchor_year_out_of_range", SchemaError, ("patients.csv", "anchor_year"),
            bug="graphs.records.mimic4: an out-of-range birth year silently becomes NaT")
case("mimic4/missing_table", _without(FIXTURES / "mimic4", "hosp/patients.csv",
                                      lambda f: read_mimic4(f, map_to_icd10=False)),
     DataNotFoundError, "patients")


def omop_case(sub: str, error: type, expect: tuple[str, ...], bug: str | None = None) -> None:
    case(f"omop/{sub}", lambda tmp: read_omop(overlay(FIXTURES / "omop", M / "omop" / sub, tmp)),
         error, expect, used_files(f"omop/{sub}"), bug)


omop_case("person_missing_gender", SchemaError, ("person.csv", "gender_concept_id"))
omop_case("year_not_number", SchemaError, ("person.csv", "year_of_birth", "data row 1"))
omop_case("concept_missing_columns", SchemaError, ("CONCEPT.csv", "vocabulary_id"))
omop_case("month_13", SchemaError, ("person.csv", "month_of_birth"),
          bug="graphs.records.omop: _birth_dates turns month 13 into NaT silently")
omop_case("value_text", SchemaError, ("measurement.csv", "value_as_number"),
          bug="graphs.records.omop: a text value_as_number fails in coerce_table, naming "
              "table 'observations' and row 0, not measurement.csv and its data row")

for name, err, line in [("invalid_json.json", ParseError, 3), ("not_bundle.json", ParseError, None),
                        ("entry_not_list.json", ParseError, None),
                        ("entry_without_resource.json", ParseError, None),
                        ("patient_without_id.json", ParseError, None),
                        ("condition_without_subject.json", ParseError, None),
                        ("value_not_number.json", ParseError, None),
                        ("utf16.json", ParseError, None), ("empty.json", ParseError, 1)]:
    file_case("fhir", name, lambda p: read_fhir(p, map_to_icd10=False), err, line)
case("fhir/too_big", lambda tmp: read_fhir(M / "fhir" / "value_not_number.json", max_bytes=10),
     InputError, "value_not_number.json")
case("fhir/deeply_nested(generated)", lambda tmp: read_fhir(_deep_json(tmp, "deep.json")),
     ParseError, "deep.json", bug="graphs.records.fhir: deeply nested JSON raises raw "
                                 "RecursionError in _load")
file_case("fhir", "bad_birth_date.json", lambda p: read_fhir(p, map_to_icd10=False), SchemaError,
          bug="graphs.records.fhir: a bad birthDate fails in coerce_table naming no file")
file_case("fhir", "duplicate_patient.json", lambda p: read_fhir(p, map_to_icd10=False),
          DuplicateIdError, bug="graphs.records.fhir: a repeated Patient raises "
                                "DuplicateIdError naming no file")
file_case("fhir", "infinite_value.json", lambda p: read_fhir(p, map_to_icd10=False), ParseError,
          bug="graphs.records.fhir: 'Infinity' (not JSON) is accepted as an observation value")


def records_case(id: str, mutate: Callable[[Path], Any], error: type, expect: str,
                 bug: str | None = None) -> None:
    def read(tmp: Path) -> Any:
        folder = tiny_records().save(tmp / "records")
        mutate(folder)
        return PatientRecords.load(folder)
    case(f"records_store/{id}", read, error, expect, bug=bug)


records_case("missing_metadata", lambda f: (f / "metadata.json").unlink(), DataNotFoundError,
             "records")
records_case("metadata_not_json", lambda f: (f / "metadata.json").write_text("{"), SchemaError,
             "metadata.json")
records_case("missing_table", lambda f: (f / "visits.parquet").unlink(), DataNotFoundError,
             "visits.parquet")
records_case("metadata_utf16", lambda f: (f / "metadata.json").write_bytes(
    b'\xff\xfe{\x00}\x00'), SchemaError, "metadata.json",
             bug="graphs.records.schema: PatientRecords.load lets a raw UnicodeDecodeError escape")
records_case("metadata_list", lambda f: (f / "metadata.json").write_text("[]"), SchemaError,
             "metadata.json", bug="graphs.records.schema: PatientRecords.load raises raw "
                                  "AttributeError on a JSON list")
records_case("metadata_root_number", lambda f: (f / "metadata.json").write_text('{"root": 5}'),
             SchemaError, "metadata.json", bug="graphs.records.schema: PatientRecords.load "
                                               "raises raw TypeError on a non-string root")
records_case("truncated_parquet", lambda f: (f / "visits.parquet").write_bytes(
    (f / "visits.parquet").read_bytes()[:64]), ParseError, "visits.parquet",
             bug="graphs.records.schema: PatientRecords.load lets pyarrow's ArrowInvalid escape")

# ====================================================================== encoders
from graphs.encoders.audio import AudioCNNEncoder, read_audio  # noqa: E402
from graphs.encoders.genomic import read_fasta, read_vcf  # noqa: E402
from graphs.encoders.image_io import prepare_image, read_image  # noqa: E402
from graphs.encoders.signal_io import read_dicom_waveform, read_wfdb  # noqa: E402
from graphs.encoders.volume import read_volume  # noqa: E402


def _ct_bytes() -> bytes:
    from pydicom.data import get_testdata_file

    return Path(get_testdata_file("CT_small.dcm")).read_bytes()


def _write(tmp: Path, name: str, data: bytes) -> Path:
    path = tmp / name
    path.write_bytes(data)
    return path


def _dicom_edit(tmp: Path, name: str, **elements: Any) -> Path:
    import pydicom
    from pydicom.data import get_testdata_file

    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    for key, value in elements.items():
        if value is None:
            delattr(ds, key)
        else:
            setattr(ds, key, value)
    ds.save_as(tmp / name)
    return tmp / name


def _dicom_patch(tmp: Path, name: str, old: bytes, new: bytes, **elements: Any) -> Path:
    """A CT_small copy whose element bytes ``old`` are replaced by same-length ``new``."""
    data = (_dicom_edit(tmp, name, **elements)).read_bytes()
    assert old in data and len(old) == len(new)
    return _write(tmp, name, data.replace(old, new, 1))


def gen(fmt: str, name: str, make: Callable[[Path], Path], reader: Callable[[Path], Any],
        error: type = MedKGError, bug: str | None = None, id: str | None = None,
        named: bool = True) -> None:
    """An input generated in tmp_path; the message must name it unless ``named`` is off."""
    case(id or f"{fmt}/{name}(generated)", lambda tmp: reader(make(tmp)), error,
         (name,) if named else (), bug=bug)


gen("dicom", "empty.dcm", lambda t: _write(t, "empty.dcm", b""), read_image, ParseError)
gen("dicom", "truncated.dcm", lambda t: _write(t, "truncated.dcm", _ct_bytes()[:20_000]),
    read_image, ParseError)
gen("dicom", "header_only.dcm", lambda t: _write(t, "header_only.dcm", _ct_bytes()[:300]),
    read_image, ParseError)
gen("dicom", "random.dcm", lambda t: _write(t, "random.dcm",
                                            np.random.default_rng(0).bytes(4000)),
    read_image, ParseError)
gen("dicom", "no_pixels.dcm", lambda t: _dicom_edit(t, "no_pixels.dcm", PixelData=None),
    read_image, ParseError)
gen("dicom", "rows_too_large.dcm", lambda t: _dicom_edit(t, "rows_too_large.dcm", Rows=512),
    read_image, ParseError)
gen("dicom", "bits_13.dcm", lambda t: _dicom_edit(t, "bits_13.dcm", BitsAllocated=13),
    read_image, ParseError)
gen("dicom", "pixel_spacing_text.dcm",
    lambda t: _dicom_patch(t, "pixel_spacing_text.dcm", b"0.661468\\0.661468",
                           b"abcdefgh\\abcdefgh"), read_image, ParseError,
    bug="graphs.encoders.image_io: dicom_metadata raises raw ValueError on a text PixelSpacing")
gen("dicom", "frames_text.dcm",
    lambda t: _dicom_patch(t, "frames_text.dcm", b"IS\x02\x001 ", b"IS\x02\x00x ",
                           NumberOfFrames="1"), read_image, ParseError,
    bug="graphs.encoders.image_io: dicom_metadata raises raw ValueError on NumberOfFrames 'x'")
gen("dicom", "nan_slope.dcm", lambda t: _dicom_edit(t, "nan_slope.dcm", RescaleSlope="NaN"),
    lambda p: prepare_image(p, 16, 1), InputError)
gen("dicom", "no_waveform.dcm", lambda t: _write(t, "no_waveform.dcm", _ct_bytes()),
    read_dicom_waveform, ParseError)


def _ecg_truncated(tmp: Path) -> Path:
    from pydicom.data import get_testdata_file

    data = Path(get_testdata_file("waveform_ecg.dcm")).read_bytes()
    return _write(tmp, "ecg_truncated.dcm", data[: len(data) // 2])


gen("dicom", "ecg_truncated.dcm", _ecg_truncated, read_dicom_waveform, ParseError)


def _png(tmp: Path, name: str, cut: int | None) -> Path:
    from PIL import Image

    Image.fromarray(np.arange(400, dtype=np.uint8).reshape(20, 20)).save(tmp / name)
    if cut is not None:
        _write(tmp, name, (tmp / name).read_bytes()[:cut])
    return tmp / name


gen("image", "truncated.png", lambda t: _png(t, "truncated.png", 60), read_image, ParseError)
for name in ("not_an_image.png", "empty.png"):
    file_case("image", name, read_image, ParseError)


def _nifti(tmp: Path, name: str, data: np.ndarray, patch: dict[int, bytes] | None = None,
           cut: int | None = None) -> Path:
    import nibabel as nib

    path = tmp / name
    nib.save(nib.Nifti1Image(data.astype(np.float32), np.eye(4)), path)
    raw = bytearray(path.read_bytes() if not name.endswith(".gz")
                    else gzip.decompress(path.read_bytes()))
    for offset, value in (patch or {}).items():
        raw[offset:offset + len(value)] = value
    raw = bytes(raw) if not name.endswith(".gz") else gzip.compress(bytes(raw))
    return _write(tmp, name, raw[:cut] if cut else raw)


VOL = np.random.default_rng(0).random((6, 7, 8))
gen("nifti", "empty.nii", lambda t: _write(t, "empty.nii", b""), read_volume, ParseError)
gen("nifti", "truncated_header.nii", lambda t: _nifti(t, "truncated_header.nii", VOL, cut=200),
    read_volume, ParseError)
gen("nifti", "truncated_data.nii", lambda t: _nifti(t, "truncated_data.nii", VOL, cut=600),
    read_volume, ParseError)
gen("nifti", "truncated.nii.gz", lambda t: _nifti(t, "truncated.nii.gz", VOL, cut=900),
    read_volume, ParseError)
gen("nifti", "garbage.nii.gz", lambda t: _write(t, "garbage.nii.gz", b"not gzip" * 50),
    read_volume, ParseError)
gen("nifti", "two_d.nii", lambda t: _nifti(t, "two_d.nii", VOL[0]), read_volume, InputError)
gen("nifti", "five_d.nii", lambda t: _nifti(t, "five_d.nii", np.zeros((2, 2, 2, 2, 2))),
    read_volume, InputError)
gen("nifti", "nan.nii", lambda t: _nifti(t, "nan.nii", np.where(VOL > 0.5, np.nan, VOL)),
    read_volume, InputError)
gen("nifti", "inf.nii", lambda t: _nifti(t, "inf.nii", np.where(VOL > 0.5, np.inf, VOL)),
    read_volume, InputError)
gen("nifti", "bad_datatype.nii", lambda t: _nifti(t, "bad_datatype.nii", VOL,
                                                  {70: struct.pack("<h", 999)}),
    read_volume, ParseError,
    bug="graphs.encoders.volume: read_nifti lets nibabel's HeaderDataError escape")
gen("nifti", "negative_dim.nii", lambda t: _nifti(t, "negative_dim.nii", VOL,
                                                  {42: struct.pack("<h", -4)}),
    read_volume, ParseError,
    bug="graphs.encoders.volume: read_nifti raises raw OverflowError on a negative dim")
gen("nifti", "nan_pixdim.nii", lambda t: _nifti(t, "nan_pixdim.nii", VOL,
                                                {84: struct.pack("<f", float("nan"))}),
    read_volume, InputError,
    bug="graphs.encoders.volume: a NaN voxel size is returned as spacing silently")


def _wfdb(tmp: Path, header: str, samples: int | None = 10) -> Path:
    """Copies a corpus header to ``tmp`` with a 16-bit signal file of ``samples`` samples."""
    src = M / "wfdb" / header
    shutil.copyfile(src, tmp / header)
    if samples is not None:
        n_sig = max(1, len((src.read_text() or "x").splitlines()) - 1)
        np.zeros(samples * n_sig, dtype="<i2").tofile(tmp / header.replace(".hea", ".dat"))
    return tmp / header


for name, err in [("garbage.hea", ParseError), ("empty.hea", ParseError),
                  ("unknown_format.hea", ParseError), ("signal_count_mismatch.hea", ParseError)]:
    case(f"wfdb/{name}", lambda tmp, name=name: read_wfdb(_wfdb(tmp, name)), err, name,
         f"wfdb/{name}")
case("wfdb/no_signal_file.hea", lambda tmp: read_wfdb(_wfdb(tmp, "no_signal_file.hea", None)),
     DataNotFoundError, "no_signal_file", "wfdb/no_signal_file.hea")
case("wfdb/zero_fs.hea", lambda tmp: read_wfdb(_wfdb(tmp, "zero_fs.hea")), ParseError,
     "zero_fs.hea", "wfdb/zero_fs.hea",
     bug="graphs.encoders.signal_io: read_wfdb accepts a sampling frequency of 0")
case("wfdb/missing_header", lambda tmp: read_wfdb(tmp / "nothing.hea"), DataNotFoundError,
     "nothing.hea")


def _wfdb_record(tmp: Path, cut: int | None) -> Path:
    import wfdb

    x = np.column_stack([np.linspace(-1, 1, 50), np.zeros(50)])
    wfdb.wrsamp("rec", fs=100, units=["mV", "mV"], sig_name=["I", "II"], p_signal=x,
                fmt=["16", "16"], write_dir=str(tmp))
    if cut is not None:
        _write(tmp, "rec.dat", (tmp / "rec.dat").read_bytes()[:cut])
    return tmp / "rec.hea"


gen("wfdb", "rec.hea", lambda t: _wfdb_record(t, 51), read_wfdb, ParseError,
    id="wfdb/truncated_dat(generated)")
gen("wfdb", "rec.hea", lambda t: _wfdb_record(t, 0), read_wfdb, ParseError,
    id="wfdb/empty_dat(generated)")


def _wav(tmp: Path, name: str, data: np.ndarray, cut: int | None = None,
         patch: dict[int, bytes] | None = None) -> Path:
    from scipy.io import wavfile

    wavfile.write(tmp / name, 8000, data)
    raw = bytearray((tmp / name).read_bytes())
    for offset, value in (patch or {}).items():
        raw[offset:offset + len(value)] = value
    return _write(tmp, name, bytes(raw[:cut] if cut else raw))


TONE = (np.sin(np.arange(800) / 5) * 10_000).astype(np.int16)
gen("wav", "empty.wav", lambda t: _write(t, "empty.wav", b""), read_audio, ParseError)
gen("wav", "truncated_header.wav", lambda t: _wav(t, "truncated_header.wav", TONE, cut=20),
    read_audio, ParseError)
gen("wav", "random.wav", lambda t: _write(t, "random.wav", np.random.default_rng(1).bytes(500)),
    read_audio, ParseError)
gen("wav", "zero_samples.wav", lambda t: _wav(t, "zero_samples.wav", TONE[:0]), read_audio,
    InputError)
gen("wav", "zero_channels.wav", lambda t: _wav(t, "zero_channels.wav", TONE,
                                               patch={22: struct.pack("<H", 0)}),
    read_audio, ParseError)
gen("wav", "nan_samples.wav",
    lambda t: _wav(t, "nan_samples.wav", np.array([0.1, np.nan, 0.2] * 200, np.float32)),
    lambda p: AudioCNNEncoder(sample_rate=8000, n_mels=16, n_stages=1, width=4).prepare(p), InputError,
    named=False)  # read_audio returns the NaNs; the encoder's preparation rejects them
gen("wav", "truncated_data.wav", lambda t: _wav(t, "truncated_data.wav", TONE, cut=100),
    read_audio, ParseError,
    bug="graphs.encoders.audio: a data chunk shorter than its header says is read silently")

for name, err, line in [("empty.fa", ParseError, None), ("sequence_before_header.fa", ParseError, 1),
                        ("empty_header.fa", ParseError, 3), ("invalid_char.fa", ParseError, 3),
                        ("empty_sequence.fa", ParseError, 1), ("utf16.fa", ParseError, 1),
                        ("duplicate_id.fa", DuplicateIdError, None)]:
    file_case("fasta", name, read_fasta, err, line)

for name, line in [("no_fileformat.vcf", 1), ("no_chrom_header.vcf", 2), ("wrong_header.vcf", 2),
                   ("wrong_field_count.vcf", 4), ("pos_not_integer.vcf", 4),
                   ("malformed_gt.vcf", 4), ("duplicate_samples.vcf", 2), ("empty.vcf", 1)]:
    file_case("vcf", name, read_vcf, ParseError, line)
file_case("vcf", "pos_overflow.vcf", read_vcf, ParseError, line=3,
          bug="graphs.encoders.genomic: read_vcf raises raw OverflowError on a POS > 2**63")

# ====================================================================== checkpoints
from graphs.cohort.graph import FORMAT as COHORT_FORMAT  # noqa: E402
from graphs.cohort.graph import CohortGraph  # noqa: E402
from graphs.encoders.image import load_weights  # noqa: E402


class Payload:
    """Unpickling this calls ``open(flag, 'w')``: a visible side effect, no shell."""

    def __init__(self, flag: Path):
        self.flag = str(flag)

    def __reduce__(self) -> tuple:
        return (open, (self.flag, "w"))


def _torch_file(tmp: Path, name: str, obj: Any, cut: int | None = None) -> Path:
    torch.save(obj, tmp / name)
    if cut is not None:
        _write(tmp, name, (tmp / name).read_bytes()[:cut])
    return tmp / name


def _evil(tmp: Path, name: str, legacy: bool) -> Path:
    path = tmp / name
    if legacy:
        path.write_bytes(pickle.dumps(Payload(tmp / "PWNED")))
    else:
        torch.save({"weight": Payload(tmp / "PWNED")}, path)
    assert not (tmp / "PWNED").exists()  # torch.save pickles without calling open
    return path


def _linear() -> torch.nn.Module:
    return torch.nn.Linear(2, 2)


STATE = {"weight": torch.ones(2, 2), "bias": torch.zeros(2)}
gen("checkpoint", "weights_truncated.pt",
    lambda t: _torch_file(t, "weights_truncated.pt", STATE, cut=200),
    lambda p: load_weights(_linear(), p), ParseError)
gen("checkpoint", "weights_empty.pt", lambda t: _write(t, "weights_empty.pt", b""),
    lambda p: load_weights(_linear(), p), ParseError)
gen("checkpoint", "weights_list.pt", lambda t: _torch_file(t, "weights_list.pt", [1, 2]),
    lambda p: load_weights(_linear(), p), ParseError)
gen("checkpoint", "cohort_truncated.pt",
    lambda t: _torch_file(t, "cohort_truncated.pt", {"format": COHORT_FORMAT}, cut=100),
    CohortGraph.load, SchemaError)
gen("checkpoint", "cohort_missing_keys.pt",
    lambda t: _torch_file(t, "cohort_missing_keys.pt", {"format": COHORT_FORMAT}),
    CohortGraph.load, SchemaError,
    bug="graphs.cohort.graph: CohortGraph.load raises raw KeyError('nodes') on a payload "
        "missing keys")
gen("checkpoint", "cohort_nodes_list.pt",
    lambda t: _torch_file(t, "cohort_nodes_list.pt", {"format": COHORT_FORMAT, "nodes": [],
                                                     "edges": {}, "ids": {}, "metadata": {}}),
    CohortGraph.load, SchemaError,
    bug="graphs.cohort.graph: CohortGraph.load raises raw AttributeError when 'nodes' is "
        "not a dict")


def _resume_truncated(tmp: Path) -> Any:
    from graphs.encoders.alignment import CHECKPOINT_NAME, ContrastiveAligner, train_contrastive

    _write(tmp, CHECKPOINT_NAME, b"PK\x03\x04 truncated")
    batches = [(torch.randn(4, 3), torch.randn(4, 3))]
    return train_contrastive(ContrastiveAligner(3, 3, dim=4), batches, epochs=1,
                             checkpoint_dir=tmp, progress=False)


case("checkpoint/align_resume_truncated(generated)", _resume_truncated, ParseError, "last.pt",
     bug="graphs.encoders.alignment: train_contrastive resumes with an unguarded torch.load; "
         "a truncated last.pt raises raw RuntimeError")


# ====================================================================== the tests
def _params() -> list[Any]:
    out = []
    for c in CASES:
        marks = [pytest.mark.xfail(strict=True, reason=c.bug)] if c.bug else []
        out.append(pytest.param(c, id=c.id, marks=marks))
    return out


@pytest.mark.parametrize("c", _params())
def test_malformed_input(c: Case, tmp_path: Path, fuzz: Any) -> None:
    """The reader raises the expected MedKGError naming the file (and line/row)."""
    target = "corpus:" + c.id.split("/")[0]
    try:
        c.read(tmp_path)
    except MedKGError as err:
        fuzz.record(target, "project_errors")
        assert isinstance(err, c.error), f"{type(err).__name__}: {err}"
        for part in c.expect:
            assert part in str(err), f"{part!r} not in message: {err}"
        return
    except Exception:
        fuzz.record(target, "known_bugs" if c.bug else "crashes")
        raise
    fuzz.record(target, "accepted")
    pytest.fail(f"{c.id}: accepted silently; expected {c.error.__name__}")


@pytest.mark.parametrize("legacy", [True, False], ids=["raw_pickle", "torch_zip"])
@pytest.mark.parametrize("loader", ["load_weights", "CohortGraph.load", "EmbeddingCache.get"])
def test_malicious_pickle_never_runs(loader: str, legacy: bool, tmp_path: Path,
                                     caplog: pytest.LogCaptureFixture) -> None:
    """A pickle whose __reduce__ creates a file is refused and the file never appears."""
    flag = tmp_path / "PWNED"
    if loader == "EmbeddingCache.get":
        from graphs.encoders.base import EmbeddingCache

        cache = EmbeddingCache(tmp_path / "cache")
        cache.put("enc", "ab12", np.ones(3))
        path = cache._path("enc", "ab12")
        np.save(path, np.array([Payload(flag)], dtype=object), allow_pickle=True)
        with caplog.at_level(logging.WARNING):
            assert cache.get("enc", "ab12") is None  # an unreadable entry is a cache miss
        assert "unreadable cache entry" in caplog.text
    else:
        path = _evil(tmp_path, "evil.pt", legacy)
        read = (lambda p: load_weights(_linear(), p)) if loader == "load_weights" \
            else CohortGraph.load
        with pytest.raises((ParseError, SchemaError)) as info:
            read(path)
        assert "evil.pt" in str(info.value)
    assert not flag.exists(), "unpickling ran attacker code"


DOCUMENTED: dict[str, tuple[tuple[str, ...], Callable[[Path, Any], None]]] = {}


def documented(id: str, uses: tuple[str, ...] = ()) -> Callable:
    def register(fn: Callable[[Path, Any], None]) -> Callable:
        DOCUMENTED[id] = (uses, fn)
        return fn
    return register


@documented("snomed/concept_duplicate_ids", ("snomed/concept_duplicate_ids.txt",))
def _snomed_duplicates(tmp: Path, caplog: Any) -> None:
    with pytest.warns(UserWarning, match="several rows"):
        t = snomed(concept="concept_duplicate_ids.txt")(tmp)
    assert t.concepts["id"].tolist() == ["SNOMEDCT:9000002005"]  # latest row: inactive


@documented("obo/duplicate_id", ("obo/duplicate_id.obo",))
def _obo_duplicates(tmp: Path, caplog: Any) -> None:
    t = read_obo(M / "obo" / "duplicate_id.obo")  # OBO 1.4 merges stanzas sharing an id
    assert t.concepts[["id", "label", "synonyms"]].values.tolist() == [["X:0000001", "one", "uno"]]


@documented("atc/missing_parent", ("atc/missing_parent.csv",))
def _atc_missing_parent(tmp: Path, caplog: Any) -> None:
    with pytest.warns(UserWarning, match="missing_parent.csv: 1 ATC codes have no parent"):
        t = read_atc(M / "atc" / "missing_parent.csv")
    assert t.relations[["source", "target"]].values.tolist() == [["ATC:X01AA01", "ATC:X"]]


@documented("mimic3/unknown_code", used_files("mimic3/unknown_code"))
def _mimic3_unknown_code(tmp: Path, caplog: Any) -> None:
    folder = overlay(FIXTURES / "mimic3", M / "mimic3" / "unknown_code", tmp)
    with caplog.at_level(logging.WARNING, logger="graphs.records"):
        rec = read_mimic3(folder, map_to_icd10=False)
    assert rec.metadata["dropped"]["diagnoses_malformed_code"] == 1
    assert "dropped 1 diagnoses rows with a malformed ICD code" in caplog.text
    assert rec.diagnoses["source_code"].tolist() == ["ICD9CM:250.00"]


@pytest.mark.parametrize("id", sorted(DOCUMENTED))
def test_documented_skip(id: str, tmp_path: Path, caplog: pytest.LogCaptureFixture,
                         fuzz: Any) -> None:
    """Inputs a reader skips on purpose: the skip is warned/logged and counted."""
    DOCUMENTED[id][1](tmp_path, caplog)
    fuzz.record("corpus:" + id.split("/")[0], "accepted")


CONFIG_FILES = used_files("configs")


@pytest.mark.parametrize("name", [Path(p).name for p in CONFIG_FILES])
def test_training_config(name: str) -> None:
    """Malformed training configs raise ConfigError/ParseError (skipped until gnn.config)."""
    config = pytest.importorskip("gnn.config", reason="gnn/config.py does not exist yet")
    loader = getattr(config, "load_config", None) or getattr(
        getattr(config, "TrainConfig", None), "from_file", None)
    if loader is None:
        pytest.skip("gnn.config has no load_config() or TrainConfig.from_file()")
    with pytest.raises((ConfigError, ParseError)) as info:
        loader(M / "configs" / name)
    assert name in str(info.value)


def test_every_corpus_file_is_used() -> None:
    """Each file under tests/fixtures/malformed belongs to at least one case."""
    used = {u for c in CASES for u in c.uses} | set(CONFIG_FILES)
    used |= {u for uses, _ in DOCUMENTED.values() for u in uses}
    present = {str(p.relative_to(M)) for p in M.rglob("*") if p.is_file()} - {"README.md"}
    assert sorted(present - used) == []
    assert sorted(used - present) == []


def test_corpus_is_small() -> None:
    """Corpus files stay tiny (binary inputs are generated at test time)."""
    sizes = {str(p.relative_to(M)): p.stat().st_size for p in M.rglob("*") if p.is_file()}
    assert max(sizes.values()) < 4096, max(sizes, key=sizes.get)
    assert os.path.getsize(M / "README.md") < 2048
