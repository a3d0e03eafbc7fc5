"""Genomic reads carry the hereditary alleles and nothing else."""

import numpy as np
import pytest

from graphs.synthetic import render_sequences
from graphs.synthetic.sequences import LOCI, count_allele
from ontologies.errors import InputError


@pytest.fixture(scope="module")
def reads(cohort):
    return render_sequences(cohort)


@pytest.mark.parametrize("condition", ["fh", "cf", "hh"])
def test_pathogenic_allele_marks_carriers_and_cases(cohort, reads, auroc, condition):
    count = count_allele(reads, condition)
    carrier = cohort.state.genotype[condition]
    assert auroc(count, carrier) > 0.95
    assert auroc(count, cohort.truth[condition].notna().to_numpy()) > 0.9
    # the benign variant does not mark carriers
    assert auroc(count_allele(reads, condition, "benign"), carrier) < 0.6


@pytest.mark.parametrize("condition", ["depression", "pneumonia", "t2d"])
def test_acquired_conditions_are_invisible(cohort, reads, auroc, condition):
    ever = cohort.truth[condition].notna().to_numpy()
    for locus in LOCI:
        assert abs(auroc(count_allele(reads, locus), ever) - 0.5) < 0.1


def test_reads_are_germline_and_well_formed(cohort, reads):
    pid = cohort.patient_ids[0]
    first = render_sequences(cohort, [pid], visits=0)[0]
    assert first == reads[0] == render_sequences(cohort, [pid])[0]
    assert len(first) == 1000 and set(first) <= set("ACGT")
    gc = np.mean([s.count("G") + s.count("C") for s in reads[:50]]) / 1000
    assert 0.38 < gc < 0.46
    with pytest.raises(InputError, match="length"):
        render_sequences(cohort, [pid], length=10)
    with pytest.raises(InputError, match="locus"):
        count_allele(reads, "t2d")
