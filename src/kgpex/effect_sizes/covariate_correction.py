"""MAGE's covariate correction before aFC-n (run_aFCn/scripts/correct_covariates.ci95_wGT.py),
per gene:

1. the genotype (ALT allele count) of each of the gene's lead variants enters as two indicator
   columns, homozygous-ref and homozygous-alt (heterozygous is the reference level; a column is
   added only when that genotype class occurs);
2. OLS of expression on an intercept, every covariate (a text covariate becomes n-1 dummies) and
   the genotype indicators;
3. covariates whose 95% CI (t distribution, residual degrees of freedom, as statsmodels'
   ``conf_int``) contains 0 are dropped; the model is refitted once with the kept covariates and
   the genotype indicators;
4. corrected expression = expression - sum(coefficient x value) over the kept covariates. The
   intercept and the genotype effects stay in; with no kept covariate the expression is unchanged.

Least squares go through the pseudo-inverse, as statsmodels' default: a rank-deficient design
(for example hom-ref and hom-alt indicators with no heterozygote, which together equal the
intercept) gets the minimum-norm solution and residual df = n - rank.

Two choices MAGE's script leaves open:
- Dummies of a text covariate: MAGE drops the first level of a Python set (arbitrary order);
  here the levels are sorted and the first is the reference (R's treatment contrasts).
- Missing genotypes: MAGE's script crashes on them (it uses ``np`` without importing numpy,
  bug 8 of MAGE_METHODS_MORE.md). Here an individual with a missing genotype at any of the gene's
  leads is left out of the two regressions (its genotype class is unknown; counting it as
  heterozygous, what MAGE's code would do if it ran, biases the genotype effects), and its
  expression is still corrected with the fitted coefficients, since its covariates are known.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from kgpex.common.errors import KgpexError

INTERCEPT = "Intercept"


def ols_confint(design: pd.DataFrame, y, level: float = 0.95) -> pd.DataFrame:
    """OLS of ``y`` on the columns of ``design`` (include an intercept column yourself).

    Returns one row per column: ``coef``, ``lower`` and ``upper`` (two-sided ``level`` CI from
    the t distribution with n - rank residual degrees of freedom, as R's confint and statsmodels'
    conf_int). A design that leaves no residual degree of freedom is a KgpexError.
    """
    X = design.to_numpy(dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    n = X.shape[0]
    rank = int(np.linalg.matrix_rank(X)) if X.size else 0
    df_resid = n - rank
    if df_resid < 1:
        raise KgpexError(
            f"covariate correction: {n} samples leave no residual degree of freedom for "
            f"{design.shape[1]} terms ({', '.join(map(str, design.columns[:5]))}...)"
        )
    pinv = np.linalg.pinv(X)
    coef = pinv @ y
    resid = y - X @ coef
    scale = float(resid @ resid) / df_resid
    se = np.sqrt(np.maximum(np.diag(pinv @ pinv.T) * scale, 0.0))
    half = stats.t.ppf(0.5 + level / 2, df_resid) * se
    return pd.DataFrame(
        {"coef": coef, "lower": coef - half, "upper": coef + half}, index=design.columns
    )


def covariate_design(covariates: pd.DataFrame) -> pd.DataFrame:
    """Covariates as numeric columns: numbers as they are, a text (or categorical) covariate as
    one 0/1 column per level but the first in sorted order, named ``<covariate>_<level>``."""
    dup = covariates.columns[covariates.columns.duplicated()]
    if len(dup):
        raise KgpexError(f"covariate '{dup[0]}' appears twice")
    columns = {}
    for name in covariates.columns:
        col = covariates[name]
        if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
            values = col.to_numpy(dtype=np.float64)
            if not np.isfinite(values).all():
                raise KgpexError(f"covariate '{name}' has missing or infinite values")
            columns[str(name)] = values
            continue
        if col.isna().any():
            raise KgpexError(f"covariate '{name}' has missing values")
        text = col.astype(str)
        for level in sorted(text.unique())[1:]:
            columns[f"{name}_{level}"] = (text == level).to_numpy(dtype=np.float64)
    return pd.DataFrame(columns, index=covariates.index)


def genotype_indicators(genotypes: pd.DataFrame) -> pd.DataFrame:
    """``<variant>_hom_ref`` and ``<variant>_hom_alt`` 0/1 columns of ALT allele counts (het =
    reference level); a column only where some individual is in that class. Rows with a
    missing genotype get NaN in both columns."""
    columns = {}
    for name in genotypes.columns:
        raw = genotypes[name]
        g = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
        bad = (raw.notna().to_numpy() & np.isnan(g)) | (~np.isnan(g) & ~np.isin(g, (0, 1, 2)))
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise KgpexError(
                f"genotype of '{name}' for sample '{genotypes.index[row]}' is "
                f"'{raw.iloc[row]}', not an ALT allele count 0, 1 or 2"
            )
        missing = np.isnan(g)
        for suffix, value in (("hom_ref", 0.0), ("hom_alt", 2.0)):
            indicator = (g == value).astype(np.float64)
            if indicator.any():
                indicator[missing] = np.nan
                columns[f"{name}_{suffix}"] = indicator
    return pd.DataFrame(columns, index=genotypes.index)


def correct_covariates(y, covariates: pd.DataFrame, genotypes: pd.DataFrame | None,
                       level: float = 0.95):
    """MAGE's correction of one gene's expression ``y`` (n samples) for ``covariates`` (samples x
    covariates), with the gene's lead-variant ``genotypes`` (samples x variants, ALT counts
    0/1/2, NaN where missing) in the model. Rows are matched by position; pandas inputs must
    share one index.

    Returns ``(corrected, kept)``: corrected expression (a Series with ``y``'s index when ``y``
    is a Series, else an array) and the names of the covariate columns regressed out (text
    covariates as ``<name>_<level>``).
    """
    is_series = isinstance(y, pd.Series)
    values = np.asarray(y, dtype=np.float64)
    if values.ndim != 1:
        raise KgpexError(f"covariate correction: expression must be one value per sample, "
                         f"got shape {values.shape}")
    n = len(values)
    if genotypes is None:
        genotypes = pd.DataFrame(index=covariates.index)
    for what, frame in (("covariates", covariates), ("genotypes", genotypes)):
        if len(frame) != n:
            raise KgpexError(f"covariate correction: {what} have {len(frame)} rows for {n} "
                             f"expression values")
        if is_series and not frame.index.equals(y.index):
            raise KgpexError(f"covariate correction: {what} rows are not the expression's "
                             f"samples in the same order")
    if not np.isfinite(values).all():
        row = int(np.flatnonzero(~np.isfinite(values))[0])
        raise KgpexError(f"covariate correction: expression of sample {row + 1} is missing")

    cov = covariate_design(covariates).reset_index(drop=True)
    geno = genotype_indicators(genotypes).reset_index(drop=True)
    clash = [c for c in (INTERCEPT, *geno.columns) if c in cov.columns]
    if clash:
        raise KgpexError(f"covariate correction: covariate name '{clash[0]}' is also the name "
                         f"of a model term (intercept or genotype indicator)")
    complete = ~geno.isna().any(axis=1).to_numpy()
    # A class may occur only among the individuals with a missing genotype elsewhere: a zero
    # column in the fitted rows would only lose a degree of freedom.
    geno = geno.loc[:, geno[complete].any(axis=0)]
    intercept = pd.DataFrame({INTERCEPT: np.ones(n)})

    def fit(cov_columns: list[str]) -> pd.DataFrame:
        design = pd.concat([intercept, cov[cov_columns], geno], axis=1)
        return ols_confint(design[complete], values[complete], level)

    first = fit(list(cov.columns))
    spans_zero = (first["lower"] <= 0) & (first["upper"] >= 0)
    kept = [c for c in cov.columns if not spans_zero[c]]
    corrected = values.copy()
    if kept:
        coef = fit(kept)["coef"]
        corrected = values - cov[kept].to_numpy() @ coef[kept].to_numpy()
    if is_series:
        return pd.Series(corrected, index=y.index, name=y.name), kept
    return corrected, kept
