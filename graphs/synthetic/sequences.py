"""Genomic DNA reads: ``render_sequences(cohort, ...) -> list[str]`` over ``ACGT``.

Each patient's sequence is random background (GC content 42 %) holding three short
"gene" loci at patient-specific offsets. Carriers of a hereditary condition carry the
pathogenic allele at that condition's locus; everyone else carries the reference
allele, or (25 %) a benign variant at another position of the same locus, so merely
"something differs at the locus" is not enough. Sequencing errors (0.2 % substitutions)
can, rarely, hide an allele.

=========== ============== ==========================================================
condition   locus          pathogenic allele
=========== ============== ==========================================================
fh          LDLR-like      single substitution (invented sequence)
cf          CFTR-like      3-bp deletion, modelled on the context of CFTR p.F508del
hh          HFE-like       single substitution (invented sequence)
=========== ============== ==========================================================

These are illustrative toy loci, not real reference sequence. The genome is germline,
so every visit of a patient gives the same read; it says nothing about acquired
conditions (diabetes, pneumonia, depression, ...).

Examples:
    >>> from graphs.synthetic.cohort import generate_cohort
    >>> c = generate_cohort(30, seed=3, note_text=False)
    >>> seqs = render_sequences(c, c.patient_ids[:2], length=300)
    >>> len(seqs), len(seqs[0]) == 300, set(seqs[0]) <= set("ACGT")
    (2, True, True)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from graphs.synthetic import _rng
from graphs.synthetic.access import select
from ontologies.errors import InputError

if TYPE_CHECKING:  # pragma: no cover
    from graphs.synthetic.cohort import SyntheticCohort

__all__ = ["render_sequences", "LOCI", "count_allele"]

#: condition -> (locus name, reference allele, pathogenic allele, benign allele)
LOCI: dict[str, tuple[str, str, str, str]] = {
    "fh": ("LDLR-like", "TGCGAGGACGGCAGCGATGAGTGG", "TGCGAGGACGGCTGCGATGAGTGG",
           "TGCGAGGACGGCAGCGATGAATGG"),
    "cf": ("CFTR-like", "GAAAATATCATCTTTGGTGTTTCC", "GAAAATATCATTGGTGTTTCC",
           "GAAAATATCATCTTTGGTGTTTCT"),
    "hh": ("HFE-like", "CCCCAGATCACAATGAGGGGCTGA", "CCCCAGATCACAATAAGGGGCTGA",
           "CCCCAGCTCACAATGAGGGGCTGA"),
}
_LETTERS = np.frombuffer(b"ACGT", dtype=np.uint8)
_CUM_GC = np.array([0.29, 0.50, 0.71, 1.0])  # A, C, G, T with 42 % GC
_BENIGN = 0.25
_ERROR = 0.002


def count_allele(sequences: Sequence[str], condition: str, allele: str = "pathogenic"
                 ) -> np.ndarray:
    """Occurrences of a locus allele in each sequence (a simple motif-count feature).

    Examples:
        >>> count_allele(["AA" + LOCI["cf"][2] + "TT", "ACGT"], "cf").tolist()
        [1, 0]
    """
    if condition not in LOCI:
        raise InputError(f"condition {condition!r} has no locus: expected one of "
                         f"{', '.join(LOCI)}")
    motif = LOCI[condition][{"reference": 1, "pathogenic": 2, "benign": 3}[allele]]
    return np.array([s.count(motif) for s in sequences])


def render_sequences(cohort: SyntheticCohort, patient_ids: str | Sequence[str] | None = None,
                     visits: int | Sequence[int] | Sequence[str] | None = None,
                     length: int = 1000) -> list[str]:
    """Renders one DNA read per selected patient (visits only pick which rows to return).

    Args:
        cohort: A :class:`~graphs.synthetic.cohort.SyntheticCohort`.
        patient_ids: Patients (``None``: all); see :func:`graphs.synthetic.access.select`.
        visits: Visits (``None``: each patient's last); the read is the same for all.
        length: Sequence length (>= 150, room for three loci).

    Returns:
        A list of ``ACGT`` strings of ``length`` characters.
    """
    if not isinstance(length, (int, np.integer)) or length < 150:
        raise InputError(f"length={length!r}: expected an integer >= 150")
    pidx, _ = select(cohort, patient_ids, visits)
    n = len(pidx)
    key = _rng.keys(cohort.seed, "genome", pidx)
    letters = np.searchsorted(_CUM_GC, _rng.uniform(key, length), side="right")
    seq = _LETTERS[np.minimum(letters, 3)]
    u = _rng.uniform(_rng.keys(cohort.seed, "genome-loci", pidx), 2 * len(LOCI))
    slot = length // len(LOCI)
    for i, (cond, (_, ref, bad, benign)) in enumerate(LOCI.items()):
        carrier = cohort.state.genotype[cond][pidx]
        start = i * slot + (u[:, i] * (slot - len(ref))).astype(int)
        for j in range(n):
            allele = bad if carrier[j] else (benign if u[j, len(LOCI) + i] < _BENIGN else ref)
            seq[j, start[j]:start[j] + len(allele)] = np.frombuffer(allele.encode(), np.uint8)
    err = _rng.uniform(_rng.keys(cohort.seed, "genome-errors", pidx), 2 * length)
    flip = err[:, :length] < _ERROR
    seq[flip] = _LETTERS[(err[:, length:][flip] * 4).astype(int) % 4]
    return [row.tobytes().decode() for row in seq]
