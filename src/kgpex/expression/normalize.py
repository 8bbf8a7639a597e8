"""Expression filter and normalisation, exactly as MAGE (and GTEx) did it.

MAGE (mccoy-lab/MAGE, 01_data_preparation/expression_quantification/scripts/normalize_and_filter.R
and invNormTransform.py) ran, on the gene counts and TPM of tximport(countsFromAbundance="no"):

1. TMM factors with edgeR ``calcNormFactors(DGEList(counts), method="TMM")`` on ALL genes;
2. the gene filter: TPM >= 0.1 in >= 20% of samples, and counts >= 6 in >= 20% of samples
   (two separate counts of samples, as in GTEx's eqtl_prepare_expression.py), then chr1-22 + chrX;
3. ``cpm(y)``: counts / (column sum of counts over all genes * TMM factor) * 1e6;
4. per gene, the inverse normal transform ``qnorm(rank / (n + 1))`` with ties averaged
   (pyqtl's ``qtl.norm.inverse_normal_transform``).

``tmm_factors`` is a line-by-line port of edgeR 3.40 ``calcNormFactors.default`` with
``.calcFactorTMM`` and ``.calcFactorQuantile``. pyqtl's ``edger_calcnormfactors`` agrees on ordinary
data but lacks edgeR's degenerate branches (identical libraries, libraries sharing no expressed
gene, upper quartiles all zero), where it returns NaN or another reference column; hence this port.
The tests compare it with R edgeR through rpy2.
"""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
import pandas as pd
from scipy import stats

from kgpex.common.errors import KgpexError


def _r_mean(values: np.ndarray) -> float:
    """R's mean(): a long-double sum, then one refinement pass (src/main/summary.c).

    edgeR picks the reference library by distance of each upper quartile to this mean; matching R's
    arithmetic keeps that choice identical when two libraries are nearly equidistant.
    """
    x = [np.longdouble(v) for v in np.asarray(values, dtype=float)]
    n = np.longdouble(len(x))
    s = np.longdouble(0)
    for v in x:
        s += v
    s /= n
    if np.isfinite(s):
        t = np.longdouble(0)
        for v in x:
            t += v - s
        s += t / n
    return float(s)


def _r_quantile7(column: np.ndarray, p: float) -> float:
    """R's quantile(x, p) with its default type 7, with R's interpolation formula."""
    x = np.sort(column)
    index = (len(x) - 1) * p  # 0-based version of R's 1 + (n - 1) * p
    lo, hi = math.floor(index), math.ceil(index)
    q = x[lo]
    h = index - lo
    if index > lo and x[hi] != q:
        q = (1 - h) * q + h * x[hi]
    return float(q)


def library_sizes(counts: np.ndarray) -> np.ndarray:
    """Column sums of a genes x samples matrix, each summed exactly (math.fsum)."""
    counts = np.asarray(counts, dtype=float)
    return np.array([math.fsum(counts[:, j]) for j in range(counts.shape[1])])


def _tmm_pair(obs, ref, n_obs, n_ref, logratio_trim, sum_trim, do_weighting, a_cutoff) -> float:
    """edgeR:::.calcFactorTMM: the weighted trimmed mean of M values of ``obs`` against ``ref``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        log_r = np.log2((obs / n_obs) / (ref / n_ref))
        abs_e = (np.log2(obs / n_obs) + np.log2(ref / n_ref)) / 2
        v = (n_obs - obs) / n_obs / obs + (n_ref - ref) / n_ref / ref
    fin = np.isfinite(log_r) & np.isfinite(abs_e) & (abs_e > a_cutoff)
    log_r, abs_e, v = log_r[fin], abs_e[fin], v[fin]
    # R: max(abs(logR)) of an empty vector is -Inf, so no shared gene also returns 1.
    if log_r.size == 0 or np.max(np.abs(log_r)) < 1e-6:
        return 1.0
    n = log_r.size
    lo_l = math.floor(n * logratio_trim) + 1
    hi_l = n + 1 - lo_l
    lo_s = math.floor(n * sum_trim) + 1
    hi_s = n + 1 - lo_s
    rank_r = stats.rankdata(log_r)  # "average" ties, as R's rank()
    rank_e = stats.rankdata(abs_e)
    keep = (rank_r >= lo_l) & (rank_r <= hi_l) & (rank_e >= lo_s) & (rank_e <= hi_s)
    with np.errstate(divide="ignore", invalid="ignore"):
        if do_weighting:
            f = np.nansum(log_r[keep] / v[keep]) / np.nansum(1 / v[keep])
        else:
            f = np.mean(log_r[keep]) if keep.any() else np.nan
    if np.isnan(f):  # the two libraries share no usable gene
        f = 0.0
    return float(2.0**f)


def tmm_factors(
    counts,
    lib_size=None,
    ref_column: int | None = None,
    logratio_trim: float = 0.3,
    sum_trim: float = 0.05,
    do_weighting: bool = True,
    a_cutoff: float = -1e10,
) -> np.ndarray:
    """TMM normalisation factors of a genes x samples count matrix: edgeR ``calcNormFactors``.

    Defaults are edgeR's. ``lib_size`` defaults to the column sums. ``ref_column`` (0-based)
    defaults to edgeR's choice: the library whose upper-quartile factor is closest to their mean.
    The factors are scaled to a geometric mean of 1.
    """
    labels = list(counts.columns) if isinstance(counts, pd.DataFrame) else None
    x = np.asarray(counts, dtype=float)
    if x.ndim != 2:
        raise KgpexError("TMM: counts must be a genes x samples matrix")
    if np.isnan(x).any():
        raise KgpexError("TMM: counts contain NA values")
    nsamples = x.shape[1]
    lib = library_sizes(x) if lib_size is None else np.asarray(lib_size, dtype=float)
    if lib.shape != (nsamples,):
        raise KgpexError(f"TMM: {lib.size} library sizes for {nsamples} samples")
    empty = np.flatnonzero(lib <= 0)
    if empty.size:
        name = labels[empty[0]] if labels else f"column {empty[0] + 1}"
        raise KgpexError(f"TMM: library {name} has no counts")
    x = x[(x > 0).any(axis=1)]  # edgeR drops genes with zero counts in every library
    if x.shape[0] == 0 or nsamples == 1:
        return np.ones(nsamples)
    if ref_column is None:
        f75 = np.array([_r_quantile7(x[:, j], 0.75) for j in range(nsamples)]) / lib
        if np.median(f75) < 1e-20:
            ref_column = int(np.argmax(np.sqrt(x).sum(axis=0)))
        else:
            ref_column = int(np.argmin(np.abs(f75 - _r_mean(f75))))
    ref = x[:, ref_column]
    f = np.array(
        [
            _tmm_pair(
                x[:, j], ref, lib[j], lib[ref_column],
                logratio_trim, sum_trim, do_weighting, a_cutoff,
            )
            for j in range(nsamples)
        ]
    )
    return f / math.exp(_r_mean(np.log(f)))


def tmm_cpm(counts: pd.DataFrame, factors, lib_size) -> pd.DataFrame:
    """edgeR ``cpm(DGEList)``: counts / (library size * TMM factor) * 1e6.

    ``lib_size`` is each library's total over ALL genes: MAGE filtered genes after computing CPM.
    """
    effective = np.asarray(lib_size, dtype=float) * np.asarray(factors, dtype=float)
    return counts / effective * 1e6


def inverse_normal_transform(df: pd.DataFrame) -> pd.DataFrame:
    """Per row (gene): qnorm(rank / (n + 1)) over the samples, ties given their average rank."""
    n = df.shape[1]
    ranks = stats.rankdata(df.to_numpy(dtype=float), axis=1, method="average")
    return pd.DataFrame(stats.norm.ppf(ranks / (n + 1)), index=df.index, columns=df.columns)


def min_samples_required(fraction: float, n_samples: int) -> int:
    """Smallest number of samples that is at least ``fraction`` of ``n_samples``.

    The fraction is taken as written in decimal (0.2 is exactly one fifth), so 3 of 15 samples
    are 20%. MAGE's R ``>= 0.2 * ncol`` compares in binary floating point, where 0.2 * 15 is
    3.0000000000000004; it agrees with this everywhere else (MAGE's 731 samples need 147).
    """
    return math.ceil(Decimal(repr(float(fraction))) * n_samples)


def expression_filter(
    tpm: pd.DataFrame | None,
    counts: pd.DataFrame,
    min_tpm: float = 0.1,
    min_counts: float = 6,
    min_sample_fraction: float = 0.2,
) -> pd.DataFrame:
    """MAGE's gene filter, per gene: ``pass_tpm``, ``pass_counts`` and ``keep`` (both).

    ``pass_tpm``: TPM >= min_tpm in at least ``min_samples_required`` samples; ``pass_counts``
    likewise for counts >= min_counts. The two are counted separately, as MAGE and GTEx do.
    Without ``tpm`` (a counts matrix from elsewhere) every gene passes the TPM part and
    ``n_samples_tpm`` is NaN.
    """
    if tpm is not None and (not tpm.index.equals(counts.index) or not tpm.columns.equals(counts.columns)):
        raise KgpexError("expression filter: TPM and count matrices have different genes or samples")
    need = min_samples_required(min_sample_fraction, counts.shape[1])
    if tpm is None:
        n_tpm = np.full(counts.shape[0], np.nan)
    else:
        n_tpm = (tpm.to_numpy() >= min_tpm).sum(axis=1)
    n_counts = (counts.to_numpy() >= min_counts).sum(axis=1)
    out = pd.DataFrame(
        {"n_samples_tpm": n_tpm, "n_samples_counts": n_counts}, index=counts.index
    )
    out["pass_tpm"] = True if tpm is None else out["n_samples_tpm"] >= need
    out["pass_counts"] = out["n_samples_counts"] >= need
    out["keep"] = out["pass_tpm"] & out["pass_counts"]
    return out
