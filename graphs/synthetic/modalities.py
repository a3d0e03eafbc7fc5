"""Which modality shows which condition, and resolving ``synthetic://`` paths.

:data:`VISIBILITY` is the planted design: for each modality, the conditions it is
informative about and how strongly. A condition absent from a modality's row is
*not* rendered into it at all (its raw data is independent of that condition given the
conditions it does show; correlation can still leak through comorbidity, e.g. IHD is
not drawn on the chest film but raises the chance of heart failure, which is).

Examples:
    >>> t = visibility_table()
    >>> t.loc["af", "signal"], t.loc["af", "image"], t.loc["depression", "note"]
    ('strong', '', 'strong')
    >>> from graphs.synthetic.cohort import generate_cohort
    >>> c = generate_cohort(10, seed=5, note_text=False)
    >>> m = c.records.modalities
    >>> paths = [m.path[m.modality == k].iloc[0] for k in ("image", "signal", "genomic")]
    >>> [getattr(x, "shape", None) or len(x) for x in resolve(c, paths)]
    [(64, 64), (3, 1000), 1000]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from graphs.synthetic.access import parse_path
from graphs.synthetic.catalog import CONDITION_KEYS
from graphs.synthetic.images import render_images
from graphs.synthetic.notes import render_notes
from graphs.synthetic.sequences import render_sequences
from graphs.synthetic.signals import render_signals
from ontologies.errors import InputError

if TYPE_CHECKING:  # pragma: no cover
    from graphs.synthetic.cohort import SyntheticCohort

__all__ = ["VISIBILITY", "RENDERERS", "visibility_table", "resolve",
           "render_images", "render_signals", "render_sequences", "render_notes"]

#: modality -> condition -> strength ("strong", "moderate", "weak"). ``codes`` are the
#: structured history (diagnoses + medications), ``labs`` the observations table.
VISIBILITY: dict[str, dict[str, str]] = {
    "image": {"pneumonia": "strong", "copd": "strong", "hf": "strong"},
    "signal": {"af": "strong", "ihd": "strong", "hf": "moderate", "htn": "weak"},
    "genomic": {"fh": "strong", "cf": "strong", "hh": "strong"},
    "note": {"depression": "strong", "anxiety": "strong", "cf": "strong",
             "pneumonia": "strong", "gi_bleed": "strong", "asthma": "moderate",
             "ihd": "moderate", "hf": "moderate", "af": "moderate", "copd": "moderate",
             "fh": "weak", "t2d": "weak", "htn": "weak", "ckd": "weak", "hh": "weak",
             "hld": "weak"},
    "labs": {"t2d": "strong", "htn": "strong", "ckd": "strong", "fh": "strong",
             "hld": "moderate", "hf": "moderate", "pneumonia": "moderate", "hh": "moderate",
             "copd": "weak", "af": "weak"},
    "codes": {k: "moderate" for k in CONDITION_KEYS},  # once diagnosed; under-coded
}

#: modality name in ``records.modalities`` / virtual paths -> renderer.
RENDERERS = {"image": render_images, "signal": render_signals, "genomic": render_sequences,
             "note": render_notes}


def visibility_table() -> pd.DataFrame:
    """:data:`VISIBILITY` as a condition x modality table ('' = not shown)."""
    return pd.DataFrame({m: [row.get(k, "") for k in CONDITION_KEYS]
                         for m, row in VISIBILITY.items()},
                        index=pd.Index(CONDITION_KEYS, name="condition"))


def resolve(cohort: SyntheticCohort, paths: Sequence[str], **options: Any) -> list[Any]:
    """Renders the observations behind ``synthetic://`` paths, in the given order.

    Args:
        cohort: The cohort the paths belong to.
        paths: Values of ``records.modalities.path`` (or ``synthetic://note/...``).
        **options: Passed to every renderer used (e.g. ``size=32`` for images).

    Returns:
        One item per path: ``float32`` array (image ``[size, size]``, signal
        ``[leads, L]``), or ``str`` (genomic read, note text).

    Raises:
        InputError: A path is malformed or names an unknown modality.
    """
    parsed = [parse_path(p) for p in paths]
    out: list[Any] = [None] * len(parsed)
    for modality in dict.fromkeys(m for m, _, _ in parsed):
        if modality not in RENDERERS:
            raise InputError(f"path modality {modality!r}: expected one of "
                             f"{', '.join(RENDERERS)}")
        rows = [i for i, (m, _, _) in enumerate(parsed) if m == modality]
        items = RENDERERS[modality](cohort, [parsed[i][1] for i in rows],
                                    [parsed[i][2] for i in rows], **options)
        for i, item in zip(rows, items, strict=True):
            out[i] = np.asarray(item) if isinstance(item, np.ndarray) else item
    return out
