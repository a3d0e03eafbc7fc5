"""Genomics: FASTA reading/validation, one-hot and k-mers, the motif CNN, VCF and gene features."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from graphs.encoders.base import ENCODERS
from graphs.encoders.genomic import (
    FastaRecord,
    MotifCNNEncoder,
    gene_features,
    kmer_ids,
    kmer_tokens,
    one_hot,
    read_fasta,
    read_vcf,
)
from ontologies.errors import DataNotFoundError, DuplicateIdError, InputError, ParseError


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny tensors: one thread avoids oversubscribing the shared 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)

FIXTURES = Path(__file__).parents[2] / "fixtures" / "genomic"
GENES = ["GENEA", "GENEB", "GENEC", "GENED"]


@pytest.fixture(scope="session")
def vcf_table() -> pd.DataFrame:
    return read_vcf(FIXTURES / "example.vcf")


def test_read_fasta_fixture():
    records = read_fasta(FIXTURES / "example.fa")
    assert [r.id for r in records] == ["seq1", "seq2", "seq3"]
    assert records[0] == FastaRecord("seq1", "toy promoter with a TATA box",
                                     "ACGTTATAAAGGCCGTANNACGT")
    assert records[1].sequence == "UUAGC" and records[2].description == "single line"


@pytest.mark.parametrize("text, message, line", [
    (">s1\nACGT\nACXT\n", "invalid nucleotide 'X' at column 3", 3),
    ("ACGT\n>s1\nACGT\n", "before the first '>'", 1),
    (">s1\n>s2\nAC\n", "'s1' has an empty sequence", 1),
    (">\nACGT\n", "empty FASTA header", 1),
    ("\n\n", "no FASTA records", None),
    (">s1\nAC-GT\n", "invalid nucleotide '-'", 2),
])
def test_read_fasta_malformed(tmp_path, text, message, line):
    path = tmp_path / "bad.fa"
    path.write_text(text)
    with pytest.raises(ParseError, match=message) as err:
        read_fasta(path)
    assert err.value.line == line and err.value.path == str(path)


def test_read_fasta_duplicates_and_missing(tmp_path):
    path = tmp_path / "dup.fa"
    path.write_text(">a\nAC\n>a\nGT\n")
    with pytest.raises(DuplicateIdError, match="'a'"):
        read_fasta(path)
    with pytest.raises(DataNotFoundError):
        read_fasta(tmp_path / "none.fa")


def test_one_hot_and_n_policy():
    x = one_hot("ACGTUN")
    assert x.shape == (4, 6) and x.dtype == np.float32
    assert x[:, :5].argmax(0).tolist() == [0, 1, 2, 3, 3]
    assert x[:, :5].sum(0).tolist() == [1] * 5 and x[:, 5].tolist() == [0.25] * 4
    assert one_hot("n", n_value=0.0).sum() == 0
    np.testing.assert_array_equal(one_hot("acgt"), one_hot("ACGT"))
    with pytest.raises(InputError, match="'R' at position 3"):
        one_hot("ACRT")
    with pytest.raises(InputError, match="empty"):
        one_hot("")


def test_kmers_tokens_match_ids():
    seq = "ACGTTGCANA"
    tokens, ids = kmer_tokens(seq, 3), kmer_ids(seq, 3)
    assert len(tokens) == len(ids) == 8
    decoded = ["".join("ACGT"[(i // 4 ** p) % 4] for p in (2, 1, 0)) if i < 64 else "unk"
               for i in ids]
    assert decoded == [t if "N" not in t else "unk" for t in tokens]
    assert kmer_ids("AC", 3).size == 0 and kmer_tokens("AC", 3) == []
    with pytest.raises(InputError):
        kmer_tokens("ACGT", 0)


def test_motif_cnn_registered_padding_and_strand_invariance():
    assert ENCODERS.get("genomic_cnn") is MotifCNNEncoder
    torch.manual_seed(0)
    enc = MotifCNNEncoder(dim=6, n_motifs=16, motif_length=7)
    seqs = ["ACGTTATAAAGGCCGTANNACGT", "GATTACA", "CG"]
    batch = enc.encode(seqs, progress=False)
    single = torch.cat([enc.encode([s], progress=False) for s in seqs])
    torch.testing.assert_close(batch, single, atol=1e-6, rtol=1e-6)
    revcomp = seqs[0][::-1].translate(str.maketrans("ACGTN", "TGCAN"))
    torch.testing.assert_close(enc.encode([revcomp], progress=False), single[:1],
                               atol=1e-6, rtol=1e-6)
    fwd_only = MotifCNNEncoder(dim=6, n_motifs=16, motif_length=7, both_strands=False)
    assert not torch.allclose(fwd_only.encode([revcomp], progress=False),
                              fwd_only.encode([seqs[0]], progress=False))


def test_motif_cnn_learns_a_motif():
    """A motif present/absent task is learnable with the encoder plus a linear read-out."""
    rng = np.random.default_rng(0)
    seqs, labels = [], []
    for i in range(64):
        s = list(rng.choice(list("ACGT"), size=30))
        if i % 2:
            at = rng.integers(0, 24)
            s[at:at + 6] = "TATAAA"
        seqs.append("".join(s))
        labels.append(i % 2)
    torch.manual_seed(0)
    enc = MotifCNNEncoder(dim=8, n_motifs=8, motif_length=6)
    readout = torch.nn.Linear(8, 1)
    x = enc.collate([enc.prepare(s) for s in seqs])
    y = torch.tensor(labels, dtype=torch.float32)
    opt = torch.optim.Adam([*enc.parameters(), *readout.parameters()], lr=0.02)
    for _ in range(60):
        loss = torch.nn.functional.binary_cross_entropy_with_logits(
            readout(enc(x)).squeeze(1), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    accuracy = ((readout(enc(x)).squeeze(1) > 0).float() == y).float().mean()
    assert accuracy >= 0.95


def test_motif_cnn_inputs(tmp_path):
    enc = MotifCNNEncoder(dim=4, n_motifs=4, motif_length=3, max_length=5)
    assert enc.prepare("ACGTACGTAC").shape == (4, 5)
    one = tmp_path / "one.fa"
    one.write_text(">x\nACGTA\n")
    torch.testing.assert_close(enc.prepare(str(one)), enc.prepare("ACGTA"))
    with pytest.raises(InputError, match="3 FASTA records"):
        enc.prepare(FIXTURES / "example.fa")
    with pytest.raises(InputError):
        enc.prepare(np.zeros((5, 3)))


def test_read_vcf_long_table(vcf_table):
    t = vcf_table
    assert list(t.columns) == ["sample", "gene", "variant_id", "chrom", "pos", "ref", "alt",
                               "filter", "genotype", "alt_count", "impact"]
    assert len(t) == 5 * 3
    by = t.set_index(["variant_id", "sample"])
    assert by.loc[("var1", "PAT2"), ["gene", "genotype", "alt_count", "impact"]].tolist() \
        == ["GENEA", "1|1", 2, "MODERATE"]  # INFO GENE= / IMPACT= (upper-cased)
    multi = by.loc[("1:2000:C>T,G", "PAT1")]  # no ID; gene from SnpEff ANN, first record
    assert (multi["gene"], multi["genotype"], multi["alt_count"], multi["impact"]) \
        == ("GENEB", "1/2", 2, "MODERATE")
    assert by.loc[("1:2000:C>T,G", "PAT3"), "alt_count"] == 0  # ./.
    csq = by.loc[("var3", "PAT1")]  # VEP CSQ, fields located via the header's Format:
    assert (csq["gene"], csq["impact"]) == ("GENEC", "HIGH")
    assert by.loc[("var5", "PAT2"), "genotype"] == "1/1"  # GT not first in FORMAT
    assert pd.isna(by.loc[("var5", "PAT2"), "gene"])
    assert t["pos"].dtype == np.int64 and t.loc[0, "chrom"] == "1"


def test_read_vcf_gzip_equals_plain(tmp_path, vcf_table):
    gz = tmp_path / "example.vcf.gz"
    with open(FIXTURES / "example.vcf", "rb") as src, gzip.open(gz, "wb") as dst:
        shutil.copyfileobj(src, dst)
    pd.testing.assert_frame_equal(read_vcf(gz), vcf_table)


def test_read_vcf_sites_only(tmp_path):
    path = tmp_path / "sites.vcf"
    path.write_text("##fileformat=VCFv4.3\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
                    "1\t5\t.\tA\tC\t.\tPASS\tGENE=X\n")
    t = read_vcf(path)
    assert len(t) == 1 and pd.isna(t.loc[0, "sample"]) and t.loc[0, "gene"] == "X"


def test_read_vcf_truncated_call_has_no_genotype(tmp_path):
    path = tmp_path / "trunc.vcf"
    path.write_text("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\t"
                    "FORMAT\tA\tB\tC\n1\t5\t.\tA\tC\t.\tPASS\t.\tDP:GT\t12\t3:1/1\t4:./.\n")
    t = read_vcf(path)
    assert pd.isna(t.loc[0, "genotype"]) and t["genotype"].tolist()[1:] == ["1/1", "./."]
    assert t["alt_count"].tolist() == [0, 2, 0]


HEADER = "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tP1"


@pytest.mark.parametrize("text, message, line", [
    (HEADER + "\n1\t5\t.\tA\tC\t.\tPASS\t.\tGT\t0/1\n", "fileformat", 1),
    ("##fileformat=VCFv4.2\n1\t5\t.\tA\tC\t.\tPASS\t.\tGT\t0/1\n", "missing '#CHROM", 2),
    ("##fileformat=VCFv4.2\n#CHROM\tPOS\tREF\tALT\n", "header columns", 2),
    ("##fileformat=VCFv4.2\n" + HEADER + "\n1\t5\t.\tA\tC\t.\tPASS\t.\tGT\t0/1\n"
     "1\t6\t.\tA\tC\t.\tPASS\t.\tGT\n", "expected 10 tab-separated fields, found 9", 4),
    ("##fileformat=VCFv4.2\n" + HEADER + "\n1\t5\t.\tA\tC\t.\tPASS\t.\tGT\t0/1\n"
     "1\t6.5\t.\tA\tC\t.\tPASS\t.\tGT\t0/1\n", "POS '6.5' is not a positive integer", 4),
    ("##fileformat=VCFv4.2\n" + HEADER + "\n1\tabc\t.\tA\tC\t.\tPASS\t.\tGT\t0/1\n",
     "POS 'abc'", 3),
    ("##fileformat=VCFv4.2\n" + HEADER + "\n1\t5\t.\tA\tC\t.\tPASS\t.\tGT\t0/X\n",
     "malformed GT '0/X' for sample 'P1'", 3),
])
def test_read_vcf_malformed(tmp_path, text, message, line):
    path = tmp_path / "bad.vcf"
    path.write_text(text)
    with pytest.raises(ParseError, match=message) as err:
        read_vcf(path)
    assert err.value.line == line and err.value.path == str(path)


@pytest.mark.parametrize("pos, ok", [("2147483647", True), ("0000000000002147483647", True),
                                     ("2147483648", False), ("99999999999999999999999", False)])
def test_read_vcf_pos_range(tmp_path, pos, ok):
    path = tmp_path / "pos.vcf"
    path.write_text("##fileformat=VCFv4.2\n" + HEADER
                    + f"\n1\t{pos}\t.\tA\tC\t.\tPASS\t.\tGT\t0/1\n")
    if ok:
        assert read_vcf(path)["pos"].tolist() == [2**31 - 1]
    else:
        with pytest.raises(ParseError, match="out of range") as err:
            read_vcf(path)
        assert err.value.line == 3 and err.value.path == str(path)


def test_readers_live_in_genomic_io_and_are_re_exported():
    import graphs.encoders
    import graphs.encoders.genomic_io as io

    assert read_fasta is io.read_fasta and read_vcf is io.read_vcf
    assert graphs.encoders.read_vcf is io.read_vcf and FastaRecord is io.FastaRecord


def test_gene_features(vcf_table):
    counts = gene_features(vcf_table, GENES)
    assert counts.index.tolist() == ["PAT1", "PAT2", "PAT3"] and counts.columns.tolist() == GENES
    assert counts.values.tolist() == [[1, 2, 1, 0], [2, 0, 1, 0], [2, 0, 0, 0]]
    carrier = gene_features(vcf_table, GENES, value="carrier")
    assert carrier.values.tolist() == [[1, 1, 1, 0], [1, 0, 1, 0], [1, 0, 0, 0]]
    impact = gene_features(vcf_table, GENES, value="max_impact")
    assert impact.values.tolist() == [[3, 3, 4, 0], [3, 0, 4, 0], [2, 0, 0, 0]]
    subset = gene_features(vcf_table, ["GENEC"], samples=["PAT3", "PAT1", "NEW"])
    assert subset["GENEC"].tolist() == [0, 1, 0]
    with pytest.raises(InputError):
        gene_features(vcf_table, GENES, value="mean")
    with pytest.raises(InputError, match="lacks columns"):
        gene_features(vcf_table.drop(columns="gene"), GENES)
