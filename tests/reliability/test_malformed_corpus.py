"""Every reader against the malformed-input corpus (tests/fixtures/malformed/<format>/).

Each case names one broken input and the error it must raise: a
:class:`~ontologies.errors.MedKGError` subclass whose message names the file (and the
line or row where the reader knows it). Text inputs are files of the corpus; binary ones
(DICOM, NIfTI, WAV, WFDB signals, torch files, parquet) are generated in ``tmp_path``.
Inputs a reader skips on purpose, with a warning or a log record, are in
:func:`test_documented_skip`.

Known bugs are listed in :data:`BUGS` (case id -> how it fails today, ``"<module>: <bug>"``)
and run as strict xfails pinned to that failure; delete the entry once the module is fixed.
"""

from __future__ import annotations

import gzip
import json
import logging
import pickle
import shutil
import struct
import subprocess
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from graphs.cohort.demo import tiny_kg, tiny_records
from graphs.cohort.graph import FORMAT as COHORT_FORMAT
from graphs.cohort.graph import CohortGraph
from graphs.encoders.audio import AudioCNNEncoder, read_audio
from graphs.encoders.genomic import read_fasta, read_vcf
from graphs.encoders.image import load_weights
from graphs.encoders.image_io import prepare_image, read_image
from graphs.encoders.signal_io import read_dicom_waveform, read_wfdb
from graphs.encoders.volume import read_volume
from graphs.records import PatientRecords, read_fhir, read_mimic3, read_mimic4, read_omop
from kg.rdf_view import from_rdf
from kg.storage import load as load_kg
from kg.storage import save as save_kg
from ontologies.atc import read_atc
from ontologies.ccsr import load_ccsr
from ontologies.errors import (
    ConfigError,
    DataNotFoundError,
    DuplicateIdError,
    InputError,
    MedKGError,
    ParseError,
    SchemaError,
)
from ontologies.hpo import read_hpoa
from ontologies.icd9cm import load_ccs, load_gem_9to10, load_icd9cm
from ontologies.icd10cm import load_icd10cm
from ontologies.obo import read_obo
from ontologies.rdf import read_rdf
from ontologies.snomed import read_snomedct, read_snomedct_icd10_map

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
M = FIXTURES / "malformed"
#: How a known bug fails its case today: accepted without an error, or an error whose
#: message does not name the file (or a raw exception type, given directly).
SILENT = pytest.fail.Exception
MESSAGE = AssertionError


@dataclass(frozen=True)
class Case:
    """One malformed input: how to read it and what the error must say."""

    id: str
    read: Callable[[Path], Any]  # tmp_path -> reader result (expected to raise)
    error: type[BaseException] = MedKGError
    expect: tuple[str, ...] = ()  # substrings the message must contain (file, line/row)
    uses: tuple[str, ...] = ()  # corpus files (relative to M) this case reads


CASES: list[Case] = []


def case(id: str, read: Callable[[Path], Any], error: type = MedKGError,
         expect: tuple[str, ...] | str = (), uses: tuple[str, ...] | str = ()) -> None:
    CASES.append(Case(id, read, error, (expect,) if isinstance(expect, str) else expect,
                      (uses,) if isinstance(uses, str) else uses))


def files(fmt: str, reader: Callable[[Path], Any], error: type,
          names: list[tuple[str, int | None]] | list[str]) -> None:
    """Corpus files read by ``reader``; each message must name its file (and line)."""
    for item in names:
        name, line = item if isinstance(item, tuple) else (item, None)
        where = name if line is None else f"{name}:{line}:"
        case(f"{fmt}/{name}", lambda tmp, name=name: reader(M / fmt / name), error, where,
             f"{fmt}/{name}")


def gen(id: str, make: Callable[[Path], Path], reader: Callable[[Path], Any], error: type,
        named: bool = True) -> None:
    """An input ``make`` writes into tmp_path; the message must name it unless not ``named``."""
    def read(tmp: Path) -> Any:
        path = make(tmp)
        read.name = path.name  # type: ignore[attr-defined]
        return reader(path)

    CASES.append(Case(id, read, error, ("{name}",) if named else ()))


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


def _write(tmp: Path, name: str, data: bytes) -> Path:
    path = tmp / name
    path.write_bytes(data)
    return path


def _deep_json(tmp: Path, name: str = "deep.json") -> Path:
    return _write(tmp, name, b"[" * 50_000 + b"]" * 50_000)


# ====================================================================== ontologies
files("icd10cm", load_icd10cm, ParseError, [
    ("truncated.xml", 5), "wrong_root.xml", "no_chapters.xml", "bad_chapter_name.xml",
    "diag_without_name.xml", "xml_bomb.xml", "external_entity.xml", ("latin1.xml", 5),
    "empty.xml", "section_without_id.xml", "code_with_space.xml"])
files("icd10cm", load_icd10cm, DuplicateIdError, ["duplicate_code.xml"])
files("icd9cm", load_icd9cm, ParseError, [
    ("missing_column.csv", 1), ("malformed_code.csv", 3), "empty.csv", "latin1.csv",
    "utf16.csv", "header_only.csv", ("short_row.csv", 2)])
files("icd9cm", load_icd9cm, DuplicateIdError, [("duplicate_code.csv", 3)])
files("gem", load_gem_9to10, ParseError, [
    ("bad_flags.csv", 3), ("missing_columns.csv", 1), ("malformed_code.csv", 3),
    ("nodx_on_mapped_row.csv", 2)])
files("ccs", load_ccs, ParseError, [
    ("codes_before_category.txt", 1), "no_categories.txt", ("malformed_code.txt", 2),
    "latin1.txt", "duplicate_category.txt"])
files("ccsr", load_ccsr, ParseError, [
    ("invalid.json", 2), "not_object.json", "bad_category.json", "bad_key.json", "empty.json",
    "utf16.json", "conflicting_spellings.json"])
gen("ccsr/deeply_nested(generated)", _deep_json, load_ccsr, ParseError)

SN = M / "snomed"
SNOMED_VALID = ("snomed/valid_concept.txt", "snomed/valid_description.txt",
                "snomed/valid_relationship.txt")


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
         name if line is None else f"{name}:{line}:", (f"snomed/{name}", *SNOMED_VALID))
files("snomed", read_snomedct_icd10_map, ParseError, [("map_bad_group.txt", 2)])
case("snomed/missing_folder", lambda tmp: read_snomedct(tmp / "no-release"), DataNotFoundError,
     "no-release")

files("obo", read_obo, ParseError, [
    ("bad_line.obo", 7), ("stanza_without_id.obo", 8), ("unquoted_def.obo", 7),
    ("relationship_without_target.obo", 7), "latin1.obo", "utf16.obo", ("truncated.obo", 7),
    "empty.obo", ("empty_is_a.obo", 7), ("bad_id.obo", 4)])
files("hpoa", read_hpoa, ParseError, [
    ("bad_hpo_id.hpoa", 5), ("bad_aspect.hpoa", 5), ("bad_frequency.hpoa", 5),
    ("zero_denominator.hpoa", 5), ("wrong_field_count.hpoa", 5), ("no_header.hpoa", 3),
    "empty.hpoa", ("latin1.hpoa", 4)])


def _hpoa_bare_cr(tmp: Path) -> Path:
    """One annotation whose disease name ends in a bare carriage return (line 4)."""
    lines = (M / "hpoa" / "bad_aspect.hpoa").read_bytes().split(b"\n")
    row = lines[3].replace(b"Invented syndrome\t", b"Invented\r\t")
    return _write(tmp, "bare_cr.hpoa", b"\n".join(lines[:3] + [row, b""]))


gen("hpoa/bare_carriage_return(generated)", _hpoa_bare_cr, read_hpoa, ParseError)
files("rdf", read_rdf, ParseError, [
    ("syntax_error.ttl", 5), "bad_line.nt", "truncated.owl", "xml_bomb.owl",
    "external_entity.owl", "truncated.ttl", "latin1.ttl", "utf16.ttl", "variable.ttl"])
files("rdf", read_rdf, ConfigError, ["unknown_suffix.rdfz"])
files("atc", read_atc, ParseError, [
    ("no_code_column.csv", 1), ("bad_code.csv", 3), ("empty_name.csv", 3),
    ("two_names.csv", 3), ("wrong_field_count.csv", 3), ("latin1.csv", 2), ("utf16.csv", 1),
    "empty.csv", "unterminated_quote.csv", "leading_blank_lines.csv"])

# ====================================================================== kg
files("kg_rdf", from_rdf, ParseError, [
    "truncated.ttl", "latin1.ttl", "bad_json_literal.ttl", "dtypes_not_object.ttl",
    "bad_attribute_escape.ttl", "probability_text.ttl"])
for name in ("xml_bomb.owl", "external_entity.owl"):  # the RDF/XML attacks, via kg's reader
    case(f"kg_rdf/{name}", lambda tmp, name=name: from_rdf(M / "rdf" / name,
                                                           on_dangling="keep"),
         ParseError, name, f"rdf/{name}")


def _manifest(folder: Path, **changes: Any) -> None:
    meta = json.loads((folder / "metadata.json").read_text())
    meta.update(changes)
    (folder / "metadata.json").write_text(json.dumps(meta))


def _cut(path: Path, n: int = 64) -> None:
    path.write_bytes(path.read_bytes()[:n])


def saved(id: str, mutate: Callable[[Path], Any], error: type, expect: str,
          store: str = "kg") -> None:
    """A saved knowledge graph (``kg``) or records folder (``records``), then ``mutate``d."""
    def read(tmp: Path) -> Any:
        if store == "kg":
            folder = save_kg(tiny_kg(), tmp / "kg")
        else:
            folder = tiny_records().save(tmp / "records")
        mutate(folder)
        return load_kg(folder) if store == "kg" else PatientRecords.load(folder)

    case(f"{store}_store/{id}", read, error, expect)


for id, mutate, error, expect in [
    ("missing_manifest", lambda f: (f / "metadata.json").unlink(), DataNotFoundError,
     "metadata.json"),
    ("manifest_not_json", lambda f: (f / "metadata.json").write_text("{"), ParseError,
     "metadata.json"),
    ("manifest_utf16", lambda f: (f / "metadata.json").write_bytes(
        json.dumps({"format": "x"}).encode("utf-16")), ParseError, "metadata.json"),
    ("wrong_format", lambda f: _manifest(f, format="other"), SchemaError, "metadata.json"),
    ("wrong_version", lambda f: _manifest(f, format_version=99), SchemaError, "metadata.json"),
    ("truncated_parquet", lambda f: _cut(f / "concepts.parquet"), ParseError,
     "concepts.parquet"),
    ("row_count_mismatch", lambda f: _manifest(f, n_concepts=7), SchemaError,
     "concepts.parquet"),
    ("missing_table", lambda f: (f / "relations.parquet").unlink(), DataNotFoundError,
     "relations.parquet"),
    ("dtypes_not_object", lambda f: _manifest(f, concept_dtypes=["id"]), SchemaError,
     "metadata.json"),
    ("deeply_nested_manifest", lambda f: _deep_json(f, "metadata.json"), ParseError,
     "metadata.json"),
]:
    saved(id, mutate, error, expect)

# ====================================================================== records


def extract(fmt: str, reader: Callable[[Path], Any], error: type, sub: str,
            expect: tuple[str, ...]) -> None:
    """The fixture extract of ``fmt`` with the tables under malformed/<fmt>/<sub> over it."""
    case(f"{fmt}/{sub}", lambda tmp: reader(overlay(FIXTURES / fmt, M / fmt / sub, tmp)),
         error, expect, used_files(f"{fmt}/{sub}"))


def mimic3(folder: Path) -> Any:
    return read_mimic3(folder, map_to_icd10=False)


def mimic4(folder: Path) -> Any:
    return read_mimic4(folder, map_to_icd10=False)


for sub, error, expect in [
    ("missing_column", SchemaError, ("ADMISSIONS.csv", "dischtime")),
    ("bad_date", SchemaError, ("PATIENTS.csv", "'DOB'", "data row 2")),
    ("date_out_of_range", SchemaError, ("PATIENTS.csv", "'DOB'", "data row 1")),
    ("unterminated_quote", ParseError, ("DIAGNOSES_ICD.csv",)),
    ("empty_file", ParseError, ("PATIENTS.csv",)),
    ("not_gzip", ParseError, ("NOTEEVENTS.csv.gz",)),
    ("latin1_header", ParseError, ("PATIENTS.csv",)),
    ("utf16", ParseError, ("PATIENTS.csv",)),
    ("extra_field", ParseError, ("DIAGNOSES_ICD.csv", "2")),
    ("seq_num_inf", SchemaError, ("DIAGNOSES_ICD.csv", "'SEQ_NUM'", "data row 1")),
    ("duplicate_patient", DuplicateIdError, ("PATIENTS.csv",)),
]:
    extract("mimic3", mimic3, error, sub, expect)
for sub, error, expect in [
    ("bad_icd_version", SchemaError, ("diagnoses_icd.csv", "icd_version", "data row 1")),
    ("negative_anchor_age", SchemaError, ("patients.csv", "anchor_age", "data row 1")),
    ("fractional_anchor_age", SchemaError, ("patients.csv", "anchor_age")),
    ("anchor_year_out_of_range", SchemaError, ("patients.csv", "anchor_year")),
]:
    extract("mimic4", mimic4, error, sub, expect)
for sub, error, expect in [
    ("person_missing_gender", SchemaError, ("person.csv", "gender_concept_id")),
    ("year_not_number", SchemaError, ("person.csv", "year_of_birth", "data row 1")),
    ("concept_missing_columns", SchemaError, ("CONCEPT.csv", "vocabulary_id")),
    ("month_13", SchemaError, ("person.csv", "month_of_birth")),
    ("value_text", SchemaError, ("measurement.csv", "value_as_number")),
]:
    extract("omop", read_omop, error, sub, expect)


def _mimic3_truncated_gz(tmp: Path) -> Any:
    folder = overlay(FIXTURES / "mimic3", tmp / "none", tmp)
    _cut(folder / "NOTEEVENTS.csv.gz", (folder / "NOTEEVENTS.csv.gz").stat().st_size // 2)
    return mimic3(folder)


def _without(base: Path, rel: str, reader: Callable[[Path], Any]) -> Callable[[Path], Any]:
    def read(tmp: Path) -> Any:
        folder = tmp / "extract"
        shutil.copytree(base, folder)
        (folder / rel).unlink()
        return reader(folder)
    return read


case("mimic3/truncated_gz(generated)", _mimic3_truncated_gz, ParseError, "NOTEEVENTS.csv.gz")
case("mimic3/missing_table", _without(FIXTURES / "mimic3", "ADMISSIONS.csv", mimic3),
     DataNotFoundError, "admissions")
case("mimic4/missing_table", _without(FIXTURES / "mimic4", "hosp/patients.csv", mimic4),
     DataNotFoundError, "patients")


def fhir(path: Path) -> Any:
    return read_fhir(path, map_to_icd10=False)


files("fhir", fhir, ParseError, [
    ("invalid_json.json", 3), "not_bundle.json", "entry_not_list.json",
    "entry_without_resource.json", "patient_without_id.json", "condition_without_subject.json",
    "value_not_number.json", "utf16.json", ("empty.json", 1), "infinite_value.json"])
files("fhir", fhir, SchemaError, ["bad_birth_date.json"])
files("fhir", fhir, DuplicateIdError, ["duplicate_patient.json"])
case("fhir/too_big", lambda tmp: read_fhir(M / "fhir" / "value_not_number.json", max_bytes=10),
     InputError, "value_not_number.json")
gen("fhir/deeply_nested(generated)", _deep_json, fhir, ParseError)

for id, mutate, error, expect in [
    ("missing_metadata", lambda f: (f / "metadata.json").unlink(), DataNotFoundError, "records"),
    ("metadata_not_json", lambda f: (f / "metadata.json").write_text("{"), SchemaError,
     "metadata.json"),
    ("missing_table", lambda f: (f / "visits.parquet").unlink(), DataNotFoundError,
     "visits.parquet"),
    ("metadata_utf16", lambda f: (f / "metadata.json").write_bytes(b"\xff\xfe{\x00}\x00"),
     SchemaError, "metadata.json"),
    ("metadata_list", lambda f: (f / "metadata.json").write_text("[]"), SchemaError,
     "metadata.json"),
    ("metadata_root_number", lambda f: (f / "metadata.json").write_text('{"root": 5}'),
     SchemaError, "metadata.json"),
    ("truncated_parquet", lambda f: _cut(f / "visits.parquet"), ParseError, "visits.parquet"),
]:
    saved(id, mutate, error, expect, store="records")

# ====================================================================== DICOM, PNG


def _ct() -> bytes:
    from pydicom.data import get_testdata_file

    return Path(get_testdata_file("CT_small.dcm")).read_bytes()


def _dicom(name: str, replace: tuple[bytes, bytes] | None = None, at: int | None = None,
           **elements: Any) -> Callable[[Path], Path]:
    """CT_small with ``elements`` set (None deletes), bytes replaced, or byte ``at`` zeroed."""
    def make(tmp: Path) -> Path:
        import pydicom
        from pydicom.data import get_testdata_file

        if at is not None:
            data = _ct()
            return _write(tmp, name, data[:at] + b"\0" + data[at + 1:])
        ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
        for key, value in elements.items():
            delattr(ds, key) if value is None else setattr(ds, key, value)
        ds.save_as(tmp / name)
        if replace is not None:
            data = (tmp / name).read_bytes()
            assert replace[0] in data and len(replace[0]) == len(replace[1])
            _write(tmp, name, data.replace(*replace, 1))
        return tmp / name
    return make


for name, make in [
    ("empty.dcm", lambda t: _write(t, "empty.dcm", b"")),
    ("truncated.dcm", lambda t: _write(t, "truncated.dcm", _ct()[:20_000])),
    ("header_only.dcm", lambda t: _write(t, "header_only.dcm", _ct()[:300])),
    ("random.dcm", lambda t: _write(t, "random.dcm", np.random.default_rng(0).bytes(4000))),
    ("no_pixels.dcm", _dicom("no_pixels.dcm", PixelData=None)),
    ("rows_too_large.dcm", _dicom("rows_too_large.dcm", Rows=512)),
    ("bits_13.dcm", _dicom("bits_13.dcm", BitsAllocated=13)),
    ("pixel_spacing_text.dcm", _dicom("pixel_spacing_text.dcm", (b"0.661468\\0.661468",
                                                                  b"abcdefgh\\abcdefgh"))),
    ("frames_text.dcm", _dicom("frames_text.dcm", (b"(\0\x08\0IS\x02\x001 ",
                                                   b"(\0\x08\0IS\x02\0x "), NumberOfFrames="1")),
    ("modality_unknown_vr.dcm", _dicom("modality_unknown_vr.dcm", (b"\x08\0\x60\0CS",
                                                                   b"\x08\0\x60\0ZZ"))),
    ("odd_group_length.dcm", _dicom("odd_group_length.dcm", at=149)),  # found by fuzzing
    ("unknown_vr.dcm", _dicom("unknown_vr.dcm", at=253)),  # found by fuzzing
]:
    gen(f"dicom/{name}(generated)", make, read_image, ParseError)
gen("dicom/nan_slope.dcm(generated)", _dicom("nan_slope.dcm", RescaleSlope="NaN"),
    lambda p: prepare_image(p, 16, 1), InputError)  # read returns NaN; preparing rejects it
gen("dicom/no_waveform.dcm(generated)", lambda t: _write(t, "no_waveform.dcm", _ct()),
    read_dicom_waveform, ParseError)


def _ecg_truncated(tmp: Path) -> Path:
    from pydicom.data import get_testdata_file

    data = Path(get_testdata_file("waveform_ecg.dcm")).read_bytes()
    return _write(tmp, "ecg_truncated.dcm", data[: len(data) // 2])


def _png(tmp: Path) -> Path:
    from PIL import Image

    Image.fromarray(np.arange(400, dtype=np.uint8).reshape(20, 20)).save(tmp / "truncated.png")
    _cut(tmp / "truncated.png", 60)
    return tmp / "truncated.png"


gen("dicom/ecg_truncated.dcm(generated)", _ecg_truncated, read_dicom_waveform, ParseError)
gen("image/truncated.png(generated)", _png, read_image, ParseError)
files("image", read_image, ParseError, ["not_an_image.png", "empty.png"])

# ====================================================================== NIfTI, WFDB, WAV
VOL = np.random.default_rng(0).random((6, 7, 8))


def _nifti(name: str, data: np.ndarray = VOL, patch: dict[int, bytes] | None = None,
           cut: int | None = None) -> Callable[[Path], Path]:
    """A NIfTI-1 of ``data`` with header bytes patched and/or the file cut."""
    def make(tmp: Path) -> Path:
        import nibabel as nib

        raw = bytearray(nib.Nifti1Image(data.astype(np.float32), np.eye(4)).to_bytes())
        for offset, value in (patch or {}).items():
            raw[offset:offset + len(value)] = value
        out = gzip.compress(bytes(raw)) if name.endswith(".gz") else bytes(raw)
        return _write(tmp, name, out[:cut] if cut else out)
    return make


for name, make, error in [
    ("empty.nii", lambda t: _write(t, "empty.nii", b""), ParseError),
    ("truncated_header.nii", _nifti("truncated_header.nii", cut=200), ParseError),
    ("truncated_data.nii", _nifti("truncated_data.nii", cut=600), ParseError),
    ("truncated.nii.gz", _nifti("truncated.nii.gz", cut=900), ParseError),
    ("garbage.nii.gz", lambda t: _write(t, "garbage.nii.gz", b"not gzip" * 50), ParseError),
    ("two_d.nii", _nifti("two_d.nii", VOL[0]), InputError),
    ("five_d.nii", _nifti("five_d.nii", np.zeros((2, 2, 2, 2, 2))), InputError),
    ("nan.nii", _nifti("nan.nii", np.where(VOL > 0.5, np.nan, VOL)), InputError),
    ("inf.nii", _nifti("inf.nii", np.where(VOL > 0.5, np.inf, VOL)), InputError),
    ("bad_datatype.nii", _nifti("bad_datatype.nii", patch={70: struct.pack("<h", 999)}),
     ParseError),
    ("negative_dim.nii", _nifti("negative_dim.nii", patch={42: struct.pack("<h", -4)}),
     ParseError),
    ("degenerate_affine.nii", _nifti("degenerate_affine.nii", patch={307: bytes([89])}),
     ParseError),  # found by fuzzing
    ("nan_pixdim.nii", _nifti("nan_pixdim.nii", patch={84: struct.pack("<f", float("nan"))}),
     InputError),
]:
    gen(f"nifti/{name}(generated)", make, read_volume, error)


def _wfdb(header: str, samples: int | None = 10) -> Callable[[Path], Path]:
    """A corpus header copied to tmp with a 16-bit signal file of ``samples`` per channel."""
    def make(tmp: Path) -> Path:
        src = M / "wfdb" / header
        shutil.copyfile(src, tmp / header)
        if samples is not None:
            n_sig = max(1, len(src.read_text().splitlines()) - 1)
            np.zeros(samples * n_sig, "<i2").tofile(tmp / header.replace(".hea", ".dat"))
        return tmp / header
    return make


def _wfdb_record(cut: int) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        import wfdb

        x = np.column_stack([np.linspace(-1, 1, 50), np.zeros(50)])
        wfdb.wrsamp("rec", fs=100, units=["mV", "mV"], sig_name=["I", "II"], p_signal=x,
                    fmt=["16", "16"], write_dir=str(tmp))
        _cut(tmp / "rec.dat", cut)
        return tmp / "rec.hea"
    return make


for name in ("garbage.hea", "empty.hea", "unknown_format.hea", "signal_count_mismatch.hea",
             "zero_fs.hea"):
    case(f"wfdb/{name}", lambda tmp, name=name: read_wfdb(_wfdb(name)(tmp)), ParseError, name,
         f"wfdb/{name}")
case("wfdb/no_signal_file.hea", lambda tmp: read_wfdb(_wfdb("no_signal_file.hea", None)(tmp)),
     DataNotFoundError, "no_signal_file", "wfdb/no_signal_file.hea")
case("wfdb/missing_header", lambda tmp: read_wfdb(tmp / "nothing.hea"), DataNotFoundError,
     "nothing.hea")
gen("wfdb/truncated_dat(generated)", _wfdb_record(51), read_wfdb, ParseError)
gen("wfdb/empty_dat(generated)", _wfdb_record(0), read_wfdb, ParseError)


def _wav(name: str, data: np.ndarray, cut: int | None = None,
         patch: dict[int, bytes] | None = None) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        import io

        from scipy.io import wavfile

        buf = io.BytesIO()
        wavfile.write(buf, 8000, data)
        raw = bytearray(buf.getvalue())
        for offset, value in (patch or {}).items():
            raw[offset:offset + len(value)] = value
        return _write(tmp, name, bytes(raw[:cut] if cut else raw))
    return make


TONE = (np.sin(np.arange(800) / 5) * 10_000).astype(np.int16)
for name, make, error in [
    ("empty.wav", lambda t: _write(t, "empty.wav", b""), ParseError),
    ("truncated_header.wav", _wav("truncated_header.wav", TONE, cut=20), ParseError),
    ("random.wav", lambda t: _write(t, "random.wav", np.random.default_rng(1).bytes(500)),
     ParseError),
    ("zero_samples.wav", _wav("zero_samples.wav", TONE[:0]), InputError),
    ("zero_channels.wav", _wav("zero_channels.wav", TONE, patch={22: struct.pack("<H", 0)}),
     ParseError),
    ("truncated_data.wav", _wav("truncated_data.wav", TONE, cut=100), ParseError),
]:
    gen(f"wav/{name}(generated)", make, read_audio, error)
gen("wav/nan_samples.wav(generated)",
    _wav("nan_samples.wav", np.array([0.1, np.nan, 0.2] * 200, np.float32)),
    lambda p: AudioCNNEncoder(sample_rate=8000, n_mels=16, n_stages=1, width=4).prepare(p),
    InputError, named=False)  # read_audio returns the NaNs; the encoder's preparation rejects

# ====================================================================== FASTA, VCF
files("fasta", read_fasta, ParseError, [
    "empty.fa", ("sequence_before_header.fa", 1), ("empty_header.fa", 3),
    ("invalid_char.fa", 3), ("empty_sequence.fa", 1), ("utf16.fa", 1)])
files("fasta", read_fasta, DuplicateIdError, ["duplicate_id.fa"])
files("vcf", read_vcf, ParseError, [
    ("no_fileformat.vcf", 1), ("no_chrom_header.vcf", 2), ("wrong_header.vcf", 2),
    ("wrong_field_count.vcf", 4), ("pos_not_integer.vcf", 4), ("malformed_gt.vcf", 4),
    ("duplicate_samples.vcf", 2), ("empty.vcf", 1), ("pos_overflow.vcf", 3)])

# ====================================================================== checkpoints


class Payload:
    """Unpickling this calls ``open(flag, 'w')``: a visible side effect, no shell."""

    def __init__(self, flag: Path):
        self.flag = str(flag)

    def __reduce__(self) -> tuple:
        return (open, (self.flag, "w"))


def _torch(name: str, obj: Any, cut: int | None = None) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        torch.save(obj, tmp / name)
        if cut is not None:
            _cut(tmp / name, cut)
        return tmp / name
    return make


def _linear() -> torch.nn.Module:
    return torch.nn.Linear(2, 2)


def _weights(path: Path) -> Any:
    return load_weights(_linear(), path)


def _gnn_checkpoint(cut: int | None = None, **changes: Any) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        ckpt = pytest.importorskip("gnn.checkpoint")
        path = ckpt.save_checkpoint(tmp / "last.pt", _linear(), None, epoch=1)
        if changes:
            torch.save({**torch.load(path, weights_only=True), **changes}, path)
        if cut is not None:
            _cut(path, cut)
        return path
    return make


def _gnn_restore(path: Path) -> Any:
    ckpt = pytest.importorskip("gnn.checkpoint")
    return ckpt.restore(ckpt.load_checkpoint(path), _linear())


def _resume_truncated(tmp: Path) -> Path:
    _write(tmp, "last.pt", b"PK\x03\x04 truncated")
    return tmp / "last.pt"


def _train_from(path: Path) -> Any:
    from graphs.encoders.alignment import ContrastiveAligner, train_contrastive

    batches = [(torch.randn(4, 3), torch.randn(4, 3))]
    return train_contrastive(ContrastiveAligner(3, 3, dim=4), batches, epochs=1,
                             checkpoint_dir=path.parent, progress=False)


COHORT_BAD_NODES = {"format": COHORT_FORMAT, "nodes": [], "edges": {}, "ids": {}, "metadata": {}}
for name, make, reader, error in [
    ("weights_truncated.pt", _torch("weights_truncated.pt", _linear().state_dict(), 200),
     _weights, ParseError),
    ("weights_empty.pt", lambda t: _write(t, "weights_empty.pt", b""), _weights, ParseError),
    ("weights_list.pt", _torch("weights_list.pt", [1, 2]), _weights, ParseError),
    ("cohort_truncated.pt", _torch("cohort_truncated.pt", {"format": COHORT_FORMAT}, 100),
     CohortGraph.load, SchemaError),
    ("cohort_missing_keys.pt", _torch("cohort_missing_keys.pt", {"format": COHORT_FORMAT}),
     CohortGraph.load, SchemaError),
    ("cohort_nodes_list.pt", _torch("cohort_nodes_list.pt", COHORT_BAD_NODES),
     CohortGraph.load, SchemaError),
    ("gnn_truncated.pt", _gnn_checkpoint(cut=300), _gnn_restore, SchemaError),
    ("align_resume_truncated.pt", _resume_truncated, _train_from, ParseError),
]:
    gen(f"checkpoint/{name}(generated)", make, reader, error)
gen("checkpoint/gnn_bad_rng(generated)", _gnn_checkpoint(rng={}), _gnn_restore, SchemaError,
    named=False)

# ====================================================================== known bugs
#: case id -> (how it fails today, "<module>: <bug>"). Delete an entry once it is fixed.
BUGS: dict[str, tuple[Any, str]] = {
}


# ====================================================================== the tests
def _params() -> list[Any]:
    out = []
    for c in CASES:
        raises, reason = BUGS.get(c.id, (None, None))
        marks = [pytest.mark.xfail(strict=True, reason=reason, raises=raises)] if reason else []
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
        name = getattr(c.read, "name", "")
        for part in c.expect:
            part = part.format(name=name)
            assert part in str(err), f"{part!r} not in message: {err}"
        return
    except Exception:
        fuzz.record(target, "known_bugs" if c.id in BUGS else "crashes")
        raise
    fuzz.record(target, "accepted")
    pytest.fail(f"{c.id}: accepted silently; expected {c.error.__name__}")


def test_every_known_bug_has_a_case() -> None:
    assert sorted(set(BUGS) - {c.id for c in CASES}) == []


@pytest.mark.parametrize("legacy", [True, False], ids=["raw_pickle", "torch_zip"])
@pytest.mark.parametrize("loader", ["load_weights", "CohortGraph.load", "load_checkpoint",
                                    "EmbeddingCache.get"])
def test_malicious_pickle_never_runs(loader: str, legacy: bool, tmp_path: Path,
                                     caplog: pytest.LogCaptureFixture) -> None:
    """A pickle whose __reduce__ creates a file is refused and the file never appears."""
    flag = tmp_path / "PWNED"
    if loader == "EmbeddingCache.get":
        from graphs.encoders.base import EmbeddingCache

        cache = EmbeddingCache(tmp_path / "cache")
        cache.put("enc", "ab12", np.ones(3))
        np.save(cache._path("enc", "ab12"), np.array([Payload(flag)], dtype=object),
                allow_pickle=True)
        with caplog.at_level(logging.WARNING):
            assert cache.get("enc", "ab12") is None  # an unreadable entry is a cache miss
        assert "unreadable cache entry" in caplog.text
    else:
        path = tmp_path / "evil.pt"
        if legacy:
            path.write_bytes(pickle.dumps(Payload(flag)))
        else:
            torch.save({"weight": Payload(flag)}, path)
        assert not flag.exists()  # pickling does not call open
        read = {"load_weights": _weights, "CohortGraph.load": CohortGraph.load,
                "load_checkpoint": lambda p: pytest.importorskip(
                    "gnn.checkpoint").load_checkpoint(p)}[loader]
        with pytest.raises((ParseError, SchemaError)) as info:
            read(path)
        assert "evil.pt" in str(info.value)
    assert not flag.exists(), "unpickling ran attacker code"


DOCUMENTED: dict[str, tuple[tuple[str, ...], Callable[[Path, Any], None], list]] = {}


def documented(id: str, uses: tuple[str, ...] = (), bug: tuple[Any, str] | None = None
               ) -> Callable:
    def register(fn: Callable[[Path, Any], None]) -> Callable:
        marks = [pytest.mark.xfail(strict=True, raises=bug[0], reason=bug[1])] if bug else []
        DOCUMENTED[id] = (uses, fn, marks)
        return fn
    return register


@documented("snomed/concept_duplicate_ids", ("snomed/concept_duplicate_ids.txt", *SNOMED_VALID))
def _snomed_duplicates(tmp: Path, caplog: Any) -> None:
    with pytest.warns(UserWarning, match="several rows"):
        t = snomed(concept="concept_duplicate_ids.txt")(tmp)
    # the 2023 inactive row of 9000001003 loses to its 2024 active row
    assert t.concepts["id"].tolist() == ["SNOMEDCT:9000001003", "SNOMEDCT:9000002005"]


@documented("obo/duplicate_id", ("obo/duplicate_id.obo",))
def _obo_duplicates(tmp: Path, caplog: Any) -> None:
    t = read_obo(M / "obo" / "duplicate_id.obo")  # OBO 1.4 merges stanzas sharing an id
    assert t.concepts[["id", "label", "synonyms"]].values.tolist() == [["X:0000001", "one", "uno"]]


@documented("atc/missing_parent", ("atc/missing_parent.csv",))
def _atc_missing_parent(tmp: Path, caplog: Any) -> None:
    with pytest.warns(UserWarning, match="missing_parent.csv: 1 ATC codes have no parent"):
        t = read_atc(M / "atc" / "missing_parent.csv")
    assert t.relations[["source", "target"]].values.tolist() == [["ATC:X01AA01", "ATC:X"]]


@documented("atc/no_ancestor", ("atc/no_ancestor.csv",))
def _atc_no_ancestor(tmp: Path, caplog: Any) -> None:
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        t = read_atc(M / "atc" / "no_ancestor.csv")
    assert any("2 ATC codes have no parent" in str(w.message) for w in seen)
    assert len(t.concepts) == 2 and len(t.relations) == 0


@documented("mimic3/unknown_code", used_files("mimic3/unknown_code"))
def _mimic3_unknown_code(tmp: Path, caplog: Any) -> None:
    folder = overlay(FIXTURES / "mimic3", M / "mimic3" / "unknown_code", tmp)
    with caplog.at_level(logging.WARNING, logger="graphs.records"):
        rec = mimic3(folder)
    assert rec.metadata["dropped"]["diagnoses_malformed_code"] == 1
    assert "dropped 1 diagnoses rows with a malformed ICD code" in caplog.text
    assert rec.diagnoses["source_code"].tolist() == ["ICD9CM:250.00"]


@documented("configs/empty.yaml", ("configs/empty.yaml",))
def _empty_config(tmp: Path, caplog: Any) -> None:
    config = pytest.importorskip("gnn.config")  # an empty file means "all defaults"
    assert config.TrainConfig.from_file(M / "configs" / "empty.yaml") == config.TrainConfig()


@pytest.mark.parametrize("id", [pytest.param(k, id=k, marks=v[2])
                                for k, v in sorted(DOCUMENTED.items())])
def test_documented_skip(id: str, tmp_path: Path, caplog: pytest.LogCaptureFixture,
                         fuzz: Any) -> None:
    """Inputs a reader skips on purpose: the skip is warned/logged and counted."""
    DOCUMENTED[id][1](tmp_path, caplog)
    fuzz.record("corpus:" + id.split("/")[0], "accepted")


#: config file -> (error, substrings of the message, known bug or None)
CONFIGS: dict[str, tuple[type, tuple[str, ...], tuple[Any, str] | None]] = {
    "not_yaml.yaml": (ParseError, ("not_yaml.yaml:2:",), None),
    "unknown_key.json": (ConfigError, ("unknown_key.json", "hiden"), None),
    "negative_lr.json": (ConfigError, ("negative_lr.json", "lr"), None),
    "nan_lr.yaml": (ConfigError, ("nan_lr.yaml", "lr"), None),
    "utf16.yaml": (ParseError, ("utf16.yaml",), None),
}


def _config_params() -> list[Any]:
    return [pytest.param(name, *spec[:2], id=name, marks=[pytest.mark.xfail(
        strict=True, raises=spec[2][0], reason=spec[2][1])] if spec[2] else [])
        for name, spec in CONFIGS.items()]


@pytest.mark.parametrize("name, error, expect", _config_params())
def test_training_config(name: str, error: type, expect: tuple[str, ...], fuzz: Any) -> None:
    """Malformed training configs raise ConfigError/ParseError naming the file."""
    config = pytest.importorskip("gnn.config", reason="gnn/config.py does not exist yet")
    with pytest.raises(MedKGError) as info:
        config.TrainConfig.from_file(M / "configs" / name)
    fuzz.record("corpus:configs", "project_errors")
    assert isinstance(info.value, error)
    for part in expect:
        assert part in str(info.value)


def test_deeply_nested_config(tmp_path: Path) -> None:
    config = pytest.importorskip("gnn.config", reason="gnn/config.py does not exist yet")
    with pytest.raises(MedKGError):
        config.TrainConfig.from_file(_deep_json(tmp_path))


@pytest.mark.slow
def test_kg_from_rdf_full_xml_bomb(tmp_path: Path) -> None:
    """The 10**9-fold bomb of tests/fixtures/rdf, in a child process with a time limit."""
    code = ("import sys; from kg.rdf_view import from_rdf\n"
            "try:\n    from_rdf(sys.argv[1])\nexcept Exception as e:\n"
            "    print(type(e).__name__)\n")
    out = subprocess.run([sys.executable, "-c", code, str(FIXTURES / "rdf" /
                                                          "billion_laughs.owl")],
                         capture_output=True, text=True, timeout=30, cwd=FIXTURES.parents[1])
    assert out.stdout.strip() == "ParseError", out.stdout + out.stderr


def test_every_corpus_file_is_used() -> None:
    """Each file under tests/fixtures/malformed belongs to at least one case."""
    used = {u for c in CASES for u in c.uses} | {f"configs/{name}" for name in CONFIGS}
    used |= {u for uses, *_ in DOCUMENTED.values() for u in uses}
    present = {str(p.relative_to(M)) for p in M.rglob("*") if p.is_file()} - {"README.md"}
    assert sorted(present - used) == []
    assert sorted(used - present) == []


def test_corpus_is_small() -> None:
    """Corpus files stay tiny (binary inputs are generated at test time)."""
    sizes = {str(p.relative_to(M)): p.stat().st_size for p in M.rglob("*") if p.is_file()}
    assert max(sizes.values()) < 4096, max(sizes, key=sizes.get)
