"""Storey q-values over all genes (R qvalue through rpy2) and the per-gene nominal thresholds.

MAGE and GTEx compute q-values once, over every gene's beta-approximated permutation p-value,
with R's qvalue package. tensorQTL's ``post.calculate_qvalues`` does the same but quietly leaves
out ``qval`` and ``pval_nominal_threshold`` when rpy2 or qvalue cannot be imported; here that is
an error, so no permutation table is ever written without q-values.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import scipy.stats

from kgpex.common.errors import KgpexError
from kgpex.common.rpackages import import_r_packages

log = logging.getLogger(__name__)


def _r_qvalue():
    """(rpy2.robjects, the R qvalue package), or a KgpexError saying what is missing."""
    ro, (qvalue,) = import_r_packages("q-values", {"qvalue": "Debian r-bioc-qvalue"})
    return ro, qvalue


def storey_qvalues(pvalues, lambda_=None) -> tuple[np.ndarray, float]:
    """q-values and pi0 from ``qvalue::qvalue(p)`` (``lambda=lambda_`` when given).

    ``lambda_=0`` gives pi0 = 1, that is Benjamini-Hochberg.
    """
    p = np.asarray(pvalues, dtype=float)
    if p.size == 0:
        raise KgpexError("q-values: no p-values to correct")
    if np.isnan(p).any() or (p < 0).any() or (p > 1).any():
        raise KgpexError("q-values: p-values must lie in [0, 1] and not be NA")
    ro, qvalue = _r_qvalue()
    kwargs = {} if lambda_ is None else {"lambda": ro.FloatVector(np.atleast_1d(lambda_))}
    try:
        fit = qvalue.qvalue(ro.FloatVector(p), **kwargs)
    except Exception as err:
        reason = " ".join(str(err).split()) or type(err).__name__
        raise KgpexError(
            f"R qvalue failed on {p.size} p-values ({reason}); "
            "set eqtl.qvalue_lambda (0 gives Benjamini-Hochberg)"
        ) from err
    return np.array(fit.rx2("qvalues"), dtype=float), float(np.array(fit.rx2("pi0"))[0])


def storey_qvalues_or_bh(pvalues, lambda_=None, what: str = "p-values") -> tuple[np.ndarray, float]:
    """``storey_qvalues``, falling back to lambda = 0 (Benjamini-Hochberg), with a warning, when
    qvalue's default lambda grid cannot estimate pi0 (a few dozen p-values: one chromosome's
    genes, a gene set's interaction tests). A lambda the caller fixed is never replaced."""
    try:
        return storey_qvalues(pvalues, lambda_)
    except KgpexError as err:
        if lambda_ is not None:
            raise
        log.debug("qvalue with its default lambda grid: %s", err)
        log.warning("Storey's pi0 cannot be estimated from %d %s; q-values use lambda=0 "
                    "(Benjamini-Hochberg)", np.size(pvalues), what)
        return storey_qvalues(pvalues, 0)


def nominal_thresholds(cis_df: pd.DataFrame, fdr: float) -> tuple[pd.Series, float]:
    """Per-gene nominal p-value thresholds, as GTEx and tensorQTL define them.

    The genome-wide threshold on pval_beta is halfway between the largest significant and the
    smallest non-significant gene; each gene's nominal threshold is that quantile of its own
    fitted beta distribution. Without any eGene there is no threshold: all NA.
    """
    signif = cis_df.loc[cis_df["qval"] <= fdr, "pval_beta"]
    rest = cis_df.loc[cis_df["qval"] > fdr, "pval_beta"]
    if signif.empty:
        return pd.Series(np.nan, index=cis_df.index), float("nan")
    threshold = (signif.max() + rest.min()) / 2 if not rest.empty else signif.max()
    nominal = scipy.stats.beta.ppf(threshold, cis_df["beta_shape1"], cis_df["beta_shape2"])
    return pd.Series(nominal, index=cis_df.index), float(threshold)


def annotate_qvalues(cis_df: pd.DataFrame, fdr: float, lambda_=None,
                     fallback_bh: bool = False) -> pd.DataFrame:
    """Add ``qval`` and ``pval_nominal_threshold`` to a permutation table covering all genes.

    ``fallback_bh``: where qvalue's default lambda grid cannot estimate pi0 (a few dozen genes,
    as the sQTL arm of a small cohort has), use lambda = 0 (Benjamini-Hochberg) with a warning
    instead of stopping (``storey_qvalues_or_bh``).

    Genes without a beta-approximated p-value (no testable variant) keep NA in both columns and
    are named in the log.
    """
    for column in ("phenotype_id", "pval_beta", "beta_shape1", "beta_shape2"):
        if column not in cis_df.columns:
            raise KgpexError(f"permutation table: column '{column}' missing")
    out = cis_df.copy()
    out["qval"] = np.nan
    out["pval_nominal_threshold"] = np.nan
    testable = out["pval_beta"].notna()
    if not testable.all():
        missing = out.loc[~testable, "phenotype_id"].tolist()
        log.warning("%d genes have no pval_beta and get no q-value: %s", len(missing),
                    ", ".join(map(str, missing[:20])) + (" ..." if len(missing) > 20 else ""))
    if not testable.any():
        raise KgpexError("permutation table: no gene has a pval_beta")
    if fallback_bh:
        qval, pi0 = storey_qvalues_or_bh(out.loc[testable, "pval_beta"], lambda_, "genes")
    else:
        qval, pi0 = storey_qvalues(out.loc[testable, "pval_beta"], lambda_)
    out.loc[testable, "qval"] = qval
    thresholds, pthreshold = nominal_thresholds(out.loc[testable], fdr)
    out.loc[testable, "pval_nominal_threshold"] = thresholds
    n_egenes = int((out["qval"] <= fdr).sum())
    log.info("q-values over %d genes: pi0 = %.4f, %d eGenes at FDR %g, pval_beta threshold %.6g",
             int(testable.sum()), pi0, n_egenes, fdr, pthreshold)
    if testable.sum() > 1 and "pval_perm" in out.columns:
        r = np.corrcoef(out.loc[testable, "pval_perm"], out.loc[testable, "pval_beta"])[0, 1]
        log.info("correlation of beta-approximated and empirical p-values: %.4f", r)
    return out
