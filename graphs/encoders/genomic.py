"""Genomic inputs: FASTA sequences (one-hot, k-mers, a motif CNN) and VCF variant calls.

Sequences are DNA (``ACGTN``; RNA ``U`` is read as ``T``). :class:`MotifCNNEncoder`
(``"genomic_cnn"``) scans one-hot sequences with learned position weight matrices on
both strands. :func:`read_vcf` turns a VCF 4.x file into a long table of calls and
:func:`gene_features` into a sample x gene matrix for patient nodes.

Examples:
    >>> one_hot("ACGTN")
    array([[1.  , 0.  , 0.  , 0.  , 0.25],
           [0.  , 1.  , 0.  , 0.  , 0.25],
           [0.  , 0.  , 1.  , 0.  , 0.25],
           [0.  , 0.  , 0.  , 1.  , 0.25]], dtype=float32)
    >>> kmer_tokens("ACGTA", 3)
    ['ACG', 'CGT', 'GTA']
    >>> enc = MotifCNNEncoder(dim=4, n_motifs=8, motif_length=5)
    >>> enc.encode(["ACGTACGTTT", "GGA"], progress=False).shape
    torch.Size([2, 4])
"""

from __future__ import annotations

import gzip
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import torch
import torch.nn.functional as F
from torch import nn

from graphs.encoders.base import ENCODERS, Encoder
from graphs.encoders.signal import pad_with_mask
from ontologies.errors import DataNotFoundError, DuplicateIdError, InputError, ParseError

__all__ = [
    "FastaRecord",
    "read_fasta",
    "one_hot",
    "kmer_tokens",
    "kmer_ids",
    "MotifCNNEncoder",
    "read_vcf",
    "gene_features",
    "IMPACT_SCALE",
]

log = logging.getLogger(__name__)

_ALPHABET = "ACGTNU"
_BAD_CHAR = re.compile(f"[^{_ALPHABET}{_ALPHABET.lower()}]")
# byte -> row of the one-hot matrix (A, C, G, T); N -> 4; anything else -> 5 (invalid)
_LOOKUP = np.full(256, 5, dtype=np.int8)
for _i, _chars in enumerate(["Aa", "Cc", "Gg", "TtUu", "Nn"]):
    for _c in _chars:
        _LOOKUP[ord(_c)] = _i


@dataclass(frozen=True)
class FastaRecord:
    """One FASTA entry: ``id`` (first word of the header), ``description`` (the rest of
    the header) and ``sequence`` (upper-case, line breaks removed)."""

    id: str
    description: str
    sequence: str


def read_fasta(path: str | os.PathLike) -> list[FastaRecord]:
    """Reads a multi-record FASTA file, validating the alphabet ``ACGTN`` (``U``).

    Letters are case-insensitive (soft-masked lower case is upper-cased); blank lines
    and ``;`` comment lines are skipped.

    Args:
        path: FASTA file.

    Returns:
        Records in file order.

    Raises:
        DataNotFoundError: Missing file.
        ParseError: No records, sequence before the first ``>`` header, an empty
            header, an empty sequence, or a character outside ``ACGTNU`` (the message
            names the character, line and column).
        DuplicateIdError: Two records share an id.

    Examples:
        >>> import tempfile
        >>> p = os.path.join(tempfile.mkdtemp(), "x.fa")
        >>> _ = open(p, "w").write(">s1 promoter\\nACGT\\nacgn\\n>s2\\nUUA\\n")
        >>> [(r.id, r.description, r.sequence) for r in read_fasta(p)]
        [('s1', 'promoter', 'ACGTACGN'), ('s2', '', 'UUA')]
    """
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"FASTA file {path} not found")
    records: list[FastaRecord] = []
    header: tuple[str, str, int] | None = None
    chunks: list[str] = []

    def close() -> None:
        if header is None:
            return
        if not chunks:
            raise ParseError(f"record {header[0]!r} has an empty sequence", path=path,
                             line=header[2])
        records.append(FastaRecord(header[0], header[1], "".join(chunks).upper()))

    with open(path, encoding="utf-8", errors="replace") as handle:
        for number, raw in enumerate(handle, start=1):
            line = raw.strip()
            if not line or line.startswith(";"):
                continue
            if line.startswith(">"):
                close()
                parts = line[1:].strip().split(maxsplit=1)
                if not parts:
                    raise ParseError("empty FASTA header '>' (expected '>id description')",
                                     path=path, line=number)
                header, chunks = (parts[0], parts[1] if len(parts) > 1 else "", number), []
                continue
            if header is None:
                raise ParseError(f"sequence line before the first '>' header: {line[:30]!r}",
                                 path=path, line=number)
            bad = _BAD_CHAR.search(line)
            if bad:
                raise ParseError(f"invalid nucleotide {bad.group()!r} at column "
                                 f"{bad.start() + 1} in record {header[0]!r}; expected one "
                                 "of A, C, G, T, N (U for RNA), any case", path=path,
                                 line=number)
            chunks.append(line)
    close()
    if not records:
        raise ParseError("no FASTA records (expected lines starting with '>')", path=path)
    seen: set[str] = set()
    for rec in records:
        if rec.id in seen:
            raise DuplicateIdError(f"{path}: duplicate FASTA record id {rec.id!r}")
        seen.add(rec.id)
    return records


def _codes(seq: str) -> np.ndarray:
    """Sequence -> int8 codes 0-3 (ACGT/U), 4 (N); raises on anything else."""
    if not isinstance(seq, str):
        raise InputError(f"expected a nucleotide string, got {type(seq).__name__}")
    if not seq:
        raise InputError("empty sequence")
    try:
        raw = np.frombuffer(seq.encode("ascii"), dtype=np.uint8)
    except UnicodeEncodeError as err:
        raise InputError(f"non-ASCII character in sequence at position {err.start + 1}; "
                         "expected A, C, G, T, N or U") from err
    codes = _LOOKUP[raw]
    bad = np.flatnonzero(codes == 5)
    if bad.size:
        raise InputError(f"invalid nucleotide {seq[bad[0]]!r} at position {bad[0] + 1}; "
                         "expected A, C, G, T, N or U")
    return codes


def one_hot(seq: str, n_value: float = 0.25) -> np.ndarray:
    """One-hot encodes a sequence as float32 ``[4, L]`` with rows A, C, G, T.

    ``U`` counts as ``T``. ``N`` (unknown base) becomes ``n_value`` in all four rows:
    0.25 (the default) is a uniform base distribution, so a motif scores the expected
    value over bases; 0 makes unknown bases contribute nothing.

    Examples:
        >>> one_hot("aUn", n_value=0.0).astype(int)
        array([[1, 0, 0],
               [0, 0, 0],
               [0, 0, 0],
               [0, 1, 0]])
    """
    codes = _codes(seq)
    eye = np.vstack([np.eye(4, dtype=np.float32), np.full((1, 4), n_value, np.float32)])
    return np.ascontiguousarray(eye[codes].T)


def kmer_tokens(seq: str, k: int = 3, stride: int = 1) -> list[str]:
    """Overlapping k-mers as strings (upper-case, ``U`` kept as written).

    Examples:
        >>> kmer_tokens("acgtac", 4, stride=2)
        ['ACGT', 'GTAC']
    """
    if k <= 0 or stride <= 0:
        raise InputError(f"k and stride must be positive, got k={k}, stride={stride}")
    _codes(seq)  # validates the alphabet
    up = seq.upper()
    return [up[i:i + k] for i in range(0, len(up) - k + 1, stride)]


def kmer_ids(seq: str, k: int = 3) -> np.ndarray:
    """Overlapping k-mers as integer ids in ``[0, 4**k]`` (base 4, A=0 ... T=3).

    A k-mer containing ``N`` gets the extra id ``4**k`` (unknown), so the vocabulary
    has ``4**k + 1`` entries. Vectorised: no Python loop over positions.

    Examples:
        >>> kmer_ids("ACGTN", 2).tolist()
        [1, 6, 11, 16]
    """
    if k <= 0:
        raise InputError(f"k must be positive, got {k}")
    codes = _codes(seq).astype(np.int64)
    if len(codes) < k:
        return np.zeros(0, dtype=np.int64)
    windows = np.lib.stride_tricks.sliding_window_view(codes, k)
    ids = (windows.clip(max=3) * 4 ** np.arange(k - 1, -1, -1)).sum(axis=1)
    return np.where((windows == 4).any(axis=1), 4 ** k, ids)


@ENCODERS.register("genomic_cnn")
class MotifCNNEncoder(Encoder):
    """Motif detectors (1D convolutions) with masked global max pooling, both strands.

    Each filter is a learnable position weight matrix of ``motif_length`` bases. With
    ``both_strands`` the reverse complement is scanned too and the stronger hit kept,
    so a motif is found whichever strand it sits on.

    Args:
        dim: Embedding size.
        n_motifs: Number of motif filters.
        motif_length: Filter width in bases.
        n_value: One-hot value for ``N`` (see :func:`one_hot`).
        max_length: Crop sequences longer than this (``None`` = keep).
        both_strands: Also scan the reverse complement.
        dropout: Dropout on pooled motif scores.
        cache_dir: Optional embedding cache folder.

    Shapes:
        ``forward``: ``[b, 4, L]`` (+ mask ``[b, L]``) -> ``[b, dim]``.
    """

    name = "genomic_cnn"

    def __init__(self, dim: int = 128, n_motifs: int = 64, motif_length: int = 12,
                 n_value: float = 0.25, max_length: int | None = None,
                 both_strands: bool = True, dropout: float = 0.0,
                 cache_dir: str | os.PathLike | None = None):
        super().__init__(dim=dim, pretrained=False, cache_dir=cache_dir)
        if n_motifs <= 0 or motif_length <= 0:
            raise InputError(f"n_motifs and motif_length must be positive, got {n_motifs}, "
                             f"{motif_length}")
        self.n_motifs, self.motif_length, self.n_value = n_motifs, motif_length, n_value
        self.max_length, self.both_strands = max_length, both_strands
        self.motifs = nn.Conv1d(4, n_motifs, motif_length)  # "same" padding in _scan
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(n_motifs, dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-initialises the motif filters and the projection (PyTorch defaults)."""
        self.motifs.reset_parameters()
        self.head.reset_parameters()

    def config(self) -> dict[str, Any]:
        return {"dim": self.dim, "n_motifs": self.n_motifs, "motif_length": self.motif_length,
                "n_value": self.n_value, "max_length": self.max_length,
                "both_strands": self.both_strands}

    def prepare(self, item: Any) -> torch.Tensor:
        """Sequence string, :class:`FastaRecord`, one-hot ``[4, L]`` or a single-record
        FASTA path -> one-hot tensor ``[4, L]``."""
        if isinstance(item, (Path, os.PathLike)) or (
                isinstance(item, str) and os.path.isfile(item)):
            records = read_fasta(item)
            if len(records) != 1:
                raise InputError(f"{item}: holds {len(records)} FASTA records; encode "
                                 "read_fasta(path) to embed each one")
            item = records[0]
        if isinstance(item, FastaRecord):
            item = item.sequence
        if isinstance(item, str):
            x = one_hot(item, self.n_value)
        else:
            x = np.asarray(item.detach().cpu() if torch.is_tensor(item) else item,
                           dtype=np.float32)
            if x.ndim != 2 or x.shape[0] != 4 or x.shape[1] == 0:
                raise InputError(f"{self.name}: expected a one-hot array [4, L], got shape "
                                 f"{x.shape}")
        if self.max_length is not None:
            x = x[:, :self.max_length]
        return torch.from_numpy(np.ascontiguousarray(x))

    def collate(self, prepared: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Pads to the longest sequence with zeros: ``([b, 4, L], mask [b, L])``."""
        return pad_with_mask(prepared, dim=-1)

    def _scan(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        k = self.motif_length  # pad to keep length L (explicitly: even k is allowed)
        scores = F.relu(self.motifs(F.pad(x, ((k - 1) // 2, k // 2))))
        return scores.masked_fill(~mask[:, None, :], float("-inf")).amax(-1)

    def forward(self, batch: Any, mask: torch.Tensor | None = None) -> torch.Tensor:
        """``[b, 4, L]`` or ``(x, mask)`` -> ``[b, dim]``."""
        if isinstance(batch, (tuple, list)):
            batch, mask = batch
        x = batch
        if x.dim() != 3 or x.shape[1] != 4:
            raise InputError(f"{self.name}: expected one-hot [b, 4, L], got {tuple(x.shape)}")
        if mask is None:
            mask = torch.ones(x.shape[0], x.shape[2], dtype=torch.bool, device=x.device)
        pooled = self._scan(x, mask)
        if self.both_strands:
            # reverse complement: A<->T, C<->G is flipping the row order; then reverse
            # the positions. Right padding becomes left padding, which the mask follows.
            pooled = torch.maximum(pooled, self._scan(x.flip(1, 2), mask.flip(1)))
        return self.head(self.drop(pooled))

    def extra_repr(self) -> str:
        return (f"dim={self.dim}, n_motifs={self.n_motifs}, motif_length={self.motif_length}, "
                f"both_strands={self.both_strands}, pretrained={self.pretrained}")


# -- VCF --------------------------------------------------------------------------------

#: Ordinal of the SnpEff/VEP putative impact (0 = no annotation).
IMPACT_SCALE: dict[str, int] = {"MODIFIER": 1, "LOW": 2, "MODERATE": 3, "HIGH": 4}
_VCF_FIXED = ["CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO"]
# default field positions when the ##INFO header does not spell the format out
_ANN_DEFAULT = ["Allele", "Annotation", "Annotation_Impact", "Gene_Name"]  # SnpEff
_CSQ_DEFAULT = ["Allele", "Consequence", "IMPACT", "SYMBOL"]  # Ensembl VEP
_GT = re.compile(r"(?:\.|\d+)(?:[/|](?:\.|\d+))*")


def _annotation_fields(meta: list[str], key: str, default: list[str]) -> list[str]:
    """Sub-field names of ANN/CSQ from its ``##INFO`` description (``... Format: a|b``
    for VEP, ``'a | b'`` for SnpEff)."""
    for line in meta:
        if line.startswith(f"##INFO=<ID={key},"):
            found = re.search(r"(?:Format: ?|')([^'\"]*\|[^'\"]*)", line)
            if found:
                return [f.strip() for f in found.group(1).split("|")]
    return default


def _annotation_part(info: pd.Series, key: str, fields: list[str],
                     wanted: tuple[str, ...]) -> pd.Series:
    """Field ``wanted`` of the first (most severe, by convention) annotation in ``key``."""
    index = next((fields.index(w) for w in wanted if w in fields), None)
    ann = info.str.extract(rf"(?:^|;){key}=([^;]*)", expand=False)
    if index is None or ann.isna().all():
        return pd.Series(pd.NA, index=info.index, dtype="string")
    return ann.str.split(",").str[0].str.split("|").str[index].astype("string")


def read_vcf(path: str | os.PathLike) -> pd.DataFrame:
    r"""Reads a VCF 4.x file (plain or ``.gz``) into a long table, one row per call.

    The gene comes from INFO ``GENE=``, else the SnpEff ``ANN`` gene name, else the VEP
    ``CSQ`` ``SYMBOL`` (first annotation); the impact from ``ANN``/``CSQ`` or INFO
    ``IMPACT=``. A sites-only VCF (no samples) gives one row per variant with
    ``sample`` missing.

    Args:
        path: The VCF file.

    Returns:
        Columns ``sample, gene, variant_id, chrom, pos, ref, alt, filter, genotype,
        alt_count, impact`` where ``alt_count`` is the number of non-reference alleles
        in the genotype and ``variant_id`` the ID column or ``chrom:pos:ref>alt``.

    Raises:
        DataNotFoundError: Missing file.
        ParseError: Missing ``##fileformat=VCFv4`` line or ``#CHROM`` header, wrong
            header columns, a row with the wrong number of fields, a non-integer POS or
            a malformed GT (the message names the line).

    Examples:
        >>> import tempfile
        >>> p = os.path.join(tempfile.mkdtemp(), "x.vcf")
        >>> rows = ["##fileformat=VCFv4.2",
        ...         "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tP1\tP2",
        ...         "1\t100\trs1\tA\tG\t50\tPASS\tGENE=BRCA1;IMPACT=HIGH\tGT\t0/1\t1|1",
        ...         "2\t200\t.\tC\tT\t.\tPASS\tGENE=TP53\tGT:DP\t0/0:9\t./.:0"]
        >>> _ = open(p, "w").write("\n".join(rows) + "\n")
        >>> read_vcf(p)[["sample", "gene", "variant_id", "genotype", "alt_count", "impact"]]
          sample   gene  variant_id genotype  alt_count impact
        0     P1  BRCA1         rs1      0/1          1   HIGH
        1     P2  BRCA1         rs1      1|1          2   HIGH
        2     P1   TP53  2:200:C>T      0/0          0   <NA>
        3     P2   TP53  2:200:C>T      ./.          0   <NA>
    """
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"VCF file {path} not found")
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8", errors="replace") as handle:
            lines = handle.read().splitlines()
    except (OSError, EOFError) as err:
        raise ParseError(f"cannot read VCF ({err})", path=path) from err
    if not lines or not lines[0].startswith("##fileformat=VCFv4"):
        raise ParseError("expected '##fileformat=VCFv4.x' on the first line", path=path, line=1)
    n_header = next((i for i, line in enumerate(lines) if not line.startswith("##")), None)
    if n_header is None or not lines[n_header].startswith("#CHROM"):
        raise ParseError("missing '#CHROM POS ID REF ALT QUAL FILTER INFO' header line after "
                         "the ## meta lines", path=path, line=(n_header or len(lines)) + 1)
    columns = lines[n_header][1:].split("\t")
    if columns[:8] != _VCF_FIXED or (len(columns) > 8 and columns[8] != "FORMAT") \
            or len(columns) == 9:
        raise ParseError(f"header columns {columns[:9]} do not match {_VCF_FIXED} [+ FORMAT "
                         "+ samples] (tab-separated)", path=path, line=n_header + 1)
    samples = columns[9:]
    if len(set(samples)) != len(samples):
        raise ParseError(f"duplicate sample names in header: {samples}", path=path,
                         line=n_header + 1)
    # pyarrow compute splits and matches in C++: no Python loop over the calls
    line_no = np.arange(n_header + 2, len(lines) + 1)  # 1-based file line numbers
    body = pa.array(lines[n_header + 1:], type=pa.string())
    keep = pc.not_equal(pc.utf8_trim_whitespace(body), "").to_numpy(zero_copy_only=False)
    body, line_no = body.filter(pa.array(keep)), line_no[keep]
    n_sites, n_cols = len(body), len(columns)
    n_fields = pc.count_substring(body, "\t").to_numpy(zero_copy_only=False) + 1
    wrong = np.flatnonzero(n_fields != n_cols)
    if wrong.size:
        raise ParseError(f"expected {n_cols} tab-separated fields, found "
                         f"{int(n_fields[wrong[0]])}", path=path, line=int(line_no[wrong[0]]))
    cells = pc.list_flatten(pc.split_pattern(body, "\t"))  # row-major [n_sites * n_cols]

    def column(j: int) -> pd.Series:
        return pd.Series(cells.take(pa.array(np.arange(n_sites) * n_cols + j)).to_pandas(),
                         dtype="string")

    table = pd.DataFrame({name: column(j) for j, name in enumerate(columns[:9])})
    pos_ok = table["POS"].str.fullmatch(r"[0-9]+").fillna(False).to_numpy(dtype=bool)
    if not pos_ok.all():
        bad = int(np.flatnonzero(~pos_ok)[0])
        raise ParseError(f"POS {table.at[bad, 'POS']!r} is not a positive integer", path=path,
                         line=int(line_no[bad]))
    meta = lines[:n_header]
    info = table["INFO"]
    ann_fields = _annotation_fields(meta, "ANN", _ANN_DEFAULT)
    csq_fields = _annotation_fields(meta, "CSQ", _CSQ_DEFAULT)
    gene = (info.str.extract(r"(?:^|;)GENE=([^;]*)", expand=False).astype("string")
            .fillna(_annotation_part(info, "ANN", ann_fields, ("Gene_Name",)))
            .fillna(_annotation_part(info, "CSQ", csq_fields, ("SYMBOL",))))
    impact = (_annotation_part(info, "ANN", ann_fields, ("Annotation_Impact",))
              .fillna(_annotation_part(info, "CSQ", csq_fields, ("IMPACT",)))
              .fillna(info.str.extract(r"(?:^|;)IMPACT=([^;]*)", expand=False)
                      .astype("string")).str.upper())
    sites = pd.DataFrame({
        "gene": gene.replace("", pd.NA),
        "variant_id": table["ID"].where(table["ID"] != ".", table["CHROM"] + ":"
                                        + table["POS"] + ":" + table["REF"] + ">"
                                        + table["ALT"]),
        "chrom": table["CHROM"], "pos": table["POS"].astype(np.int64), "ref": table["REF"],
        "alt": table["ALT"], "filter": table["FILTER"], "impact": impact.replace("", pd.NA)})
    n_smp = len(samples)
    if not n_smp:
        log.warning("%s: sites-only VCF (no sample columns)", path)
        out = sites.assign(sample=pd.NA, genotype=pd.NA, alt_count=0)
    else:
        # calls in site-major order: site 0 sample 0, site 0 sample 1, ...
        calls = cells.take(pa.array((np.arange(n_sites)[:, None] * n_cols
                                     + np.arange(9, n_cols)[None, :]).ravel()))
        # position of GT among the FORMAT keys (first per the spec; -1 = absent)
        gt_pos = table["FORMAT"].str.split(":").map(lambda k: k.index("GT") if "GT" in k
                                                    else -1).to_numpy()  # per site: cheap
        gt_pos = np.repeat(gt_pos, n_smp)
        genotype = pa.nulls(len(calls), pa.string())
        for pos in np.unique(gt_pos[gt_pos >= 0]):  # a handful of distinct layouts
            if pos == 0:  # the usual layout; trailing fields may be dropped, never GT
                field = pc.list_element(pc.split_pattern(calls, ":", max_splits=1), 0)
            else:  # a call with fewer fields than FORMAT has no GT (null)
                pattern = rf"^(?:[^:]*:){{{pos}}}([^:]*).*$"
                field = pc.if_else(pc.match_substring_regex(calls, pattern),
                                   pc.replace_substring_regex(calls, pattern, r"\1"),
                                   pa.nulls(len(calls), pa.string()))
            genotype = pc.if_else(pa.array(gt_pos == pos), field, genotype)
        valid = pc.fill_null(pc.match_substring_regex(genotype, f"^{_GT.pattern}$"), True)
        bad = np.flatnonzero(~valid.to_numpy(zero_copy_only=False))
        if bad.size:
            site, smp = divmod(int(bad[0]), n_smp)
            raise ParseError(f"malformed GT {genotype[int(bad[0])].as_py()!r} for sample "
                             f"{samples[smp]!r}; expected e.g. 0/1, 1|1, ./.", path=path,
                             line=int(line_no[site]))
        # non-reference alleles: numbers not equal to 0 ("1/2" -> 2, "./1" -> 1)
        alt_count = pc.fill_null(pc.count_substring_regex(genotype, "[1-9][0-9]*"), 0)
        out = sites.iloc[np.repeat(np.arange(n_sites), n_smp)].assign(
            sample=np.tile(np.asarray(samples, dtype=object), n_sites),
            genotype=pd.Series(genotype.to_pandas(), dtype="string").to_numpy(),
            alt_count=alt_count.to_numpy(zero_copy_only=False))
    cols = ["sample", "gene", "variant_id", "chrom", "pos", "ref", "alt", "filter",
            "genotype", "alt_count", "impact"]
    out = out[cols].reset_index(drop=True)
    out["alt_count"] = out["alt_count"].astype(np.int64)
    return out.astype({c: "string" for c in cols if c not in ("pos", "alt_count")})


def gene_features(vcf_table: pd.DataFrame, genes: list[str], value: str = "alt_count",
                  samples: list[str] | None = None) -> pd.DataFrame:
    """Per-sample gene-level matrix from a :func:`read_vcf` table.

    Args:
        vcf_table: The long call table.
        genes: Output columns, in order (genes absent from the table are all zero).
        value: ``"alt_count"`` (sum of non-reference alleles over the gene's variants),
            ``"carrier"`` (1 if any non-reference allele) or ``"max_impact"`` (highest
            :data:`IMPACT_SCALE` among the sample's non-reference calls; 0 if none).
        samples: Output rows, in order; default the table's samples in order of
            appearance.

    Returns:
        ``int64`` DataFrame ``[samples, genes]``.

    Examples:
        >>> t = pd.DataFrame({"sample": ["P1", "P1", "P2"], "gene": ["A", "A", "B"],
        ...                   "alt_count": [1, 2, 0], "impact": ["LOW", "HIGH", "HIGH"]})
        >>> gene_features(t, ["A", "B", "C"])
        gene  A  B  C
        sample
        P1    3  0  0
        P2    0  0  0
        >>> gene_features(t, ["A", "B"], value="max_impact").loc["P1", "A"]
        np.int64(4)
    """
    missing = {"sample", "gene", "alt_count", "impact"} - set(vcf_table.columns)
    if missing:
        raise InputError(f"vcf_table lacks columns {sorted(missing)}; expected read_vcf output")
    if value not in ("alt_count", "carrier", "max_impact"):
        raise InputError(f"value must be 'alt_count', 'carrier' or 'max_impact', got {value!r}")
    rows = list(pd.unique(vcf_table["sample"].dropna())) if samples is None else list(samples)
    # integer codes + scatter reductions: no string pivot over millions of calls
    r = pd.Index(rows).get_indexer(vcf_table["sample"])
    c = pd.Index(list(genes)).get_indexer(vcf_table["gene"])
    keep = (r >= 0) & (c >= 0)
    counts = vcf_table["alt_count"].to_numpy(dtype=np.int64)[keep]
    out = np.zeros((len(rows), len(genes)), dtype=np.int64)
    if value == "alt_count":
        np.add.at(out, (r[keep], c[keep]), counts)
    elif value == "carrier":
        np.maximum.at(out, (r[keep], c[keep]), (counts > 0).astype(np.int64))
    else:
        scale = (vcf_table["impact"].astype("string").str.upper().map(IMPACT_SCALE)
                 .fillna(0).to_numpy(dtype=np.int64)[keep])
        np.maximum.at(out, (r[keep], c[keep]), np.where(counts > 0, scale, 0))
    return pd.DataFrame(out, index=pd.Index(rows, name="sample"),
                        columns=pd.Index(list(genes), name="gene"))
