"""SuSiE fine-mapping per eGene: R susieR through rpy2 (individual-level ``susie``, the default,
or ``susie_rss`` on the nominal pass's z-scores and in-sample LD, as MAGE's run_susie.R) or
tensorQTL's SuSiE port."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from kgpex.common.errors import KgpexError
from kgpex.common.rpackages import import_r_packages
from kgpex.eqtl.inputs import CisInputs, _genes_with_cis_variants, _subset
from kgpex.eqtl.tables import CREDIBLE_SET_COLUMNS, PIP_COLUMNS, empty_table

log = logging.getLogger(__name__)


FINEMAPPING_METHODS = ("susier", "susier_rss", "tensorqtl")


def _r_susier():
    """rpy2's robjects and the R package susieR, or a KgpexError saying what is missing."""
    ro, (susier,) = import_r_packages(
        "fine-mapping", {"susieR": "Debian r-cran-susier, conda r-susier"}
    )
    return ro, susier


def _r_matrix(ro, M: np.ndarray):
    n, p = M.shape
    return ro.r["matrix"](ro.FloatVector(np.asarray(M, dtype=float).ravel(order="F")),
                          nrow=n, ncol=p)


def _susie_fit_susier(X: np.ndarray, y: np.ndarray, L: int, coverage: float,
                      min_abs_corr: float) -> dict:
    """``susieR::susie`` with its defaults (prior variance by "optim"); MAGE's run_susie.R has
    this call commented out and fits ``susie_rss`` (:func:`_susie_fit_susier_rss`)."""
    ro, susier = _r_susier()
    fit = susier.susie(_r_matrix(ro, X), ro.FloatVector(np.asarray(y, dtype=float)), L=L,
                       coverage=coverage, min_abs_corr=min_abs_corr)
    return _susier_result(ro, fit)


# MAGE's run_susie.R call; suppressMessages drops susieR's per-call hint about in-sample LD
# (R here is in-sample: the correlation of the same residualised genotypes).
_SUSIE_RSS_R = """
function(z, R, n, var_y, L, coverage, min_abs_corr)
  suppressMessages(susieR::susie_rss(z = z, n = n, R = R, var_y = var_y, L = L,
                                     coverage = coverage, min_abs_corr = min_abs_corr,
                                     estimate_residual_variance = TRUE))
"""


def _susie_fit_susier_rss(z: np.ndarray, R: np.ndarray, n: int, var_y: float, L: int,
                          coverage: float, min_abs_corr: float) -> dict:
    """``susieR::susie_rss(z, n, R, var_y, L, coverage, min_abs_corr,
    estimate_residual_variance=TRUE)``, MAGE's call (run_susie.R). susieR ignores ``var_y``
    without ``shat``; it is passed as MAGE passed it."""
    ro, _ = _r_susier()
    fit = ro.r(_SUSIE_RSS_R)(ro.FloatVector(np.asarray(z, dtype=float)), _r_matrix(ro, R),
                             int(n), float(var_y), L, coverage, min_abs_corr)
    return _susier_result(ro, fit)


def _susier_result(ro, fit) -> dict:
    """PIPs, convergence and credible sets (name, 0-based members, coverage, purities)."""
    sets = fit.rx2("sets")
    cs = sets.rx2("cs")
    out = {"pip": np.array(fit.rx2("pip"), dtype=float),
           "converged": bool(fit.rx2("converged")[0]), "sets": []}
    if cs is ro.NULL or len(cs) == 0:
        return out
    achieved = np.array(sets.rx2("coverage"), dtype=float)
    purity = sets.rx2("purity")
    columns = [np.array(purity.rx2(c), dtype=float)
               for c in ("min.abs.corr", "mean.abs.corr", "median.abs.corr")]
    for k, name in enumerate(cs.names):
        out["sets"].append((str(name), np.array(cs[k], dtype=int) - 1, achieved[k],
                            columns[0][k], columns[1][k], columns[2][k]))
    return out


def _susie_fit_tensorqtl(X_t, y_t, L: int, coverage: float, min_abs_corr: float) -> dict:
    """tensorQTL's port (``susie.susie``, as ``susie.map`` calls it): prior variance by EM only.

    Achieved coverage is the summed posterior ``alpha`` of the set's effect.
    """
    from tensorqtl import susie

    fit = susie.susie(X_t, y_t, L=L, coverage=coverage, min_abs_corr=min_abs_corr,
                      max_iter=200)
    out = {"pip": np.asarray(fit["pip"], dtype=float), "converged": bool(fit["converged"]),
           "sets": []}
    cs = fit["sets"]["cs"]
    if cs is None:
        return out
    alpha = fit["alpha"].cpu().numpy()
    purity = fit["sets"]["purity"]
    for name in cs:
        idx = np.asarray(cs[name])
        out["sets"].append((name, idx, float(alpha[int(name[1:]) - 1, idx].sum()),
                            *(float(purity.loc[name, c]) for c in
                              ("min_abs_corr", "mean_abs_corr", "median_abs_corr"))))
    return out


def read_nominal_z(path, gene_ids) -> pd.DataFrame:
    """``phenotype_id variant_id z`` (z = slope / slope_se) of a nominal-pass parquet, for
    ``gene_ids`` only (a MAGE-scale chromosome holds tens of millions of pairs)."""
    genes = sorted(set(gene_ids))
    columns = ["phenotype_id", "variant_id", "slope", "slope_se"]
    if not genes:
        return pd.DataFrame(columns=["phenotype_id", "variant_id", "z"])
    pairs = pd.read_parquet(path, columns=columns, filters=[("phenotype_id", "in", genes)])
    return pd.DataFrame({"phenotype_id": pairs["phenotype_id"].astype(str),
                         "variant_id": pairs["variant_id"].astype(str),
                         "z": pairs["slope"].to_numpy(float) / pairs["slope_se"].to_numpy(float)})


def _residualise(M: np.ndarray, covariates: np.ndarray) -> np.ndarray:
    """Columns of ``M`` (samples x k) less their least-squares fit on an intercept and the
    covariates (MAGE's remove.covariate.effects, from the susieR documentation)."""
    Z = np.column_stack([np.ones(len(M)), covariates])
    coef, *_ = np.linalg.lstsq(Z, M, rcond=None)
    return M - Z @ coef


def finemap_susie(inputs: CisInputs, gene_ids, window: int, maf: float, L: int,
                  coverage: float, min_abs_corr: float, seed: int,
                  method: str = "susier",
                  nominal: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """SuSiE fine-mapping of each gene: variant PIPs and credible sets.

    Genotypes and phenotype are residualised on the covariates and filtered (monomorphic, MAF)
    as in ``tensorqtl.susie.map``. ``method`` picks the SuSiE implementation:
    - ``susier``: R susieR ``susie`` through rpy2 with its defaults, on individual-level data.
      Its prior variance is optimised directly ("optim"), which recovers two similar-sized
      effects;
    - ``susier_rss``: R susieR ``susie_rss`` as MAGE's run_susie.R ran it: z = slope/slope_se of
      the nominal pass (``nominal``: :func:`read_nominal_z`) for the gene's cis variants,
      R = correlation of the covariate-residualised dosages of the samples mapped (in-sample
      LD), n = number of samples, var_y = variance of the residualised phenotype,
      ``estimate_residual_variance=TRUE``. Variants without a nominal z-score are left out
      (logged);
    - ``tensorqtl``: tensorQTL's port (GPU-capable). It estimates prior variances by EM only:
      once an effect's variance reaches zero it stays there, and two similar-sized causal
      variants can end as one impure set, that is no credible set at all.
    The loop is kept here rather than calling ``susie.map`` because ``map`` discards the PIPs of
    genes without a credible set. Credible sets keep SuSiE's effect names (L1..L{L}); sets of
    fits that did not converge are dropped (as ``susie.map`` does) and the genes logged.
    Returns (pips: PIP_COLUMNS, credible_sets: CREDIBLE_SET_COLUMNS).
    """
    import torch
    from tensorqtl import core, genotypeio

    if method not in FINEMAPPING_METHODS:
        raise KgpexError(f"eqtl.finemapping.method: '{method}' is not one of "
                         f"{', '.join(FINEMAPPING_METHODS)}")
    if method == "susier_rss":
        if nominal is None:
            raise KgpexError("eqtl.finemapping.method susier_rss needs the nominal pass's "
                             "z-scores")
        z_by_gene = {g: d.set_index("variant_id")["z"]
                     for g, d in nominal.groupby("phenotype_id", sort=False)}
    genes = _genes_with_cis_variants(inputs, window, gene_ids=pd.Index(gene_ids))
    if len(genes) == 0:
        log.info("%s: no gene to fine-map", inputs.chrom)
        return empty_table(PIP_COLUMNS), empty_table(CREDIBLE_SET_COLUMNS)
    log.info("%s: fine-mapping %d genes with %s", inputs.chrom, len(genes), method)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    # Purity is computed on a random subsample of variants when a set exceeds 100 of them.
    np.random.seed(seed)
    torch.manual_seed(seed)
    if method in ("susier", "susier_rss"):
        ro, _ = _r_susier()
        ro.r["set.seed"](seed)
    phenotype_df, pos_df = _subset(inputs, genes)
    residualizer = core.Residualizer(
        torch.tensor(inputs.covariates_df.to_numpy(), dtype=torch.float32).to(device))
    sample_ix = [inputs.genotype_df.columns.get_loc(s) for s in phenotype_df.columns]
    sample_ix_t = torch.tensor(sample_ix, dtype=torch.long).to(device)
    igc = genotypeio.InputGeneratorCis(inputs.genotype_df, inputs.variant_df, phenotype_df,
                                       pos_df, window=window)
    pips, sets, not_converged = [], [], []
    for phenotype, genotypes, genotype_range, phenotype_id in igc.generate_data(verbose=False):
        g_t = torch.tensor(genotypes, dtype=torch.float).to(device)[:, sample_ix_t]
        core.impute_mean(g_t)
        keep_t = ~(g_t == g_t[:, [0]]).all(1)
        if maf > 0:
            keep_t &= core.calculate_maf(g_t) >= maf
        keep = keep_t.cpu().numpy().astype(bool)
        if method == "susier_rss":
            ids = inputs.variant_df.index[genotype_range]
            z_gene = z_by_gene.get(phenotype_id, pd.Series(dtype=float))
            z_all = z_gene.reindex(ids).to_numpy(float)
            without_z = keep & ~np.isfinite(z_all)
            if without_z.any():
                log.warning("%s: %d cis variants have no nominal z-score; left out of "
                            "susie_rss", phenotype_id, int(without_z.sum()))
            keep &= np.isfinite(z_all)
            keep_t = torch.tensor(keep, device=device)
        if not keep.any():
            log.warning("%s: no variant left after filters; not fine-mapped", phenotype_id)
            continue
        g_t = g_t[keep_t]
        variant_ids = inputs.variant_df.index[genotype_range[keep]]
        y_t = torch.tensor(phenotype, dtype=torch.float).to(device)
        g_res_t = residualizer.transform(g_t)  # variants x samples
        y_res_t = residualizer.transform(y_t.reshape(1, -1))
        if method == "susier":
            fit = _susie_fit_susier(g_res_t.T.cpu().numpy(), y_res_t.cpu().numpy().ravel(), L,
                                    coverage, min_abs_corr)
        elif method == "susier_rss":
            # In double precision, as R's cor(): residualised dosages -> in-sample LD.
            X = _residualise(g_t.double().cpu().numpy().T, inputs.covariates_df.to_numpy(float))
            y = _residualise(np.asarray(phenotype, dtype=float)[:, None],
                             inputs.covariates_df.to_numpy(float))[:, 0]
            R = np.atleast_2d(np.corrcoef(X, rowvar=False))
            if not np.isfinite(R).all():  # a variant the covariates fit exactly
                log.warning("%s: a cis variant has no variance left after the covariates; "
                            "its LD is set to 0", phenotype_id)
                R = np.nan_to_num(R, nan=0.0)
                np.fill_diagonal(R, 1.0)
            fit = _susie_fit_susier_rss(z_all[keep], R, X.shape[0], float(np.var(y, ddof=1)),
                                        L, coverage, min_abs_corr)
        else:
            fit = _susie_fit_tensorqtl(g_res_t.T, y_res_t.T, L, coverage, min_abs_corr)
        af = (g_t.sum(1) / (2 * g_t.shape[1])).cpu().numpy()
        membership = [[] for _ in range(len(variant_ids))]
        if fit["sets"] and not fit["converged"]:
            not_converged.append(phenotype_id)
        elif fit["sets"]:
            for name, idx, achieved, min_corr, mean_corr, median_corr in sorted(
                    fit["sets"], key=lambda s: int(s[0][1:])):
                for i in idx:
                    membership[i].append(name)
                sets.append({
                    "phenotype_id": phenotype_id, "cs_id": name, "num_variants": len(idx),
                    "coverage": float(achieved), "min_abs_corr": float(min_corr),
                    "mean_abs_corr": float(mean_corr), "median_abs_corr": float(median_corr),
                })
        pips.append(pd.DataFrame({
            "phenotype_id": phenotype_id, "variant_id": np.asarray(variant_ids),
            "pip": fit["pip"], "af": af.astype(float),
            "cs_id": [",".join(m) if m else None for m in membership],
            "converged": fit["converged"],
        }))
    if not_converged:
        log.warning("%s: SuSiE did not converge for %d genes; their credible sets are dropped: "
                    "%s", inputs.chrom, len(not_converged), ", ".join(not_converged))
    pip_df = pd.concat(pips, ignore_index=True) if pips else empty_table(PIP_COLUMNS)
    cs_df = pd.DataFrame(sets, columns=CREDIBLE_SET_COLUMNS) if sets else empty_table(
        CREDIBLE_SET_COLUMNS)
    log.info("%s: fine-mapped %d genes, %d credible sets", inputs.chrom,
             pip_df["phenotype_id"].nunique(), len(cs_df))
    return pip_df[PIP_COLUMNS], cs_df
