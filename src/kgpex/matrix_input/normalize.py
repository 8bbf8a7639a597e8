"""Normalisation of an imported matrix: counts as the reads path does (TMM, inverse normal), arrays
by quantile normalisation of log2 intensities then inverse normal; the MAGE-style BEDs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from kgpex.common.errors import KgpexError
from kgpex.common.io import write_table
from kgpex.expression import normalize
from kgpex.expression.matrices import (
    NormalizedExpression,
    normalize_expression,
    write_filtered_genes,
    write_tss_bed,
)


def quantile_normalize(df: pd.DataFrame) -> pd.DataFrame:
    """Quantile normalisation across columns (samples): every column gets the same distribution,
    the mean of the sorted columns. A value of rank k gets that mean's k-th value; tied values get
    the mean of the reference values over the ranks they span, so the result does not depend on
    the order of rows. (preprocessCore's normalize.quantiles is thought to interpolate the
    reference at the average rank instead, unverified: the same for two tied values, not for three
    or more on a curved reference.)
    """
    x = df.to_numpy(dtype=float)
    if np.isnan(x).any():
        raise KgpexError("quantile normalisation: the matrix has missing values")
    n = x.shape[0]
    reference = np.sort(x, axis=0).mean(axis=1)
    # Cumulative sums turn "mean of reference[lo:hi]" into one subtraction per value.
    cumulative = np.concatenate([[0.0], np.cumsum(reference)])
    out = np.empty_like(x)
    for j in range(x.shape[1]):
        lo = stats.rankdata(x[:, j], method="min").astype(np.int64) - 1
        hi = stats.rankdata(x[:, j], method="max").astype(np.int64)
        out[:, j] = (cumulative[hi] - cumulative[lo]) / (hi - lo)
    assert out.shape == (n, x.shape[1])
    return pd.DataFrame(out, index=df.index, columns=df.columns)


@dataclass
class NormalizedArray:
    """``normalize_array``'s matrices (probes x individuals) and bookkeeping."""

    quantile_log2: pd.DataFrame  # filtered probes, quantile-normalised log2 intensities
    inverse_normal: pd.DataFrame  # per-probe inverse normal transform of quantile_log2
    gene_filter: pd.DataFrame  # per input probe: annotated on_chromosome variable keep
    summary: dict


def normalize_array(matrix: pd.DataFrame, genes: pd.DataFrame, chromosomes: list[str] | None) -> NormalizedArray:
    """Quantile normalisation of all probes, then the annotated, variable probes on
    ``chromosomes``, then the per-probe inverse normal transform (columns sorted)."""
    matrix = matrix[sorted(matrix.columns)]
    qn = quantile_normalize(matrix)
    annotated = matrix.index.isin(genes.index)
    chrom = genes["chrom"].reindex(matrix.index)
    on_chrom = chrom.isin(chromosomes).to_numpy() if chromosomes is not None else annotated
    # A constant probe carries nothing to map, though quantile normalisation gives it spread
    # (equal values, different ranks); one of the same rank everywhere comes out constant.
    variable = (matrix.nunique(axis=1).to_numpy() > 1) & (qn.nunique(axis=1).to_numpy() > 1)
    gene_filter = pd.DataFrame(
        {"annotated": annotated, "on_chromosome": on_chrom & annotated, "variable": variable},
        index=matrix.index,
    )
    gene_filter["keep"] = gene_filter["on_chromosome"] & gene_filter["variable"]
    keep = gene_filter.index[gene_filter["keep"].to_numpy()]
    if len(keep) == 0:
        raise KgpexError("array normalisation: no probe is annotated on expression.chromosomes and variable")
    kept = qn.loc[keep]
    summary = {
        "genes_in": int(matrix.shape[0]),
        "samples": int(matrix.shape[1]),
        "genes_annotated": int(annotated.sum()),
        "genes_on_chromosomes": int(gene_filter["on_chromosome"].sum()),
        "genes_constant": int((~variable).sum()),
        "genes_kept": int(len(keep)),
    }
    return NormalizedArray(
        quantile_log2=kept,
        inverse_normal=normalize.inverse_normal_transform(kept),
        gene_filter=gene_filter,
        summary=summary,
    )


def normalize_counts(
    counts: pd.DataFrame,
    tpm: pd.DataFrame | None,
    genes: pd.DataFrame,
    min_tpm: float = 0.1,
    min_counts: float = 6,
    min_sample_fraction: float = 0.2,
    chromosomes: list[str] | None = None,
) -> NormalizedExpression:
    """MAGE's normalisation of a counts matrix whose columns are individuals (one library each).

    Without ``tpm`` the filter counts samples on counts only. The factors table's
    ``library`` holds the matrix column (the individual): there are no runs."""
    choice = pd.DataFrame({"individual": sorted(counts.columns), "library": sorted(counts.columns)})
    return normalize_expression(
        counts, tpm, choice, genes, min_tpm=min_tpm, min_counts=min_counts,
        min_sample_fraction=min_sample_fraction, chromosomes=chromosomes,
    )


def write_array_outputs(result: NormalizedArray, genes: pd.DataFrame, out) -> None:
    """The inverse-normal and quantile-normalised TSS BEDs, the filtered-genes table, the filter."""
    write_tss_bed(result.inverse_normal, genes, out.inverse_normal)
    write_tss_bed(result.quantile_log2, genes, out.quantile_log2)
    write_filtered_genes(result.inverse_normal.index, genes, out.filtered_genes)
    write_table(result.gene_filter, out.gene_filter, index=True, index_label="gene_id")
