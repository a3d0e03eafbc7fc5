"""Genomic file readers: FASTA sequences and VCF variant calls.

:func:`read_fasta` validates the nucleotide alphabet and returns :class:`FastaRecord`
entries; :func:`read_vcf` turns a VCF 4.x file into a long table of calls and
:func:`gene_features` that table into a sample x gene matrix for patient nodes. The
sequence encodings and the motif CNN that consume them are in
:mod:`graphs.encoders.genomic` (which re-exports these names).

Examples:
    >>> import tempfile
    >>> p = os.path.join(tempfile.mkdtemp(), "x.fa")
    >>> _ = open(p, "w").write(">s1\\nACGT\\n")
    >>> read_fasta(p)
    [FastaRecord(id='s1', description='', sequence='ACGT')]
"""

from __future__ import annotations

import gzip
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ontologies.errors import DataNotFoundError, DuplicateIdError, InputError, ParseError

__all__ = ["FastaRecord", "read_fasta", "read_vcf", "gene_features", "IMPACT_SCALE"]

log = logging.getLogger(__name__)

_ALPHABET = "ACGTNU"
_BAD_CHAR = re.compile(f"[^{_ALPHABET}{_ALPHABET.lower()}]")


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



# -- VCF --------------------------------------------------------------------------------

#: Ordinal of the SnpEff/VEP putative impact (0 = no annotation).
IMPACT_SCALE: dict[str, int] = {"MODIFIER": 1, "LOW": 2, "MODERATE": 3, "HIGH": 4}
_VCF_FIXED = ["CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO"]
# default field positions when the ##INFO header does not spell the format out
_ANN_DEFAULT = ["Allele", "Annotation", "Annotation_Impact", "Gene_Name"]  # SnpEff
_CSQ_DEFAULT = ["Allele", "Consequence", "IMPACT", "SYMBOL"]  # Ensembl VEP
_GT = re.compile(r"(?:\.|\d+)(?:[/|](?:\.|\d+))*")
_MAX_POS = 2**31 - 1  # POS is a 32-bit signed integer in BCF, so in VCF tools too


def _short(value: object) -> str:
    """repr of a cell for a message, cut to 30 characters."""
    text = repr(value)
    return text if len(text) <= 30 else text[:27] + "..."


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
        raise ParseError(f"POS {_short(table.at[bad, 'POS'])} is not a positive integer",
                         path=path, line=int(line_no[bad]))
    # more than 10 digits (after leading zeros) cannot fit; the rest convert safely
    digits = table["POS"].str.lstrip("0").str.len().to_numpy(dtype=np.int64)
    pos = np.zeros(n_sites, dtype=np.int64)
    fits = digits <= 10
    pos[fits] = table["POS"][fits].astype(np.int64).to_numpy()
    out_of_range = ~fits | (pos > _MAX_POS)
    if out_of_range.any():
        bad = int(np.flatnonzero(out_of_range)[0])
        raise ParseError(f"POS {_short(table.at[bad, 'POS'])} is out of range; expected at "
                         f"most {_MAX_POS} (2**31 - 1, the VCF/BCF limit)", path=path,
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
        "chrom": table["CHROM"], "pos": pos, "ref": table["REF"],
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
