"""Genotype-by-continental-group interaction test of the lead eQTL variants (MAGE's
EQ/run_interaction_test: QTL_interaction.py and QTL_interaction.multivariant.py).

For each lead variant of the fine-mapping lead table (one per credible set), with g its ALT
allele count (the sum of the GT digits, or the pgen's dosage):
- single-variant model: ``y ~ g + group + covariates`` against ``y ~ g*group + covariates``;
- multi-variant model: ``y ~ group + <all the gene's lead variants> + covariates`` against the
  same plus ``g:group``; the other leads enter whatever their MAF.
The p-value is the nested OLS F-test of the G-1 ``g:group`` terms together (statsmodels'
``anova_lm(m1, m2)`` ``Pr(>F)`` in MAGE; here numpy and scipy.stats.f, checked against R's
``anova(lm, lm)`` in tests/test_interaction.py). y is the inverse-normal TMM phenotype; groups
are treatment-coded (the F-test does not depend on the reference level).

A variant is tested only if its minor allele frequency, computed in each group separately, is
>= ``min_maf`` in at least two groups (the second-highest group MAF); otherwise its p-value is
NA, as in MAGE.

Differences from MAGE's scripts, all of them where MAGE's would crash or silently differ:
- Missing genotypes: a model uses the samples with a genotype for every variant in it (lm's
  complete cases), and the group MAFs are computed on those samples. MAGE divides by all samples
  of a group, missing ones included (NYGC's phased calls have none, so this rarely matters).
- Rank deficiency (a group of one sample, a group where g is constant, a constant covariate):
  a column whose norm, after removing the earlier columns, is below 1e-7 of its own is aliased
  and dropped, as R's lm drops it (its limited-pivoting QR, tol 1e-7). The base model's columns
  come first in the full model, so both models drop the same base columns; each model's residual
  degrees of freedom are n - rank. The fit and the F-test depend only on the spanned space, so
  they do not depend on the order of the columns within the base. With aliased g:group terms the
  test has fewer than G-1 numerator degrees of freedom; with none left (for example the only
  other polymorphic group has one sample), p is NA. MAGE's statsmodels (pinv) gives the same.
- The phenotype and covariate readers of the mapping stage (kgpex.eqtl.inputs) hold values as
  float32; the regression itself runs in float64.

Multiple testing: MAGE applied none. ``run_interaction_tests`` adds a ``qval`` column, Storey's
q-values over the tested variants of each table (R qvalue, kgpex.eqtl.qvalues). With few tests
qvalue's smoother often cannot estimate pi0 (it fails outright on fewer than about 50 p-values,
and sometimes above); then lambda = 0 is used, i.e. pi0 = 1: Benjamini-Hochberg (logged).

tensorQTL's interaction mode (tensorqtl 1.0.10, ``cis.map_nominal(..., interaction_df=...)``,
core.calculate_interaction_nominal) fits ``y ~ g + i + g:i`` and reports a separate t-test for
each ``g:i_k`` column, in float32, over every variant of the cis window; it has no joint F-test of
the G-1 group contrasts, no way to condition on the gene's other lead variants, and its
interaction MAF filter (top versus bottom half of one continuous interaction) is switched off for
more than one interaction column. It therefore cannot give MAGE's test, which is why this module
fits the two OLS models itself.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.stats

from kgpex.common.errors import KgpexError
from kgpex.common.io import read_text_tsv, write_table
from kgpex.effect_sizes import lead_variants

log = logging.getLogger(__name__)

OUTPUT_COLUMNS = ["gene_id", "variant_id", "variant_chr", "variant_pos", "interaction_pval"]
LEAD_COLUMNS = lead_variants.REQUIRED_FIELDS
# R's lm.fit default: a column whose norm, after removing earlier columns, falls below this
# fraction of its own norm is aliased.
ALIAS_TOL = 1e-7


# ---------------------------------------------------------------------------------------------
# Nested F-test


def _extend_basis(Q: np.ndarray, X: np.ndarray, tol: float = ALIAS_TOL) -> np.ndarray:
    """Orthonormal basis ``Q`` extended by the columns of ``X`` taken in order, skipping those
    (nearly) in the span of the basis so far: lm's column-order aliasing.

    Gram-Schmidt with one re-orthogonalisation keeps Q orthonormal to machine precision."""
    cols = [Q] if Q.shape[1] else []
    basis = Q
    for x in X.T:
        norm = np.linalg.norm(x)
        if norm == 0 or not np.isfinite(norm):
            continue
        r = x - basis @ (basis.T @ x)
        r -= basis @ (basis.T @ r)
        rnorm = np.linalg.norm(r)
        if rnorm < tol * norm:
            continue
        cols.append((r / rnorm)[:, None])
        basis = np.hstack(cols) if len(cols) > 1 else cols[0]
    return basis


def _f_pvalue(y: np.ndarray, Q0: np.ndarray, Q1: np.ndarray) -> float:
    """Pr(>F) of the nested models spanned by ``Q0`` and ``Q1`` (Q0's columns first in Q1)."""
    n = y.shape[0]
    k0, k1 = Q0.shape[1], Q1.shape[1]
    df_num, df_res = k1 - k0, n - k1
    if df_num <= 0 or df_res <= 0:
        return float("nan")
    r0 = y - Q0 @ (Q0.T @ y)
    extra = Q1[:, k0:]
    e = extra.T @ r0
    r1 = r0 - extra @ e
    rss1 = float(r1 @ r1)
    if rss1 <= 0:
        return float("nan")
    # The extra sum of squares straight from the new directions: no cancellation of rss0 - rss1.
    fstat = (float(e @ e) / df_num) / (rss1 / df_res)
    return float(scipy.stats.f.sf(fstat, df_num, df_res))


def nested_f_test(y, X_base, X_full) -> float:
    """Pr(>F) of the OLS F-test of ``X_full`` against the nested ``X_base`` (R's
    ``anova(lm(y ~ X_base - 1), lm(y ~ X_full - 1))``; include an intercept column yourself).

    Aliased columns are dropped as lm drops them (see the module docstring); NA when the full
    model adds no independent column or leaves no residual degree of freedom. ``X_base`` must
    lie in the column space of ``X_full`` (ValueError otherwise).
    """
    y = np.asarray(y, dtype=np.float64)
    X_base = np.asarray(X_base, dtype=np.float64)
    X_full = np.asarray(X_full, dtype=np.float64)
    if X_base.ndim == 1:
        X_base = X_base[:, None]
    if y.ndim != 1 or X_base.ndim != 2 or X_full.ndim != 2:
        raise ValueError("nested_f_test: y must be a vector and X_base, X_full matrices")
    if not (X_base.shape[0] == X_full.shape[0] == y.shape[0]):
        raise ValueError("nested_f_test: y, X_base and X_full have different numbers of rows")
    if not (np.isfinite(y).all() and np.isfinite(X_base).all() and np.isfinite(X_full).all()):
        raise ValueError("nested_f_test: y, X_base and X_full must be finite")
    empty = np.empty((y.shape[0], 0))
    Q_full = _extend_basis(empty, X_full)
    Q0 = _extend_basis(empty, X_base)
    outside = Q0 - Q_full @ (Q_full.T @ Q0)
    if Q0.shape[1] and np.linalg.norm(outside, axis=0).max() > 1e-6:
        raise ValueError("nested_f_test: X_base is not nested in X_full")
    return _f_pvalue(y, Q0, _extend_basis(Q0, X_full))


# ---------------------------------------------------------------------------------------------
# Group allele frequencies


def _as_dosage(dosage, index: pd.Index | None = None) -> pd.Series:
    """A float Series with NaN for missing (NaN or pgen's negative -9)."""
    if isinstance(dosage, pd.Series):
        s = dosage.astype(np.float64)
    else:
        s = pd.Series(np.asarray(dosage, dtype=np.float64), index=index)
    return s.where(s >= 0)


def _mafs_by_code(d: np.ndarray, codes: np.ndarray, n_levels: int) -> np.ndarray:
    """Per-group MAF of dosages ``d`` (NaN missing) for integer group ``codes``; NaN where a
    group has no genotyped sample. numpy only: it runs once per test."""
    ok = ~np.isnan(d)
    alt = np.bincount(codes[ok], weights=d[ok], minlength=n_levels)
    called = np.bincount(codes[ok], minlength=n_levels)
    with np.errstate(invalid="ignore", divide="ignore"):
        af = alt / (2 * called)
    return np.minimum(af, 1 - af)


def _passes(mafs: np.ndarray, min_maf: float) -> bool:
    mafs = np.sort(mafs[~np.isnan(mafs)])
    return len(mafs) >= 2 and bool(mafs[-2] >= min_maf)


def group_mafs(dosage, groups: pd.Series) -> pd.Series:
    """Minor allele frequency of ``dosage`` (ALT counts; Series by sample, or an array in the order
    of ``groups``) in each group, over the samples with a genotype; index = sorted group labels.

    A group without any genotyped sample gets NA.
    """
    if isinstance(dosage, pd.Series):
        missing = groups.index.difference(dosage.index)
        if len(missing):
            raise KgpexError(f"genotypes: no dosage for sample {missing[0]} "
                             f"({len(missing)} missing)")
        dosage = dosage.reindex(groups.index)
    d = _as_dosage(dosage, groups.index).to_numpy()
    if len(d) != len(groups):
        raise ValueError("group_mafs: dosage and groups differ in length")
    levels, codes = np.unique(groups.to_numpy(dtype=str), return_inverse=True)
    return pd.Series(_mafs_by_code(d, codes, len(levels)), index=levels, name="maf")


def testable(dosage, groups: pd.Series, min_maf: float = 0.05) -> bool:
    """MAGE's filter: the second-highest group MAF is >= ``min_maf`` (two groups pass)."""
    return _passes(group_mafs(dosage, groups).to_numpy(), min_maf)


# ---------------------------------------------------------------------------------------------
# The tests over a lead table


def _lead_frame(lead_variants: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in LEAD_COLUMNS if c not in lead_variants.columns]
    if missing:
        raise KgpexError(f"lead variants: column '{missing[0]}' missing")
    out = pd.DataFrame({
        "gene_id": lead_variants["ensemblID"].astype(str).to_numpy(),
        "variant_id": lead_variants["variant_kgpID"].astype(str).to_numpy(),
        "variant_chr": lead_variants["variantChrom"].astype(str).to_numpy(),
        "variant_pos": pd.to_numeric(lead_variants["variantPosition"]).astype(np.int64).to_numpy(),
    })
    out["interaction_pval"] = np.nan
    return out


def _genotype_matrix(genotypes, variant_ids: list[str], samples: pd.Index) -> pd.DataFrame:
    """variants x samples float64 (NaN missing) from a DataFrame (variants x samples) or a mapping
    variant -> Series by sample (or an array in phenotype sample order)."""
    ids = list(dict.fromkeys(variant_ids))
    if isinstance(genotypes, pd.DataFrame):
        absent = pd.Index(ids).difference(genotypes.index)
        if len(absent):
            raise KgpexError(f"genotypes: lead variant {absent[0]} not found")
        dup = genotypes.index[genotypes.index.duplicated() & genotypes.index.isin(ids)]
        if len(dup):
            raise KgpexError(f"genotypes: lead variant {dup[0]} appears twice")
        absent = samples.difference(genotypes.columns.astype(str))
        if len(absent):
            raise KgpexError(f"genotypes: no dosages for sample {absent[0]} "
                             f"({len(absent)} samples missing)")
        values = genotypes.set_axis(genotypes.columns.astype(str), axis=1).loc[ids, samples]
        values = values.astype(np.float64)
        return values.where(values >= 0)
    if not isinstance(genotypes, Mapping):
        raise TypeError("genotypes must be a DataFrame or a mapping variant -> dosages")
    rows = {}
    for vid in ids:
        if vid not in genotypes:
            raise KgpexError(f"genotypes: lead variant {vid} not found")
        row = genotypes[vid]
        if isinstance(row, pd.Series):
            absent = samples.difference(row.index)
            if len(absent):
                raise KgpexError(f"genotypes: variant {vid} has no dosage for sample {absent[0]}")
            row = row.reindex(samples)
        elif len(row) != len(samples):
            raise KgpexError(f"genotypes: variant {vid} has {len(row)} dosages, "
                             f"expected {len(samples)} (one per phenotype sample)")
        rows[vid] = _as_dosage(row, samples).to_numpy()
    return pd.DataFrame.from_dict(rows, orient="index", columns=samples)


def _check_groups(groups: pd.Series, samples: pd.Index) -> pd.Series:
    absent = samples.difference(groups.index)
    if len(absent):
        raise KgpexError(f"groups: phenotype sample {absent[0]} has no group "
                         f"({len(absent)} samples without one)")
    out = groups.reindex(samples)
    empty = out.isna() | (out.astype(str).str.strip() == "")
    if empty.any():
        raise KgpexError(f"groups: phenotype sample {out.index[empty][0]} has an empty group")
    return out.astype(str)


def _check_covariates(covariates: pd.DataFrame, samples: pd.Index) -> np.ndarray:
    absent = samples.difference(covariates.index)
    if len(absent):
        raise KgpexError(f"covariates: no values for phenotype sample {absent[0]} "
                         f"({len(absent)} samples missing)")
    cov = covariates.reindex(samples)
    bad = [c for c in cov.columns if not pd.api.types.is_numeric_dtype(cov[c])]
    if bad:
        raise KgpexError(f"covariates: covariate '{bad[0]}' is not numeric")
    values = cov.to_numpy(dtype=np.float64)
    if not np.isfinite(values).all():
        raise KgpexError(f"covariates: covariate '{cov.columns[~np.isfinite(values).all(0)][0]}' "
                         "has missing values")
    return values


class _Design:
    """The parts of both models that do not depend on the variant: intercept, group dummies and
    covariates, orthonormalised once and reused while the complete-case samples stay the same
    (nearly always all samples: only the last set is kept, to bound memory)."""

    def __init__(self, groups: np.ndarray, covariates: np.ndarray):
        self.groups = groups
        self.covariates = covariates
        self._cache: dict[bytes, tuple[np.ndarray, np.ndarray]] = {}

    def base(self, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(orthonormal basis of [1, group dummies, covariates], dummies) on ``mask``'s samples."""
        key = mask.tobytes()
        if key not in self._cache:
            groups = self.groups[mask]
            levels = sorted(set(groups))
            # Treatment coding, first level as reference (R's and patsy's default).
            dummies = np.column_stack([groups == lev for lev in levels[1:]]).astype(np.float64) \
                if len(levels) > 1 else np.empty((int(mask.sum()), 0))
            X = np.column_stack([np.ones(int(mask.sum())), dummies, self.covariates[mask]])
            self._cache = {key: (_extend_basis(np.empty((X.shape[0], 0)), X), dummies)}
        return self._cache[key]


def interaction_tests(lead_variants: pd.DataFrame, phenotypes: pd.DataFrame, genotypes,
                      groups: pd.Series, covariates: pd.DataFrame, multivariant: bool,
                      min_maf: float = 0.05) -> pd.DataFrame:
    """MAGE's genotype-by-group interaction p-value of each lead variant.

    ``lead_variants``: the fine-mapping lead table (``variantChrom variantPosition variant_kgpID
    ensemblID`` used; variant_kgpID is the genotype ID). ``phenotypes``: genes x samples.
    ``genotypes``: variants x samples DataFrame, or a mapping variant -> dosages (Series by sample);
    ALT counts, NaN or negative for missing. ``groups``: sample -> group for every phenotype
    sample. ``covariates``: samples x covariates (numeric). One output row per lead row, in order:
    gene_id, variant_id, variant_chr, variant_pos, interaction_pval (NA when not tested).
    """
    out = _lead_frame(lead_variants)
    samples = pd.Index(phenotypes.columns.astype(str))
    if samples.duplicated().any():
        raise KgpexError(f"phenotypes: sample {samples[samples.duplicated()][0]} appears twice")
    group_s = _check_groups(groups, samples)
    cov = _check_covariates(covariates, samples)
    absent = pd.Index(out["gene_id"]).difference(phenotypes.index.astype(str))
    if len(absent):
        raise KgpexError(f"phenotypes: lead gene {absent[0]} has no phenotype row")
    geno = _genotype_matrix(genotypes, out["variant_id"].tolist(), samples)
    counts = group_s.value_counts()
    if (counts == 1).any():
        log.warning("groups with a single sample (%s): their interaction terms are aliased with "
                    "their group intercepts and are dropped", ", ".join(counts.index[counts == 1]))

    design = _Design(group_s.to_numpy(), cov)
    levels, codes = np.unique(group_s.to_numpy(), return_inverse=True)
    geno_values = geno.to_numpy(dtype=np.float64)
    geno_row = {v: k for k, v in enumerate(geno.index)}
    pheno_values = phenotypes.to_numpy(dtype=np.float64)
    pheno_row = {str(v): k for k, v in enumerate(phenotypes.index)}
    gene_leads = out.groupby("gene_id", sort=False)["variant_id"].agg(
        lambda v: list(dict.fromkeys(v)))
    done: dict[tuple[str, str], float] = {}
    n_maf = n_nodf = 0
    for i, row in out.iterrows():
        key = (row.gene_id, row.variant_id)
        if key in done:
            out.at[i, "interaction_pval"] = done[key]
            continue
        in_model = gene_leads[row.gene_id] if multivariant else [row.variant_id]
        G = geno_values[[geno_row[v] for v in in_model]]
        mask = ~np.isnan(G).any(axis=0)
        g = geno_values[geno_row[row.variant_id]][mask]
        if not _passes(_mafs_by_code(g, codes[mask], len(levels)), min_maf):
            n_maf += 1
            done[key] = np.nan
            continue
        Q_design, dummies = design.base(mask)
        y = pheno_values[pheno_row[row.gene_id]][mask]
        # Base: the variant (single) or all the gene's leads (multi); then the g:group terms.
        Q0 = _extend_basis(Q_design, G[:, mask].T)
        Q1 = _extend_basis(Q0, g[:, None] * dummies)
        p = _f_pvalue(y, Q0, Q1)
        if np.isnan(p):
            n_nodf += 1
        done[key] = p
        out.at[i, "interaction_pval"] = p
    model = "multi-variant" if multivariant else "single-variant"
    log.info("%s interaction test: %d lead rows, %d tested, %d below the group MAF filter, "
             "%d with no interaction degree of freedom left", model, len(out),
             len(done) - n_maf - n_nodf, n_maf, n_nodf)
    return out


def add_qvalues(results: pd.DataFrame, lambda_=None) -> pd.DataFrame:
    """``results`` with a last column ``qval``: Storey q-values over the non-NA p-values (NA
    elsewhere); lambda = 0 (Benjamini-Hochberg) when qvalue cannot estimate pi0."""
    from kgpex.eqtl.qvalues import storey_qvalues_or_bh

    out = results.copy()
    out["qval"] = np.nan
    tested = out["interaction_pval"].notna()
    if not tested.any():
        return out
    p = out.loc[tested, "interaction_pval"].to_numpy()
    q, pi0 = storey_qvalues_or_bh(p, lambda_, "interaction p-values")
    log.info("interaction q-values over %d tests: pi0 = %.4f", len(p), pi0)
    out.loc[tested, "qval"] = q
    return out


def summary_counts(results: pd.DataFrame, alpha: float = 0.05) -> dict[str, int]:
    """Counts for the log: tested, not tested (NA) and p < ``alpha``."""
    p = results["interaction_pval"]
    return {"tested": int(p.notna().sum()), "not_testable": int(p.isna().sum()),
            f"p_below_{alpha:g}": int((p < alpha).sum())}


# ---------------------------------------------------------------------------------------------
# Files


def read_lead_variants(path) -> pd.DataFrame:
    """The fine-mapping lead table (kgpex.effect_sizes.lead_variants), positions as integers."""
    df = lead_variants.read_lead_variants(path)
    df["variantPosition"] = df["variantPosition"].astype(np.int64)
    return df


def read_groups(path, samples, group_column: str = "continental_group") -> pd.Series:
    """individual -> ``group_column`` from the individuals table, for every one of ``samples``."""
    path = Path(path)
    df = read_text_tsv(path, "individuals table")
    for column in ("individual", group_column):
        if column not in df.columns:
            raise KgpexError(f"{path}: column '{column}' missing")
    dup = df["individual"].duplicated()
    if dup.any():
        raise KgpexError(f"{path} line {int(np.argmax(dup.to_numpy())) + 2}: "
                         f"individual {df['individual'][dup].iloc[0]} appears twice")
    groups = df.set_index("individual")[group_column]
    absent = [s for s in samples if s not in groups.index]
    if absent:
        raise KgpexError(f"{path}: phenotype sample {absent[0]} has no row, so no "
                         f"{group_column} ({len(absent)} samples missing)")
    groups = groups.reindex(list(samples))
    empty = groups.str.strip().isin(["", "NA"])
    if empty.any():
        line = int(np.where(df["individual"] == groups.index[empty][0])[0][0]) + 2
        raise KgpexError(f"{path} line {line}: field {group_column} is empty")
    return groups


def read_lead_genotypes(pgen_prefix, samples, lead_rows: pd.DataFrame) -> pd.DataFrame:
    """ALT counts (or dosages; NaN missing) of the lead variants of one chromosome, variants x
    samples. Only the listed variants are read (load_genotypes reads a whole chromosome), and
    each must sit at the lead table's chromosome and position."""
    from tensorqtl import pgen

    from kgpex.genotypes.plink import has_dosages

    prefix = str(pgen_prefix)
    for ext in (".pgen", ".pvar", ".psam"):
        if not Path(prefix + ext).exists():
            raise KgpexError(f"{prefix}{ext}: genotype file not found")
    reader = pgen.PgenReader(prefix)
    psam = set(reader.sample_id_list)
    absent = [s for s in samples if s not in psam]
    if absent:
        raise KgpexError(f"{prefix}.psam: no genotypes for {len(absent)} phenotype samples, "
                         f"first {absent[0]}")
    pvar = reader.pvar_df.drop_duplicates("id", keep=False).set_index("id")
    ids = list(dict.fromkeys(lead_rows["variant_kgpID"]))
    for vid in ids:
        row = lead_rows[lead_rows["variant_kgpID"] == vid].iloc[0]
        if vid not in pvar.index:
            what = "repeats" if vid in set(reader.pvar_df["id"]) else "is not there"
            raise KgpexError(f"{prefix}.pvar: lead variant {vid} {what}")
        if (str(pvar.at[vid, "chrom"]), int(pvar.at[vid, "pos"])) != (
                str(row["variantChrom"]), int(row["variantPosition"])):
            raise KgpexError(f"{prefix}.pvar: lead variant {vid} is at {pvar.at[vid, 'chrom']}:"
                             f"{pvar.at[vid, 'pos']}, the lead table says {row['variantChrom']}:"
                             f"{row['variantPosition']}")
    reader.set_samples(list(samples))
    idx = [reader.variant_idx_dict[v] for v in ids]
    read = pgen.read_dosages_list if has_dosages(prefix) else pgen.read_list
    values = read(reader.pgen_file, idx, sample_subset=reader.sample_idxs).astype(np.float64)
    values[values < 0] = np.nan  # pgenlib's -9
    return pd.DataFrame(values, index=ids, columns=reader.sample_ids)[list(samples)]


def run_interaction_tests(lead_variants_path, phenotype_bed, covariates_path,
                          pgen_prefixes: dict, individuals_path,
                          group_column: str = "continental_group",
                          min_maf: float = 0.05) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Single- and multi-variant interaction tables (with ``qval``) from the pipeline's files.

    ``pgen_prefixes``: chromosome -> pgen prefix; every chromosome of the lead table needs one.
    All inputs are checked before any test runs.
    """
    from kgpex.eqtl.inputs import read_covariates, read_phenotype_bed

    leads = read_lead_variants(lead_variants_path)
    phenotypes, _ = read_phenotype_bed(phenotype_bed)
    samples = list(phenotypes.columns)
    groups = read_groups(individuals_path, samples, group_column)
    covariates = read_covariates(covariates_path, samples)
    genes = set(phenotypes.index)
    absent = ~leads["ensemblID"].isin(genes)
    if absent.any():
        raise KgpexError(f"{lead_variants_path} line {int(np.argmax(absent.to_numpy())) + 2}: "
                         f"gene {leads['ensemblID'][absent].iloc[0]} is not in {phenotype_bed}")
    no_pgen = sorted(set(leads["variantChrom"]) - set(map(str, pgen_prefixes)))
    if no_pgen:
        raise KgpexError(f"{lead_variants_path}: no genotypes (pgen) given for chromosome "
                         f"{no_pgen[0]}")
    prefixes = {str(k): v for k, v in pgen_prefixes.items()}
    parts = [read_lead_genotypes(prefixes[chrom], samples, rows)
             for chrom, rows in leads.groupby("variantChrom", sort=False)]
    genotypes = pd.concat(parts) if parts else pd.DataFrame(columns=samples, dtype=np.float64)
    log.info("%d lead variants of %d genes, %d samples in %d groups (%s), %d covariates",
             len(leads), leads["ensemblID"].nunique(), len(samples), groups.nunique(),
             ", ".join(f"{k} {v}" for k, v in groups.value_counts().sort_index().items()),
             covariates.shape[1])
    phenotypes = phenotypes.loc[phenotypes.index.isin(set(leads["ensemblID"]))]
    single = interaction_tests(leads, phenotypes, genotypes, groups, covariates,
                               multivariant=False, min_maf=min_maf)
    multi = interaction_tests(leads, phenotypes, genotypes, groups, covariates,
                              multivariant=True, min_maf=min_maf)
    return add_qvalues(single), add_qvalues(multi)


def write_interaction_results(results: pd.DataFrame, path) -> None:
    """Tab-separated (gzip if ``path`` ends in .gz), NA for missing, written atomically."""
    columns = OUTPUT_COLUMNS + (["qval"] if "qval" in results.columns else [])
    write_table(results[columns], path, index=False, na_rep="NA")
