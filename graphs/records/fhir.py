"""Reader of FHIR R4 bundles (JSON, one Bundle per patient as Synthea writes them).

Resources used from ``entry[].resource``:

================== ================================================================
Patient            id, gender, birthDate, deceasedDateTime -> patients
Encounter          id, subject, class.code, period.start/end -> visits
Condition          subject, encounter, code.coding, onsetDateTime/recordedDate
                   -> diagnoses
MedicationRequest  subject, encounter, medicationCodeableConcept (or a referenced
                   Medication), authoredOn -> medications
Observation        subject, encounter, code.coding, valueQuantity (and each
                   component's), effectiveDateTime -> observations
Procedure          subject, encounter, code.coding, performedPeriod/DateTime
                   -> procedures
================== ================================================================

Coding systems become CURIE prefixes through :data:`SYSTEMS` (SNOMED CT ->
``SNOMEDCT:``, ICD-10-CM -> ``ICD10CM:`` dotted, RxNorm -> ``RXNORM:``, LOINC ->
``LOINC:``); a coding in another system is skipped and counted in
``metadata["dropped"]``. References (``urn:uuid:...`` full URLs or ``Type/id``) are
resolved to resource ids. Times with UTC offsets are converted to UTC.

Files are parsed with :mod:`json` (no code execution) after a size check; a malformed
bundle (including the non-JSON numbers ``NaN``/``Infinity`` and nesting too deep to
parse) raises :class:`~ontologies.errors.ParseError` naming the file and entry index, and
a bad value (a date, a repeated Patient id) a
:class:`~ontologies.errors.SchemaError` naming the file and entry, never the value.
Bundles without a Patient (Synthea's hospital and practitioner files) are skipped.

Examples:
    >>> import json, tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
    ...     {"fullUrl": "urn:uuid:p1", "resource": {"resourceType": "Patient", "id": "p1",
    ...      "gender": "female", "birthDate": "1970-05-01"}},
    ...     {"fullUrl": "urn:uuid:c1", "resource": {"resourceType": "Condition", "id": "c1",
    ...      "subject": {"reference": "urn:uuid:p1"}, "onsetDateTime": "2020-01-01T10:00:00+01:00",
    ...      "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm",
    ...                           "code": "I10"}]}}}]}
    >>> _ = (d / "p1.json").write_text(json.dumps(bundle))
    >>> rec = read_fhir(d)
    >>> rec.diagnoses[["code", "time"]].values.tolist()
    [['ICD10CM:I10', Timestamp('2020-01-01 09:00:00')]]
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import pandas as pd

from graphs.records.columns import SOURCE_FILE, SOURCE_ROW
from graphs.records.icd import drop_malformed, icd9_curies, icd10_curies, map_diagnoses
from graphs.records.normalise import sex_codes
from graphs.records.registry import READERS, finish
from graphs.records.schema import PatientRecords
from ontologies.errors import DataNotFoundError, InputError, ParseError

__all__ = ["read_fhir", "SYSTEMS", "MAX_BYTES"]

#: Coding system URI -> CURIE prefix.
SYSTEMS = {
    "http://snomed.info/sct": "SNOMEDCT",
    "http://hl7.org/fhir/sid/icd-10-cm": "ICD10CM",
    "http://hl7.org/fhir/sid/icd-9-cm": "ICD9CM",
    "http://hl7.org/fhir/sid/icd-10": "ICD10",
    "http://www.nlm.nih.gov/research/umls/rxnorm": "RXNORM",
    "http://loinc.org": "LOINC",
    "http://hl7.org/fhir/sid/ndc": "NDC",
    "http://hl7.org/fhir/sid/cvx": "CVX",
}

#: Largest bundle read by default (Synthea bundles of long lives reach tens of MB).
MAX_BYTES = 256 * 2**20

# every row ends with its provenance (file name, entry index) for validation messages
_COLUMNS = {name: cols + [SOURCE_FILE, SOURCE_ROW] for name, cols in {
    "patients": ["patient_id", "sex", "birth_date", "death_date"],
    "visits": ["patient_id", "visit_id", "start", "end", "visit_type"],
    "diagnoses": ["patient_id", "visit_id", "source_code", "time"],
    "medications": ["patient_id", "visit_id", "code", "label", "start", "end"],
    "procedures": ["patient_id", "visit_id", "code", "time"],
    "observations": ["patient_id", "visit_id", "code", "value", "unit", "time"],
}.items()}


@READERS.register("fhir")
def read_fhir(
    folder: str | os.PathLike,
    *,
    patients: list[str] | None = None,
    map_to_icd10: bool = True,
    max_bytes: int = MAX_BYTES,
    gem_options: dict[str, Any] | None = None,
) -> PatientRecords:
    """Reads every ``*.json`` FHIR Bundle in ``folder`` (or one bundle file).

    Args:
        folder: A folder of bundles, or a single ``.json`` file.
        patients: Optional Patient ids to keep.
        map_to_icd10: Map ICD-9-CM conditions to ICD-10-CM through the GEMs.
        max_bytes: Refuse files larger than this (a guard against unbounded memory).
        gem_options: Options for ``ontologies.icd9cm.map_icd9_to_icd10``.

    Returns:
        Validated :class:`PatientRecords`.

    Raises:
        DataNotFoundError: No folder or no JSON file in it.
        InputError: A file exceeds ``max_bytes``.
        ParseError: Invalid JSON, not a Bundle, or a malformed entry (file and entry index).
        SchemaError: A value of the wrong kind (e.g. a birthDate that is not a date) or a
            repeated Patient/Encounter id (file and entry index).
    """
    folder = Path(folder)
    if folder.is_file():
        paths, root = [folder], folder.parent
    elif folder.is_dir():
        paths, root = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".json"), folder
    else:
        raise DataNotFoundError(f"FHIR folder or file {str(folder)!r} does not exist")
    if not paths:
        raise DataNotFoundError(f"no *.json FHIR bundles in {str(folder)!r}")
    rows: dict[str, list[tuple]] = {name: [] for name in _COLUMNS}
    dropped: dict[str, int] = {}
    skipped = 0
    for path in paths:
        if not _read_bundle(_load(path, max_bytes), path, rows, dropped):
            skipped += 1
    frames = {name: pd.DataFrame(rows[name], columns=cols) for name, cols in _COLUMNS.items()}
    if patients is not None:
        wanted = {str(p) for p in patients}
        frames = {k: v[v["patient_id"].isin(wanted)] for k, v in frames.items()}
    frames["patients"]["sex"] = sex_codes(frames["patients"]["sex"])
    dx = frames.pop("diagnoses")
    raw = dx["source_code"]
    dx["source_code"] = _dotted(raw)
    dx = drop_malformed(dx, "source_code", raw, "diagnoses", dropped)
    dx["seq_num"] = pd.array([pd.NA] * len(dx), dtype="Int64")
    diagnoses, mapping_counts = map_diagnoses(dx, map_to_icd10, gem_options)
    frames["diagnoses"] = diagnoses
    meta = {"format": "fhir", "folder": str(folder), "files": [p.name for p in paths],
            "bundles_without_patient": skipped, "mapping": mapping_counts,
            "map_to_icd10": map_to_icd10, "dropped": dropped}
    return finish(frames, root, meta)


def _load(path: Path, max_bytes: int) -> Any:
    size = path.stat().st_size
    if size > max_bytes:
        raise InputError(f"{path}: {size} bytes is more than max_bytes={max_bytes}; "
                         "raise max_bytes to read it")
    def refuse(constant: str) -> None:
        # Python's json accepts these, JSON (RFC 8259) does not: an infinite lab value
        # would pass every later check
        raise ParseError(f"{constant!r} is not a JSON number: expected a FHIR JSON bundle",
                         path=path)

    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle, parse_constant=refuse)
    except json.JSONDecodeError as err:
        raise ParseError(f"invalid JSON ({err.msg}, column {err.colno})", path=path,
                         line=err.lineno) from None
    except UnicodeDecodeError:
        raise ParseError("not UTF-8 text: expected a FHIR JSON bundle", path=path) from None
    except RecursionError:  # the parser recurses once per nesting level
        raise ParseError("JSON nested too deeply: expected a FHIR JSON bundle",
                         path=path) from None


def _read_bundle(bundle: Any, path: Path, rows: dict[str, list[tuple]],
                 dropped: dict[str, int]) -> bool:
    """Appends the bundle's rows; returns False when it holds no Patient."""
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise ParseError("expected a JSON object with resourceType 'Bundle'", path=path)
    entries = bundle.get("entry", [])
    if not isinstance(entries, list):
        raise ParseError("Bundle.entry is not a list", path=path)
    resources = []
    refs: dict[str, str] = {}
    for i, entry in enumerate(entries):
        res = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(res, dict) or not isinstance(res.get("resourceType"), str):
            raise ParseError(f"entry {i}: expected an object with a 'resource' that has a "
                             "'resourceType'", path=path)
        rid = res.get("id")
        kind = res["resourceType"]
        if kind in ("Patient", "Encounter") and not isinstance(rid, str):
            raise ParseError(f"entry {i} ({kind}): missing 'id'", path=path)
        if isinstance(rid, str):
            refs[f"{kind}/{rid}"] = rid
            if isinstance(entry.get("fullUrl"), str):
                refs[entry["fullUrl"]] = rid
        resources.append((i, kind, res))
    if not any(kind == "Patient" for _, kind, _ in resources):
        return False
    medications = {rid: res for _, kind, res in resources if kind == "Medication"
                   for rid in [res.get("id")] if isinstance(rid, str)}
    for i, kind, res in resources:
        where = f"entry {i} ({kind})"
        try:
            _one(kind, res, refs, medications, rows, dropped, (path.name, i))
        except (KeyError, TypeError, AttributeError, ValueError) as err:
            raise ParseError(f"{where}: malformed resource ({type(err).__name__}: {err}); "
                             "expected FHIR R4", path=path) from None
    return True


def _one(kind: str, res: dict, refs: dict[str, str], medications: dict[str, dict],
         rows: dict[str, list[tuple]], dropped: dict[str, int], src: tuple[str, int]) -> None:
    """Appends the rows of one resource, each ending with ``src`` (file, entry index)."""
    if kind == "Patient":
        rows["patients"].append((res["id"], res.get("gender"), res.get("birthDate"),
                                 res.get("deceasedDateTime"), *src))
        return
    if kind not in ("Encounter", "Condition", "MedicationRequest", "Observation", "Procedure"):
        return
    patient = _ref(res.get("subject"), refs)
    if patient is None:
        raise ValueError("no subject reference")
    visit = _ref(res.get("encounter"), refs)
    if kind == "Encounter":
        period = res.get("period") or {}
        cls = res.get("class") or {}
        rows["visits"].append((patient, res["id"], period.get("start"), period.get("end"),
                               _visit_type(cls.get("code")), *src))
        return
    if kind == "MedicationRequest":
        concept = res.get("medicationCodeableConcept")
        if concept is None and "medicationReference" in res:
            concept = medications.get(_ref(res["medicationReference"], refs) or "", {}).get("code")
        code, label = _coding(concept)
        if code is None:
            dropped["medications_unknown_system"] = dropped.get("medications_unknown_system", 0) + 1
            return
        period = (res.get("dispenseRequest") or {}).get("validityPeriod") or {}
        rows["medications"].append((patient, visit, code, label,
                                    res.get("authoredOn") or period.get("start"),
                                    period.get("end"), *src))
        return
    code, _ = _coding(res.get("code"))
    if kind == "Condition":
        time = res.get("onsetDateTime") or res.get("recordedDate")
        target, row = "diagnoses", (patient, visit, code, time, *src)
    elif kind == "Procedure":
        time = res.get("performedDateTime") or (res.get("performedPeriod") or {}).get("start")
        target, row = "procedures", (patient, visit, code, time, *src)
    else:
        time = res.get("effectiveDateTime") or res.get("issued")
        _observations(res, (patient, visit), code, time, rows, dropped, src)
        return
    if code is None:
        key = f"{target}_unknown_system"
        dropped[key] = dropped.get(key, 0) + 1
        return
    rows[target].append(row)


def _observations(res: dict, owner: tuple[str, str | None], code: str | None, time: Any,
                  rows: dict[str, list[tuple]], dropped: dict[str, int],
                  src: tuple[str, int]) -> None:
    # a panel (blood pressure) has its values in components, each with its own code
    parts = [(code, res.get("valueQuantity"))]
    for comp in res.get("component") or []:
        parts.append((_coding(comp.get("code"))[0], comp.get("valueQuantity")))
    for part_code, quantity in parts:
        if quantity is None:
            continue
        if part_code is None:
            dropped["observations_unknown_system"] = \
                dropped.get("observations_unknown_system", 0) + 1
            continue
        value = quantity.get("value")
        if value is not None and not _finite(value):
            raise ValueError(f"valueQuantity.value (a JSON {type(value).__name__}) is not a "
                             "finite number")
        rows["observations"].append((*owner, part_code, value,
                                     quantity.get("unit") or quantity.get("code"), time, *src))


def _finite(value: Any) -> bool:
    # bool is an int in Python but not a quantity; 1e400 parses as an infinite float
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:  # an integer beyond float range
        return False


def _ref(obj: Any, refs: dict[str, str]) -> str | None:
    if not isinstance(obj, dict) or not isinstance(obj.get("reference"), str):
        return None
    ref = obj["reference"]
    if ref in refs:
        return refs[ref]
    if ref.startswith("urn:uuid:"):
        return ref[len("urn:uuid:"):]
    return ref.rsplit("/", 1)[-1]


def _coding(concept: Any) -> tuple[str | None, str | None]:
    """First coding in a known system as (CURIE, display); label falls back to text."""
    if not isinstance(concept, dict):
        return None, None
    for coding in concept.get("coding") or []:
        prefix = SYSTEMS.get(coding.get("system"))
        if prefix and isinstance(coding.get("code"), str) and coding["code"].strip():
            label = coding.get("display") or concept.get("text")
            return f"{prefix}:{coding['code'].strip()}", label
    return None, concept.get("text")


_VISIT_TYPES = {"AMB": "ambulatory", "EMER": "emergency", "IMP": "inpatient",
                "ACUTE": "inpatient", "NONAC": "inpatient", "OBSENC": "observation",
                "HH": "home", "VR": "virtual", "FLD": "field"}


def _visit_type(code: Any) -> str | None:
    if not isinstance(code, str):
        return None
    return _VISIT_TYPES.get(code.upper(), code.lower())


def _dotted(codes: pd.Series) -> pd.Series:
    """Re-dots ICD codes (FHIR servers send them with or without the dot)."""
    codes = codes.astype("string")
    prefix = codes.str.split(":", n=1).str[0]
    local = codes.str.split(":", n=1).str[1]
    out = codes.copy()
    for system, fix in (("ICD10CM", lambda s: icd10_curies(s)),
                        ("ICD9CM", lambda s: icd9_curies(s, "dx"))):
        mask = (prefix == system).fillna(False)
        if mask.any():
            out[mask] = fix(local[mask])
    return out
