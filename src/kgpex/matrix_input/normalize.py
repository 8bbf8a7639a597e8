"""Normalisation of an imported matrix: counts as the reads path does (TMM, inverse normal), arrays
of log2 intensities to one profile per individual (Stranger 2012's quantile normalisation of each
individual's replicate arrays and median normalisation across individuals, or quantile
normalisation across individuals) then inverse normal; the MAGE-style BEDs."""

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


ARRAY_NORMALIZATIONS = ("stranger2012", "quantile")


def median_normalize(profiles: pd.DataFrame) -> pd.DataFrame:
    """Median normalisation across samples (columns) on the log2 scale: each column is shifted so
    that its median equals the median of all columns' medians."""
    medians = profiles.median(axis=0)
    return profiles - medians + float(medians.median())


def average_arrays(matrix: pd.DataFrame, arrays: pd.Series, within_individual: bool) -> pd.DataFrame:
    """One profile per individual (columns sorted): the mean of its arrays, after quantile
    normalisation of those arrays together when ``within_individual`` (Stranger 2012). An
    individual with one array keeps it as it is (the quantile normalisation of one array is
    itself). ``arrays``: individual by array, every matrix column listed."""
    profiles = {}
    for individual in sorted(set(arrays)):
        columns = [a for a in matrix.columns if arrays[a] == individual]
        replicates = matrix[columns]
        if within_individual and len(columns) > 1:
            replicates = quantile_normalize(replicates)
        profiles[individual] = replicates.mean(axis=1)
    return pd.DataFrame(profiles, index=matrix.index)


@dataclass
class NormalizedArray:
    """``normalize_array``'s matrices (probes x individuals) and bookkeeping."""

    quantile_log2: pd.DataFrame  # filtered probes, normalised log2 intensities (before the INT)
    inverse_normal: pd.DataFrame  # per-probe inverse normal transform of quantile_log2
    gene_filter: pd.DataFrame  # per input probe: annotated on_chromosome variable keep
    summary: dict


def normalize_array(
    matrix: pd.DataFrame,
    genes: pd.DataFrame,
    chromosomes: list[str] | None,
    arrays: pd.Series | None = None,
    method: str = "quantile",
) -> NormalizedArray:
    """Log2 array intensities (probes x arrays) to one normalised profile per individual over all
    probes, then the annotated, variable probes on ``chromosomes``, then the per-probe inverse
    normal transform (columns sorted by individual).

    ``arrays``: the individual of each matrix column (``read.read_arrays_table``); None: each
    column is an individual's only array. ``method``:

    - ``stranger2012`` (Stranger et al. 2012): each individual's replicate arrays quantile-normalised
      together and averaged, then median normalisation across all individuals
      (:func:`median_normalize`). Stranger's extra correction of population structure for GIH,
      LWK, MEX and MKK is not done.
    - ``quantile``: each individual's arrays averaged as they are, then quantile normalisation
      across all individuals.
    """
    if method not in ARRAY_NORMALIZATIONS:
        raise KgpexError(
            f"expression.matrix.array_normalization: '{method}' is not one of {', '.join(ARRAY_NORMALIZATIONS)}"
        )
    if arrays is None:
        arrays = pd.Series(list(matrix.columns), index=matrix.columns)
    unlisted = [c for c in matrix.columns if c not in arrays.index]
    if unlisted:
        raise KgpexError(f"array normalisation: columns without an individual: {', '.join(map(str, unlisted[:5]))}")
    if method == "stranger2012":
        normalized = median_normalize(average_arrays(matrix, arrays, within_individual=True))
    else:
        normalized = quantile_normalize(average_arrays(matrix, arrays, within_individual=False))
    annotated = matrix.index.isin(genes.index)
    chrom = genes["chrom"].reindex(matrix.index)
    on_chrom = chrom.isin(chromosomes).to_numpy() if chromosomes is not None else annotated
    # A constant probe carries nothing to map, though quantile normalisation gives it spread
    # (equal values, different ranks); one of the same rank everywhere comes out constant.
    variable = (matrix.nunique(axis=1).to_numpy() > 1) & (normalized.nunique(axis=1).to_numpy() > 1)
    gene_filter = pd.DataFrame(
        {"annotated": annotated, "on_chromosome": on_chrom & annotated, "variable": variable},
        index=matrix.index,
    )
    gene_filter["keep"] = gene_filter["on_chromosome"] & gene_filter["variable"]
    keep = gene_filter.index[gene_filter["keep"].to_numpy()]
    if len(keep) == 0:
        raise KgpexError("array normalisation: no probe is annotated on expression.chromosomes and variable")
    kept = normalized.loc[keep]
    summary = {
        "method": method,
        "genes_in": int(matrix.shape[0]),
        "arrays": int(matrix.shape[1]),
        "samples": int(normalized.shape[1]),
        "genes_annotated": int(annotated.sum()),
        "genes_on_chromosomes": int(gene_filter["on_chromosome"].sum()),
        "genes_constant": int((~variable).sum()),
        "genes_kept": len(keep),
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
