"""Picking (patient, visit) pairs of a synthetic cohort and its virtual modality paths.

Raw observations are not stored: ``records.modalities.path`` holds a virtual reference
``synthetic://<modality>/<patient_id>/<visit_id>`` that the ``render_*`` functions (and
:func:`graphs.synthetic.modalities.resolve`) turn back into the array or text, exactly
as it would have been generated, from ``(seed, patient, visit)`` alone.

Visit ids are ``<patient_id>-V<index>`` with a zero-based, zero-padded index.

Examples:
    >>> virtual_path("image", "P000001", "P000001-V02")
    'synthetic://image/P000001/P000001-V02'
    >>> parse_path("synthetic://image/P000001/P000001-V02")
    ('image', 'P000001', 'P000001-V02')
    >>> visit_id("P000001", 2), split_visit_id("P000001-V02")
    ('P000001-V02', ('P000001', 2))
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from ontologies.errors import InputError

if TYPE_CHECKING:  # pragma: no cover - typing only
    from graphs.synthetic.cohort import SyntheticCohort

__all__ = ["SCHEME", "virtual_path", "parse_path", "visit_id", "split_visit_id", "select"]

SCHEME = "synthetic://"


def virtual_path(modality: str, patient_id: str, visit: str) -> str:
    """The ``modalities.path`` value of one synthetic observation."""
    return f"{SCHEME}{modality}/{patient_id}/{visit}"


def parse_path(path: str) -> tuple[str, str, str]:
    """``(modality, patient_id, visit_id)`` of a virtual path.

    Raises:
        InputError: ``path`` is not of the form ``synthetic://<modality>/<patient>/<visit>``.
    """
    if not isinstance(path, str) or not path.startswith(SCHEME):
        raise InputError(f"path {path!r} is not a synthetic reference: expected "
                         f"'{SCHEME}<modality>/<patient_id>/<visit_id>'")
    parts = path[len(SCHEME):].split("/")
    if len(parts) != 3 or not all(parts):
        raise InputError(f"path {path!r}: expected '{SCHEME}<modality>/<patient_id>/<visit_id>'")
    return parts[0], parts[1], parts[2]


def visit_id(patient_id: str, index: int) -> str:
    """The id of visit ``index`` (0-based) of a patient."""
    return f"{patient_id}-V{index:02d}"


def split_visit_id(vid: str) -> tuple[str, int]:
    """``(patient_id, visit index)`` of a synthetic visit id."""
    pid, sep, idx = str(vid).rpartition("-V")
    if not sep or not pid or not idx.isdigit():
        raise InputError(f"visit id {vid!r} is not a synthetic visit id: expected "
                         "'<patient_id>-V<index>' such as 'P000001-V02'")
    return pid, int(idx)


def select(cohort: SyntheticCohort, patient_ids: str | Sequence[str] | None = None,
           visits: int | Sequence[int] | Sequence[str] | None = None
           ) -> tuple[np.ndarray, np.ndarray]:
    """Row indices ``(patients, visits)`` of the requested observations.

    Args:
        cohort: The cohort.
        patient_ids: One id, a sequence of ids, or ``None`` for every patient.
        visits: ``None`` for each patient's last visit; an int visit index for all
            (negative counts from each patient's end); or a sequence aligned with
            ``patient_ids`` of visit indices or visit ids. With visit ids and
            ``patient_ids=None`` the patients are taken from the visit ids.

    Returns:
        Two int arrays of equal length.

    Raises:
        UnknownCodeError: A patient id is not in the cohort.
        InputError: A visit does not exist for its patient, or lengths differ.
    """
    if isinstance(patient_ids, str):
        patient_ids = [patient_ids]
    if patient_ids is None and visits is not None and not isinstance(visits, (int, np.integer)):
        pairs = [split_visit_id(v) for v in visits]
        patient_ids = [p for p, _ in pairs]
        visits = [v for _, v in pairs]
    if patient_ids is None:
        pidx = np.arange(len(cohort.patient_ids))
    else:
        pidx = cohort.patient_index(patient_ids)
    n = cohort.state.n_visits[pidx]
    if visits is None:
        vidx = n - 1
    elif isinstance(visits, (int, np.integer)):
        vidx = np.where(visits < 0, n + int(visits), int(visits))
    else:
        visits = list(visits)
        if len(visits) != len(pidx):
            raise InputError(f"visits has {len(visits)} entries but there are {len(pidx)} "
                             "patients: expected one visit per patient")
        vidx = np.empty(len(visits), dtype=np.int64)
        for i, v in enumerate(visits):
            if isinstance(v, str):
                pid, v = split_visit_id(v)
                if pid != cohort.patient_ids[pidx[i]]:
                    raise InputError(f"visit {visits[i]!r} does not belong to patient "
                                     f"{cohort.patient_ids[pidx[i]]!r}")
            vidx[i] = v
    vidx = np.asarray(vidx, dtype=np.int64)
    bad = (vidx < 0) | (vidx >= n)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(f"patient {cohort.patient_ids[pidx[i]]!r} has no visit {int(vidx[i])}: "
                         f"expected an index in 0..{int(n[i]) - 1}")
    return pidx.astype(np.int64), vidx
