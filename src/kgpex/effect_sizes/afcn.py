"""aFC-n, the allelic fold change of each fine-mapped lead variant, as MAGE ran it (EQ/run_aFCn:
dtaylo95/aFCn with ``--conf``, no covariates, no ``--redo``), after MAGE's covariate correction
(kgpex.effect_sizes.covariate_correction).

Model, per gene with K lead variants, individual j with phased alleles h1_jk, h2_jk (0 ref, 1 alt):

    E_j = log2(2^(sum_k s_k h1_jk) + 2^(sum_k s_k h2_jk)) + c0

E is log2 expression (MAGE: log2(DESeq2-normalised count + 1)) with the significant covariates
regressed out; s_k is the log2 aFC of variant k (ALT vs REF) conditional on the gene's other
leads, bounded to [-bound, bound] (6.64, about 100-fold); c0, unbounded, is the log2 expression of
a haplotype carrying the reference allele at every lead. Start values: OLS of E on
0.5 (h1 + h2) with an intercept. Fit: lmfit Levenberg-Marquardt (``leastsq``) with
xtol = ftol = 0.01, aFC-n's settings (they also apply to the profile refits of the intervals).

Intervals: lmfit.conf_interval profiles each parameter (F test of the refitted chi-square) at
sigmas 1, 2, 3; aFC-n stores the -2 sigma and +2 sigma bounds. The output columns say
``95_interv`` (MAGE's names) but the interval is the +-2 sigma profile interval, coverage
erf(2/sqrt 2) = 0.9545 with current lmfit. A side whose profile never reaches that level before
the bound is +-inf (lmfit's convention); any failure of conf_interval leaves the gene's interval
columns NA, as aFC-n. ``log2_aFC_error`` is lmfit's covariance-based standard error.

Deviations from aFC-n, all where its behaviour is undefined or silently wrong:
- the 2 sigma bounds are taken by their probability, not by list position (aFC-n's entries 1
  and 5 shift to a different sigma when lmfit's root search fails on one side; here that side
  is NA);
- an unphased heterozygote stops the run with one line (aFC-n would crash or misread it);
- a variant listed twice for a gene (a lead of two credible sets) is fitted once and its
  estimate written on each of its rows (aFC-n would fit two identical, unidentifiable columns);
- individuals with missing expression are dropped (aFC-n sets it to 0; the BED reader here
  rejects missing values, so this does not arise in the pipeline).
"""

from __future__ import annotations

import contextlib
import logging
import math
import multiprocessing
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from kgpex.common.errors import KgpexError
from kgpex.common.io import atomic_path, gzip_text_writer
from kgpex.effect_sizes.covariate_correction import correct_covariates

# Re-exported: the rule script and tests read the table through this module.
from kgpex.effect_sizes.lead_variants import (  # noqa: F401
    LEAD_VARIANT_COLUMNS,
    check_lead_variants,
    read_lead_variants,
)
from kgpex.eqtl.inputs import read_covariates, read_phenotype_bed
from kgpex.genotypes.plink import read_psam_ids

log = logging.getLogger(__name__)

AFCN_COLUMNS = [
    "log2_aFC", "log2_aFC_error", "log2_aFC_c0", "log2_aFC_min_95_interv",
    "log2_aFC_max_95_interv", "log2_aFC_c0_min_95_interv", "log2_aFC_c0_max_95_interv",
]
OUTPUT_COLUMNS = LEAD_VARIANT_COLUMNS + AFCN_COLUMNS

BOUND = 6.64
XTOL = FTOL = 0.01
# lmfit's default sigmas, pinned: they set how far the profile search goes.
SIGMAS = (1, 2, 3)
INTERVAL_SIGMA = 2
INTERVAL_PROB = math.erf(INTERVAL_SIGMA / math.sqrt(2))
PROGRESS_EVERY = 100
BATCH = 500


class AfcnFitFailure(KgpexError):
    """One gene's fit cannot be made (too few individuals, least squares failed); the
    orchestration leaves that gene's rows NA and counts it."""


@dataclass(frozen=True)
class AfcnFit:
    """One gene's aFC-n estimates; arrays follow the haplotype columns."""

    s: np.ndarray  # (K,) log2 aFC
    s_error: np.ndarray  # (K,) covariance-based standard error, NaN if unavailable
    c0: float
    s_ci: np.ndarray  # (K, 2) -2 sigma / +2 sigma profile bounds (NaN: interval failed)
    c0_ci: np.ndarray  # (2,)
    n: int  # individuals used
    ci_failed: bool  # conf_interval raised (asked for, but no interval)


def _param_names(k: int) -> list[str]:
    return [f"s{i}" for i in range(k)]


def _residuals(params, h1, h2, expression, names):
    s = np.array([params[name].value for name in names])
    # logaddexp2 is log2(2^a + 2^b), without overflow.
    return np.logaddexp2(h1 @ s, h2 @ s) + params["c0"].value - expression


def _start_values(expression: np.ndarray, h1: np.ndarray, h2: np.ndarray):
    """OLS of E on 0.5 (h1 + h2) with an intercept, centred so that collinear leads get the
    minimum-norm solution (scikit-learn's LinearRegression, which aFC-n uses)."""
    x = 0.5 * (h1 + h2)
    x_mean, e_mean = x.mean(axis=0), expression.mean()
    coef = np.linalg.lstsq(x - x_mean, expression - e_mean, rcond=None)[0]
    return coef, float(e_mean - x_mean @ coef)


def _two_sigma(entries) -> tuple[float, float]:
    """The -2 sigma and +2 sigma bounds of one parameter's conf_interval list."""
    best = next(i for i, (prob, _) in enumerate(entries) if prob == 0)

    def pick(side):
        hits = [v for p, v in side if math.isclose(p, INTERVAL_PROB, rel_tol=1e-9)]
        return float(hits[0]) if hits else np.nan

    return pick(entries[:best]), pick(entries[best + 1:])


def fit_afcn(expression: np.ndarray, hap1: np.ndarray, hap2: np.ndarray,
             bound: float = BOUND, conf: bool = True) -> AfcnFit:
    """Fit the aFC-n model jointly over one gene's lead variants.

    ``expression`` (n,) log2 expression; ``hap1``, ``hap2`` (n, K) phased alleles, 0 (REF),
    1 (ALT) or NaN (missing: the individual is dropped). Raises AfcnFitFailure when fewer than
    two individuals remain or least squares fails; malformed input is a KgpexError.
    """
    e = np.asarray(expression, dtype=np.float64)
    h1 = np.asarray(hap1, dtype=np.float64)
    h2 = np.asarray(hap2, dtype=np.float64)
    if h1.ndim == 1:
        h1, h2 = h1[:, None], h2[:, None]
    if e.ndim != 1 or h1.shape != h2.shape or h1.ndim != 2 or h1.shape[0] != len(e):
        raise KgpexError(f"aFC-n: expression {e.shape} and haplotypes {h1.shape}, {h2.shape} "
                         f"must be (n,) and (n, K)")
    if h1.shape[1] == 0:
        raise KgpexError("aFC-n: no variant to fit")
    for name, h in (("hap1", h1), ("hap2", h2)):
        bad = ~np.isnan(h) & (h != 0) & (h != 1)
        if bad.any():
            row, col = np.argwhere(bad)[0]
            raise KgpexError(f"aFC-n: {name}[{row}, {col}] is {h[row, col]}, not 0, 1 or NaN")
    if not bound > 0:
        raise KgpexError(f"aFC-n: bound must be positive, got {bound}")
    keep = ~(np.isnan(h1).any(axis=1) | np.isnan(h2).any(axis=1) | ~np.isfinite(e))
    e, h1, h2 = e[keep], h1[keep], h2[keep]
    n, k = h1.shape
    if n < 2:
        raise AfcnFitFailure(f"{n} individuals with complete haplotypes (aFC-n needs 2)")

    import lmfit  # deferred: importing kgpex.effect_sizes stays cheap for the Snakefile

    names = _param_names(k)
    s_start, c0_start = _start_values(e, h1, h2)
    params = lmfit.Parameters()
    for name, value in zip(names, s_start):
        params.add(name, value=float(value), min=-bound, max=bound)  # lmfit clips to the bounds
    params.add("c0", value=c0_start)
    minimizer = lmfit.Minimizer(_residuals, params, fcn_args=(h1, h2, e, names),
                                xtol=XTOL, ftol=FTOL)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            result = minimizer.minimize(method="leastsq")
        except Exception as err:  # lmfit/MINPACK raise several types; the gene is a failure
            raise AfcnFitFailure(f"least squares failed ({type(err).__name__}: {err})") from err
        s_ci = np.full((k, 2), np.nan)
        c0_ci = np.full(2, np.nan)
        ci_failed = False
        if conf:
            try:
                ci = lmfit.conf_interval(minimizer, result, sigmas=list(SIGMAS))
            except Exception:  # noqa: BLE001 - aFC-n: any failure leaves the intervals NA
                ci_failed = True
            else:
                for i, name in enumerate(names):
                    s_ci[i] = _two_sigma(ci[name])
                c0_ci[:] = _two_sigma(ci["c0"])
    fitted = result.params
    return AfcnFit(
        s=np.array([fitted[name].value for name in names]),
        s_error=np.array([np.nan if fitted[name].stderr is None else fitted[name].stderr
                          for name in names], dtype=np.float64),
        c0=float(fitted["c0"].value),
        s_ci=s_ci,
        c0_ci=c0_ci,
        n=n,
        ci_failed=ci_failed,
    )


# ---------------------------------------------------------------------------------------------
# Inputs


def _covariate_samples(path) -> set[str]:
    path = Path(path)
    try:
        header = pd.read_csv(path, sep="\t", nrows=0).columns
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise KgpexError(f"{path}: cannot read covariates ({err})") from err
    return {str(c) for c in header[1:]}


def _pvar_ids(path: Path) -> pd.Series:
    """The ID column of a .pvar (its ``##`` lines skipped), in file order."""
    if not path.exists():
        raise KgpexError(f"{path}: pvar not found")
    skip = 0
    with open(path) as fh:
        for line in fh:
            if not line.startswith("##"):
                header = line.rstrip("\n").split("\t")
                break
            skip += 1
        else:
            raise KgpexError(f"{path}: no #CHROM header line")
    if header[0] != "#CHROM" or "ID" not in header:
        raise KgpexError(f"{path} line {skip + 1}: header must start with #CHROM and name ID")
    return pd.read_csv(path, sep="\t", skiprows=skip, usecols=["ID"], dtype=str,
                       keep_default_na=False)["ID"]


def read_phased_haplotypes(pgen_prefix, variant_ids: list[str], samples: list[str]):
    """Phased alleles of ``variant_ids`` (pvar IDs) for ``samples`` (psam IIDs):
    ``{variant_id: (h1, h2)}``, int8 arrays in ``samples`` order, 0 REF, 1 ALT, -1 missing.

    A heterozygous call without phase is a KgpexError naming the variant and the sample;
    so is a lead variant absent from the pvar, listed twice there, or multi-allelic."""
    import pgenlib

    prefix = str(pgen_prefix)
    pgen = Path(prefix + ".pgen")
    if not pgen.exists():
        raise KgpexError(f"{pgen}: genotype file not found")
    psam = read_psam_ids(prefix + ".psam")
    where = {s: i for i, s in enumerate(psam)}
    absent = [s for s in samples if s not in where]
    if absent:
        raise KgpexError(f"{prefix}.psam: no genotypes for sample {absent[0]}")
    positions = np.array([where[s] for s in samples], dtype=np.intp)
    ids = _pvar_ids(Path(prefix + ".pvar"))
    wanted = set(variant_ids)
    found = ids[ids.isin(wanted)]
    if found.duplicated().any():
        raise KgpexError(f"{prefix}.pvar: variant ID '{found[found.duplicated()].iloc[0]}' "
                         f"appears twice")
    index = dict(zip(found.to_numpy(), found.index.to_numpy()))
    lost = [v for v in variant_ids if v not in index]
    if lost:
        raise KgpexError(f"{prefix}.pvar: lead variant '{lost[0]}' not found "
                         f"({len(lost)} of {len(set(variant_ids))} missing)")
    reader = pgenlib.PgenReader(str(pgen).encode(), raw_sample_ct=len(psam))
    alleles = np.zeros(2 * len(psam), dtype=np.int32)
    phased = np.zeros(len(psam), dtype=np.uint8)
    out = {}
    try:
        for vid in dict.fromkeys(variant_ids):
            reader.read_alleles_and_phasepresent(int(index[vid]), alleles, phased)
            pair = alleles.reshape(-1, 2)[positions]
            missing = (pair < 0).any(axis=1)
            if (pair > 1).any():
                raise KgpexError(f"{pgen}: variant {vid} has more than one ALT allele "
                                 f"(split multi-allelic sites)")
            unphased = ~missing & (pair[:, 0] != pair[:, 1]) & (phased[positions] == 0)
            if unphased.any():
                raise KgpexError(
                    f"{pgen}: variant {vid}: sample {samples[int(np.flatnonzero(unphased)[0])]} "
                    f"is heterozygous without phase (aFC-n needs phased genotypes)"
                )
            pair = pair.astype(np.int8)
            pair[missing] = -1
            out[vid] = (pair[:, 0].copy(), pair[:, 1].copy())
    finally:
        reader.close()
    return out


# ---------------------------------------------------------------------------------------------
# Orchestration


def _empty_results(n: int) -> dict[str, np.ndarray]:
    return {column: np.full(n, np.nan) for column in AFCN_COLUMNS}


def estimate_lead_variant_afc(lead_variants: pd.DataFrame, expression_bed_path,
                              covariates_path, pgen_prefixes: dict[str, str],
                              bound: float = BOUND, conf: bool = True,
                              threads: int = 1) -> pd.DataFrame:
    """aFC-n of every lead variant, one row per input row, input order: the 10 lead-variant
    columns, then AFCN_COLUMNS.

    Per gene: its row of the log2 expression BED for the samples in the BED, the covariates and
    every used chromosome's psam; the phased haplotypes of its leads (pvar ID =
    ``variant_kgpID``, pgen of ``pgen_prefixes[variantChrom]``); MAGE's covariate correction with
    the leads' genotypes in the model; then one joint fit (fit_afcn). An individual with a
    missing call at one of the gene's leads is left out of that gene. A gene absent from the BED
    or whose fit fails keeps NA values, logged. ``threads`` > 1 fits genes in that many
    processes (same results).
    """
    lead = check_lead_variants(lead_variants)
    if lead.empty:
        log.warning("no lead variants: the aFC-n table has a header only")
        return lead.assign(**{c: pd.Series(dtype=float) for c in AFCN_COLUMNS})
    chroms = list(dict.fromkeys(lead["variantChrom"]))
    for chrom in chroms:
        if chrom not in pgen_prefixes:
            row = int(np.flatnonzero(lead["variantChrom"].to_numpy() == chrom)[0])
            raise KgpexError(f"lead variants line {row + 2}: field variantChrom: no genotypes "
                             f"for chromosome '{chrom}'")
    phenotypes, _ = read_phenotype_bed(expression_bed_path)
    in_covariates = _covariate_samples(covariates_path)
    psams = {c: set(read_psam_ids(f"{pgen_prefixes[c]}.psam")) for c in chroms}
    samples = [s for s in phenotypes.columns
               if s in in_covariates and all(s in ids for ids in psams.values())]
    log.info("%d of %d expression samples have covariates and genotypes", len(samples),
             phenotypes.shape[1])
    if len(samples) < 2:
        raise KgpexError(f"{expression_bed_path}: {len(samples)} samples also in the covariates "
                         f"and genotypes (aFC-n needs 2)")
    covariates = read_covariates(covariates_path, samples).astype(np.float64)
    if len(samples) - 1 - covariates.shape[1] < 1:
        raise KgpexError(f"{covariates_path}: {covariates.shape[1]} covariates leave no "
                         f"degree of freedom for {len(samples)} samples")

    haplotypes = {}
    for chrom in chroms:
        ids = lead.loc[lead["variantChrom"] == chrom, "variant_kgpID"].tolist()
        haplotypes.update(read_phased_haplotypes(pgen_prefixes[chrom], ids, samples))
        log.info("%s: phased haplotypes of %d lead variants", chrom, len(set(ids)))

    results = _empty_results(len(lead))
    genes = list(lead.groupby("ensemblID", sort=False).indices.items())
    n_failed = n_ci_failed = done = 0
    with _fitter(threads) as fit_all:
        # Batches bound the memory of the prepared inputs when a pool works through them.
        for first in range(0, len(genes), BATCH):
            batch = genes[first:first + BATCH]
            tasks = []
            for gene, rows in batch:
                variants = list(dict.fromkeys(lead["variant_kgpID"].to_numpy()[rows]))
                try:
                    tasks.append(_prepare_gene(gene, variants, phenotypes, samples, covariates,
                                               haplotypes, expression_bed_path))
                except AfcnFitFailure as err:
                    tasks.append(err)
            for (gene, rows), fit in zip(batch, fit_all(tasks, bound, conf)):
                done += 1
                if done % PROGRESS_EVERY == 0:
                    log.info("%d of %d genes fitted", done, len(genes))
                if isinstance(fit, AfcnFitFailure):
                    n_failed += 1
                    log.warning("%s: no aFC-n (%s)", gene, fit)
                    continue
                n_ci_failed += fit.ci_failed
                variants = list(dict.fromkeys(lead["variant_kgpID"].to_numpy()[rows]))
                for row in rows:
                    i = variants.index(lead["variant_kgpID"].iat[row])
                    values = (fit.s[i], fit.s_error[i], fit.c0, *fit.s_ci[i], *fit.c0_ci)
                    for name, value in zip(AFCN_COLUMNS, values):
                        results[name][row] = value
    log.info("aFC-n: %d genes, %d lead variants (%d rows); %d genes failed, %d without "
             "intervals", len(genes), lead[["ensemblID", "variant_kgpID"]].drop_duplicates()
             .shape[0], len(lead), n_failed, n_ci_failed)
    if n_failed == len(genes):
        raise KgpexError(f"{expression_bed_path}: aFC-n failed for all {len(genes)} genes "
                         f"(see the log)")
    return pd.concat([lead, pd.DataFrame(results)], axis=1)[OUTPUT_COLUMNS]


def _prepare_gene(gene, variants, phenotypes, samples, covariates, haplotypes, bed_path):
    """(corrected expression, h1, h2) of one gene: MAGE's covariate correction with the leads'
    genotypes in the model."""
    if gene not in phenotypes.index:
        raise AfcnFitFailure(f"gene not in {bed_path}")
    y = pd.Series(phenotypes.loc[gene, samples].to_numpy(dtype=np.float64), index=samples)
    h1 = np.column_stack([haplotypes[v][0] for v in variants]).astype(np.float64)
    h2 = np.column_stack([haplotypes[v][1] for v in variants]).astype(np.float64)
    h1[h1 < 0] = np.nan
    h2[h2 < 0] = np.nan
    genotypes = pd.DataFrame(h1 + h2, index=samples, columns=variants)
    try:
        corrected, _ = correct_covariates(y, covariates, genotypes)
    except KgpexError as err:
        # The inputs are checked; what is left is this gene's (too many missing calls).
        raise AfcnFitFailure(str(err)) from err
    return corrected.to_numpy(), h1, h2


def _fit_task(task, bound, conf):
    """fit_afcn of one prepared gene; a failure is returned, so that a pool's map goes on."""
    if isinstance(task, AfcnFitFailure):
        return task
    try:
        return fit_afcn(*task, bound=bound, conf=conf)
    except AfcnFitFailure as err:
        return AfcnFitFailure(str(err))


@contextlib.contextmanager
def _fitter(threads: int):
    """A function fitting a list of prepared genes, in order: in this process, or with
    ``threads`` > 1 in a pool of forked processes (the fits are independent and CPU-bound;
    most of their time is lmfit's Python overhead, which threads would not share)."""
    if threads <= 1:
        yield lambda tasks, bound, conf: [_fit_task(t, bound, conf) for t in tasks]
        return
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=threads, mp_context=context) as pool:
        yield lambda tasks, bound, conf: list(
            pool.map(_fit_task, tasks, [bound] * len(tasks), [conf] * len(tasks), chunksize=4)
        )


def write_afcn_table(df: pd.DataFrame, dest) -> None:
    """The aFC-n table as gzipped TSV (NA for missing values), rows as given, atomically."""
    missing = [c for c in OUTPUT_COLUMNS if c not in df.columns]
    if missing:
        raise KgpexError(f"{dest}: aFC-n table lacks column '{missing[0]}'")
    with atomic_path(dest) as tmp, gzip_text_writer(tmp) as fh:
        df[OUTPUT_COLUMNS].to_csv(fh, sep="\t", index=False, na_rep="NA")
