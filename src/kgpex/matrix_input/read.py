"""The matrix entry point (``expression.input: matrix``): a gene x individual matrix instead of reads.

A pre-quantified matrix (a TSV: first column gene or probe IDs, one column per 1000 Genomes
individual) enters the pipeline here and leaves as the same MAGE-style TSS BEDs the reads path
writes, so covariates and cis-eQTL mapping are shared unchanged. Two kinds:

- ``counts``: RNA-seq gene counts from another quantifier. Normalised exactly as MAGE
  (``kgpex.expression.normalize_expression``: TMM on all genes, the gene filter, TMM-CPM, per-gene
  inverse normal transform). MAGE's filter also needs TPM: with a TPM matrix (same genes and
  columns) the filter is MAGE's; without one, genes are filtered on counts only (``pass_tpm`` is
  true for every gene and ``n_samples_tpm`` empty in gene_filter.tsv.gz).
- ``array``: log2 expression-array intensities (Stranger et al. 2012), one column per array.
  Without an arrays table each column is one individual's only array; with one
  (``expression.matrix.arrays_url``, :func:`read_arrays_table`: ``array individual``) an
  individual may have several (replicate) arrays. ``expression.matrix.array_normalization``
  (``kgpex.matrix_input.normalize.normalize_array``, over every probe, as TMM is computed on every
  gene): ``stranger2012`` quantile-normalises each individual's replicate arrays together and
  averages them, then median-normalises across all individuals; ``quantile`` averages replicates
  and quantile-normalises across all individuals. Then the annotated probes on the configured
  chromosomes that are not constant, then the per-probe inverse normal transform. Phenotype IDs
  stay the matrix's row IDs (probes are not collapsed to genes).

The annotation is either the reference stage's ``genes.tsv`` (from the GENCODE GTF) or a table
``gene_id chrom tss strand gene_name`` (optional ``start end gene_type``) whose ``gene_id`` is the
matrix's row ID (a probe ID for arrays), read by :func:`read_annotation_table`.

Every check raises a one-line KgpexError naming the file, line or column.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd

from kgpex.common.errors import KgpexError
from kgpex.common.io import open_text
from kgpex.reference.genes import GENES_COLUMNS

log = logging.getLogger(__name__)


ANNOTATION_REQUIRED = ["gene_id", "chrom", "tss", "strand", "gene_name"]

ANNOTATION_OPTIONAL = ["start", "end", "gene_type"]

# log2 of a 32-bit scanner's intensities stays below 32; anything far above is not log2.
MAX_LOG2_INTENSITY = 50.0

LISTED = 5  # IDs named in an error before "..."


def _some(ids, n: int = LISTED) -> str:
    ids = list(ids)
    return ", ".join(map(str, ids[:n])) + (", ..." if len(ids) > n else "")


def read_matrix(path: str | Path, label: str = "expression matrix") -> pd.DataFrame:
    """A TSV (plain or gzipped) with gene IDs in the first column and one column per individual,
    as float64, index ``gene_id``; columns as in the file.

    Fails on a missing file, a header without sample columns, duplicate or empty column names,
    duplicate or empty gene IDs, rows of the wrong length, and any cell that is not a finite
    number (NA and empty cells included: arrays with missing values must be imputed first).
    """
    path = Path(path)
    if not path.exists():
        raise KgpexError(f"{path}: {label} not found")
    with open_text(path, newline="", what="TSV matrix") as fh:
        lines = [line.rstrip("\r\n") for line in fh if line.strip() and not line.startswith("#")]
    if not lines:
        raise KgpexError(f"{path}: {label} is empty")
    header = lines[0].split("\t")
    if len(header) < 2:
        raise KgpexError(f"{path} line 1: {label} needs a gene ID column and sample columns (tab-separated)")
    samples = header[1:]
    seen: dict[str, int] = {}
    for i, name in enumerate(samples, start=2):
        if not name.strip():
            raise KgpexError(f"{path} line 1: column {i} has no name")
        if name in seen:
            raise KgpexError(f"{path} line 1: column {name} appears twice (columns {seen[name]} and {i})")
        seen[name] = i
    ids: list[str] = []
    rows: list[list[str]] = []
    first_line: dict[str, int] = {}
    for n, line in enumerate(lines[1:], start=2):
        fields = line.split("\t")
        if len(fields) != len(header):
            raise KgpexError(f"{path} line {n}: {len(fields)} fields, header has {len(header)}")
        gene = fields[0].strip()
        if not gene:
            raise KgpexError(f"{path} line {n}: empty gene ID")
        if gene in first_line:
            raise KgpexError(f"{path} line {n}: gene {gene} listed twice (first on line {first_line[gene]})")
        first_line[gene] = n
        ids.append(gene)
        rows.append(fields[1:])
    if not rows:
        raise KgpexError(f"{path}: {label} has no gene rows")
    text = np.array(rows, dtype=object)
    # Python's float(): correctly rounded, so a matrix written with repr() reads back bit for bit
    # (pandas' fast parsers may differ in the last bit).
    try:
        values = text.astype(float)
    except ValueError:  # find the cells that are not numbers, cell by cell
        values = np.empty(text.shape)
        for (r, c), cell in np.ndenumerate(text):
            try:
                values[r, c] = float(cell)
            except ValueError:
                values[r, c] = np.nan
    bad = ~np.isfinite(values)
    if bad.any():
        r, c = (int(v[0]) for v in np.nonzero(bad))
        raise KgpexError(
            f"{path} line {r + 2}: column {samples[c]}: {text[r, c]!r} is not a finite number"
            + (f" ({int(bad.sum())} such cells)" if bad.sum() > 1 else "")
        )
    return pd.DataFrame(
        values, index=pd.Index(ids, name="gene_id"), columns=pd.Index(samples, name="individual")
    )


def check_individuals(matrix: pd.DataFrame, individuals: list[str], path, sheet) -> pd.DataFrame:
    """The matrix's columns must be exactly the cohort's individuals; returns columns sorted."""
    known = set(individuals)
    unknown = [c for c in matrix.columns if c not in known]
    if unknown:
        raise KgpexError(
            f"{path} line 1: {len(unknown)} columns are not individuals of {sheet}: {_some(unknown)}"
        )
    absent = sorted(known - set(matrix.columns))
    if absent:
        raise KgpexError(f"{sheet}: {len(absent)} individuals have no column in {path}: {_some(absent)}")
    return matrix[sorted(matrix.columns)]


def _read_table(path: Path, what: str, required) -> pd.DataFrame:
    """A TSV side table as strings (no NA parsing), with its ``required`` columns and a row;
    each failure one line naming the file."""
    if not path.exists():
        raise KgpexError(f"{path}: {what} not found")
    with open_text(path, newline="", what=f"TSV {what}") as fh:
        df = pd.read_csv(fh, sep="\t", dtype=str, keep_default_na=False, comment=None)
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise KgpexError(
            f"{path} line 1: columns missing: {', '.join(missing)} (need {' '.join(required)})"
        )
    if df.empty:
        raise KgpexError(f"{path}: {what} has no rows")
    return df


ARRAYS_COLUMNS = ["array", "individual"]


def read_arrays_table(path: str | Path) -> pd.Series:
    """The arrays table (``expression.matrix.arrays_url``): a TSV with columns ``array
    individual`` (others ignored), one row per array, naming the individual whose cell line it
    measured. Returns the individuals indexed by array, in the file's order.

    Fails on a missing file or column, an empty field, an array listed twice.
    """
    path = Path(path)
    df = _read_table(path, "arrays table", ARRAYS_COLUMNS)
    df = df[ARRAYS_COLUMNS].apply(lambda col: col.str.strip())
    for col in ARRAYS_COLUMNS:
        empty = df[col] == ""
        if empty.any():
            raise KgpexError(f"{path} line {int(np.flatnonzero(empty)[0]) + 2}: empty {col}")
    dup = df["array"].duplicated()
    if dup.any():
        n = int(np.flatnonzero(dup)[0])
        first = int(np.flatnonzero(df["array"] == df["array"].iat[n])[0])
        raise KgpexError(
            f"{path} line {n + 2}: array {df['array'].iat[n]} listed twice (first on line {first + 2})"
        )
    return pd.Series(
        df["individual"].to_numpy(), index=pd.Index(df["array"].to_numpy(), name="array"), name="individual"
    )


def check_arrays(
    matrix: pd.DataFrame, arrays: pd.Series, individuals: list[str], path, arrays_path, sheet
) -> tuple[pd.DataFrame, pd.Series]:
    """The matrix's columns are arrays of the arrays table, each of an individual of the cohort,
    and every individual has at least one. Returns the matrix and the table in one order (by
    individual, then array)."""
    rows = {array: n for n, array in enumerate(arrays.index, start=2)}
    known = set(individuals)
    stranger = [(array, ind) for array, ind in arrays.items() if ind not in known]
    if stranger:
        array, ind = stranger[0]
        raise KgpexError(
            f"{arrays_path} line {rows[array]}: individual {ind} (array {array}) is not an individual of "
            f"{sheet}" + (f" ({len(stranger)} such rows)" if len(stranger) > 1 else "")
        )
    unlisted = [c for c in matrix.columns if c not in rows]
    if unlisted:
        raise KgpexError(
            f"{path} line 1: {len(unlisted)} columns are not arrays of {arrays_path}: {_some(unlisted)}"
        )
    absent = [a for a in arrays.index if a not in set(matrix.columns)]
    if absent:
        raise KgpexError(
            f"{arrays_path} line {rows[absent[0]]}: array {absent[0]} is not a column of {path}"
            + (f" ({len(absent)} such rows: {_some(absent)})" if len(absent) > 1 else "")
        )
    without = sorted(known - set(arrays))
    if without:
        raise KgpexError(f"{sheet}: {len(without)} individuals have no array in {arrays_path}: {_some(without)}")
    order = sorted(arrays.index, key=lambda a: (arrays[a], a))
    return matrix[order], arrays[order]


def check_counts(matrix: pd.DataFrame, path) -> None:
    """Counts are non-negative (fractional counts, as salmon's NumReads, are fine)."""
    negative = matrix.to_numpy() < 0
    if negative.any():
        r, c = (int(v[0]) for v in np.nonzero(negative))
        raise KgpexError(
            f"{path}: gene {matrix.index[r]}, column {matrix.columns[c]}: negative count "
            f"{matrix.iat[r, c]:g} ({int(negative.sum())} negative cells)"
        )


def check_log2_intensities(matrix: pd.DataFrame, path) -> None:
    """Array values must be log2 intensities: raw intensities (thousands) are refused."""
    top = float(matrix.to_numpy().max())
    if top > MAX_LOG2_INTENSITY:
        r, c = (int(v[0]) for v in np.nonzero(matrix.to_numpy() == top))
        raise KgpexError(
            f"{path}: gene {matrix.index[r]}, column {matrix.columns[c]}: value {top:g} is not a log2 "
            f"intensity (expression.matrix.kind: array expects log2 values, all <= {MAX_LOG2_INTENSITY:g})"
        )


def check_same_shape(counts: pd.DataFrame, tpm: pd.DataFrame, counts_path, tpm_path) -> pd.DataFrame:
    """The TPM matrix lists the counts matrix's genes and columns; returned in the counts' order."""
    if set(tpm.columns) != set(counts.columns):
        diff = sorted(set(tpm.columns) ^ set(counts.columns))
        raise KgpexError(f"{tpm_path} line 1: columns differ from {counts_path}: {_some(diff)}")
    if set(tpm.index) != set(counts.index):
        diff = sorted(set(tpm.index) ^ set(counts.index))
        raise KgpexError(f"{tpm_path}: {len(diff)} genes differ from {counts_path}: {_some(diff)}")
    return tpm.loc[counts.index, counts.columns]


def read_annotation_table(path: str | Path) -> pd.DataFrame:
    """A gene (or probe) annotation TSV as the reference stage's genes table (``read_genes``).

    Required columns ``gene_id chrom tss strand gene_name``; optional ``start end gene_type``
    (default: start = end = tss, gene_type empty). Positions are 1-based; chromosomes must be
    ``chr``-prefixed, as everywhere in the pipeline.
    """
    path = Path(path)
    df = _read_table(path, "annotation table", ANNOTATION_REQUIRED)
    for col in ["gene_id", "chrom", "tss", "strand"]:
        empty = df[col].str.strip() == ""
        if empty.any():
            raise KgpexError(f"{path} line {int(np.flatnonzero(empty)[0]) + 2}: empty {col}")
    dup = df["gene_id"].duplicated()
    if dup.any():
        n = int(np.flatnonzero(dup)[0])
        first = int(np.flatnonzero(df["gene_id"] == df["gene_id"].iat[n])[0])
        raise KgpexError(f"{path} line {n + 2}: gene {df['gene_id'].iat[n]} listed twice (first on line {first + 2})")
    not_chr = ~df["chrom"].str.startswith("chr")
    if not_chr.any():
        n = int(np.flatnonzero(not_chr)[0])
        raise KgpexError(f"{path} line {n + 2}: chrom '{df['chrom'].iat[n]}' must be chr-prefixed (chr1, chrX)")
    bad_strand = ~df["strand"].isin(["+", "-"])
    if bad_strand.any():
        n = int(np.flatnonzero(bad_strand)[0])
        raise KgpexError(f"{path} line {n + 2}: strand '{df['strand'].iat[n]}' is not + or -")
    positions = {}
    for col in ["tss", "start", "end"]:
        if col not in df.columns:
            continue
        bad = ~df[col].str.fullmatch(r"[1-9][0-9]*")
        if bad.any():
            n = int(np.flatnonzero(bad)[0])
            raise KgpexError(f"{path} line {n + 2}: {col} '{df[col].iat[n]}' is not a 1-based position")
        positions[col] = df[col].astype(np.int64).to_numpy()
    start = positions.get("start", positions["tss"])
    end = positions.get("end", positions["tss"])
    outside = (positions["tss"] < start) | (positions["tss"] > end)
    if outside.any():
        n = int(np.flatnonzero(outside)[0])
        raise KgpexError(f"{path} line {n + 2}: tss {positions['tss'][n]} is outside start..end")
    genes = pd.DataFrame(
        {
            "gene_id": df["gene_id"].to_numpy(),
            "gene_name": df["gene_name"].to_numpy(),
            "gene_type": df["gene_type"].to_numpy() if "gene_type" in df.columns else "",
            "chrom": df["chrom"].to_numpy(),
            "start": start,
            "end": end,
            "strand": df["strand"].to_numpy(),
            "tss": positions["tss"],
        },
        columns=GENES_COLUMNS,
    )
    return genes.set_index("gene_id")


def _unversioned(gene_id: str) -> str:
    return re.sub(r"\.\d+(_PAR_Y)?$", r"\1", gene_id)


def check_annotated(matrix: pd.DataFrame, genes: pd.DataFrame, path, annotation, drop: bool = False) -> pd.DataFrame:
    """Every matrix gene must be in the annotation, or (``drop``) the unannotated ones are left
    out and counted. The error names the first few, and says when Ensembl versions are the cause."""
    unknown = matrix.index[~matrix.index.isin(genes.index)]
    if len(unknown) == 0:
        return matrix
    if drop:
        log.warning("%d of %d genes of %s are not in %s and are left out: %s",
                    len(unknown), len(matrix), path, annotation, _some(unknown))
        kept = matrix.drop(index=unknown)
        if kept.empty:
            raise KgpexError(f"{path}: no gene is in the annotation {annotation}")
        return kept
    hint = ""
    by_base = {_unversioned(g) for g in genes.index}
    if sum(_unversioned(g) in by_base for g in unknown) > len(unknown) / 2:
        hint = " (most match once the Ensembl version suffix is ignored: the matrix and the GTF differ in GENCODE release)"
    raise KgpexError(
        f"{path}: {len(unknown)} of {len(matrix)} genes are not in the annotation {annotation}: "
        f"{_some(unknown)}{hint}; set expression.matrix.drop_unannotated to leave them out"
    )
