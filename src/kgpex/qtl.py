"""cis-eQTL mapping with tensorQTL: permutations, nominal pairs, independent signals, SuSiE.

Each function maps one chromosome. Inputs are checked before any mapping starts:
- phenotypes: ``#Chr start end ID <individuals>`` BED (one row per gene at its TSS);
- covariates: ``id <individuals>`` (FastQTL layout: one row per covariate);
- genotypes: a PLINK 2 pgen/pvar/psam trio, read with tensorQTL's ``pgen.PgenReader``.
Samples are matched by ID, never by position. tensorQTL runs on CUDA when torch sees a GPU.
Heavy imports (torch, tensorqtl) are deferred so that importing this module stays cheap.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from kgpex.errors import KgpexError

log = logging.getLogger(__name__)

# The shared intermediate layout both mappers (tensorQTL, FastQTL) write (docs/architecture.md).
CIS_COLUMNS = [
    "phenotype_id", "num_var", "beta_shape1", "beta_shape2", "true_df", "pval_true_df",
    "variant_id", "start_distance", "ma_samples", "ma_count", "af", "pval_nominal", "slope",
    "slope_se", "pval_perm", "pval_beta",
]
NOMINAL_COLUMNS = [
    "phenotype_id", "variant_id", "start_distance", "af", "ma_samples", "ma_count",
    "pval_nominal", "slope", "slope_se",
]
INDEPENDENT_COLUMNS = CIS_COLUMNS + ["rank"]
PIP_COLUMNS = ["phenotype_id", "variant_id", "pip", "af", "cs_id", "converged"]
CREDIBLE_SET_COLUMNS = [
    "phenotype_id", "cs_id", "num_variants", "coverage", "min_abs_corr", "mean_abs_corr",
    "median_abs_corr",
]

_INT_COLUMNS = {"num_var", "start_distance", "ma_samples", "ma_count", "rank"}
_STR_COLUMNS = {"phenotype_id", "variant_id", "cs_id"}


def empty_table(columns: list[str]) -> pd.DataFrame:
    """A typed table with no rows (a chromosome without genes still gets its file)."""
    dtypes = {
        c: "int64" if c in _INT_COLUMNS else object if c in _STR_COLUMNS else "float64"
        for c in columns
    }
    if "converged" in dtypes:
        dtypes["converged"] = bool
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in dtypes.items()})


class _TensorqtlLog:
    """tensorQTL writes progress through ``logger.write``; send it to the rule's log."""

    def write(self, message: str) -> None:
        log.info("tensorqtl: %s", message)


def configure_torch(threads: int) -> str:
    """Use ``threads`` CPU threads; return (and log) the device tensorQTL will run on."""
    import torch

    torch.set_num_threads(max(1, int(threads)))
    if torch.cuda.is_available():
        device = f"cuda ({torch.cuda.get_device_name(0)})"
    else:
        device = f"cpu ({torch.get_num_threads()} threads)"
    log.info("tensorQTL device: %s", device)
    return device


# --- inputs ---------------------------------------------------------------------------------


def read_phenotype_bed(path, chrom: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Phenotypes (genes x samples) and positions (``chr``, ``pos`` = 1-based TSS) of a BED.

    Only rows on ``chrom`` are kept when it is given.
    """
    path = Path(path)
    try:
        df = pd.read_csv(path, sep="\t", dtype={0: str, 3: str})
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise KgpexError(f"{path}: cannot read phenotype BED ({err})") from err
    head = [str(c) for c in df.columns[:4]]
    if len(head) < 4 or head[0].lower() != "#chr" or head[1:] != ["start", "end", "ID"]:
        raise KgpexError(f"{path}: header must start with '#Chr start end ID', found {head}")
    samples = list(df.columns[4:])
    if not samples:
        raise KgpexError(f"{path}: no sample columns after '#Chr start end ID'")
    dup = pd.Index(samples)[pd.Index(samples).duplicated()]
    if len(dup):
        raise KgpexError(f"{path}: sample column '{dup[0]}' appears twice")
    dup = df["ID"][df["ID"].duplicated()]
    if len(dup):
        raise KgpexError(f"{path} line {dup.index[0] + 2}: field ID: '{dup.iloc[0]}' appears twice")
    for column in ("start", "end"):
        if not pd.api.types.is_integer_dtype(df[column]):
            bad = pd.to_numeric(df[column], errors="coerce").isna().idxmax()
            raise KgpexError(f"{path} line {bad + 2}: field {column} is not an integer")
    values = df[samples]
    if not all(pd.api.types.is_numeric_dtype(t) for t in values.dtypes):
        bad = next(c for c in samples if not pd.api.types.is_numeric_dtype(values[c]))
        raise KgpexError(f"{path}: column {bad} holds non-numeric values")
    if values.isna().any().any():
        row = int(np.where(values.isna().any(axis=1))[0][0])
        raise KgpexError(f"{path} line {row + 2}: gene {df['ID'].iloc[row]} has missing values")
    if chrom is not None:
        df = df[df.iloc[:, 0] == chrom]
    phenotype_df = df[samples].set_axis(df["ID"].tolist(), axis=0).astype(np.float32)
    phenotype_df.index.name = "phenotype_id"
    pos_df = pd.DataFrame(
        {"chr": df.iloc[:, 0].to_numpy(), "pos": df["end"].to_numpy(dtype=np.int64)},
        index=phenotype_df.index,
    )
    return phenotype_df, pos_df


def read_covariates(path, samples: list[str]) -> pd.DataFrame:
    """Covariates as samples x covariates, rows in the order of ``samples``.

    Constant covariates (for example sex in a single-sex cohort) are dropped with a log line:
    a zero column would make the residualizer's QR basis arbitrary.
    """
    path = Path(path)
    try:
        df = pd.read_csv(path, sep="\t", dtype={0: str})
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise KgpexError(f"{path}: cannot read covariates ({err})") from err
    if df.columns[0] != "id":
        raise KgpexError(f"{path}: first header field must be 'id', found '{df.columns[0]}'")
    df = df.set_index("id")
    dup = df.index[df.index.duplicated()]
    if len(dup):
        raise KgpexError(f"{path}: covariate '{dup[0]}' appears twice")
    missing = [s for s in samples if s not in df.columns]
    if missing:
        raise KgpexError(
            f"{path}: no covariates for {len(missing)} phenotype samples, first {missing[0]}"
        )
    cov = df[samples].apply(pd.to_numeric, errors="coerce")
    if cov.isna().any().any():
        name = cov.index[cov.isna().any(axis=1)][0]
        raise KgpexError(f"{path}: covariate '{name}' has missing or non-numeric values")
    constant = cov.index[cov.nunique(axis=1) <= 1].tolist()
    if constant:
        log.warning("%s: dropping constant covariates %s", path, ", ".join(constant))
        cov = cov.drop(index=constant)
    out = cov.T.astype(np.float32)
    out.index.name = None
    return out


def load_genotypes(pgen_prefix, samples: list[str], chrom: str | None = None):
    """Genotypes (variants x samples, int8 ALT counts, -9 missing) and ``variant_df``.

    ``variant_df`` maps variant IDs to ``chrom`` and ``pos``; only ``chrom`` is kept when given.
    """
    from tensorqtl import pgen

    prefix = str(pgen_prefix)
    for ext in (".pgen", ".pvar", ".psam"):
        if not Path(prefix + ext).exists():
            raise KgpexError(f"{prefix}{ext}: genotype file not found")
    reader = pgen.PgenReader(prefix)
    psam_ids = reader.sample_id_list
    missing = [s for s in samples if s not in set(psam_ids)]
    if missing:
        raise KgpexError(
            f"{prefix}.psam: no genotypes for {len(missing)} phenotype samples, first {missing[0]}"
        )
    ids = reader.pvar_df["id"]
    if ids.duplicated().any():
        raise KgpexError(f"{prefix}.pvar: variant ID '{ids[ids.duplicated()].iloc[0]}' repeats")
    reader.set_samples(list(samples))
    variant_df = reader.pvar_df.set_index("id")[["chrom", "pos"]]
    variant_df.index.name = None
    if chrom is not None:
        keep = np.where(variant_df["chrom"].to_numpy() == chrom)[0]
    else:
        keep = np.arange(len(variant_df))
    if len(keep) == 0:
        genotype_df = pd.DataFrame(np.empty((0, len(reader.sample_ids)), dtype=np.int8),
                                   columns=reader.sample_ids)
    else:
        if not np.array_equal(keep, np.arange(keep[0], keep[-1] + 1)):
            raise KgpexError(f"{prefix}.pvar: variants of {chrom} are not contiguous")
        geno = pgen.read_range(reader.pgen_file, int(keep[0]), int(keep[-1]),
                               sample_subset=reader.sample_idxs)
        genotype_df = pd.DataFrame(geno, index=variant_df.index[keep], columns=reader.sample_ids)
    variant_df = variant_df.iloc[keep]
    pos = variant_df["pos"].to_numpy()
    if len(pos) and (np.diff(pos) < 0).any():
        raise KgpexError(f"{prefix}.pvar: variants of {chrom} are not sorted by position")
    return genotype_df, variant_df


@dataclass
class CisInputs:
    """Everything tensorQTL needs for one chromosome, samples aligned by ID."""

    phenotype_df: pd.DataFrame
    phenotype_pos_df: pd.DataFrame
    covariates_df: pd.DataFrame
    genotype_df: pd.DataFrame
    variant_df: pd.DataFrame
    chrom: str


def load_inputs(phenotype_bed, covariates, pgen_prefix, chrom: str) -> CisInputs:
    phenotype_df, pos_df = read_phenotype_bed(phenotype_bed, chrom)
    samples = list(phenotype_df.columns)
    covariates_df = read_covariates(covariates, samples)
    if len(samples) - 2 - covariates_df.shape[1] < 1:
        raise KgpexError(
            f"{covariates}: {covariates_df.shape[1]} covariates leave no degrees of freedom "
            f"for {len(samples)} samples"
        )
    genotype_df, variant_df = load_genotypes(pgen_prefix, samples, chrom)
    log.info("%s: %d genes, %d samples, %d covariates, %d variants", chrom, len(phenotype_df),
             len(samples), covariates_df.shape[1], len(variant_df))
    return CisInputs(phenotype_df, pos_df, covariates_df, genotype_df, variant_df, chrom)


def _genes_with_cis_variants(inputs: CisInputs, window: int, gene_ids=None) -> pd.Index:
    """Genes with at least one variant within ``window`` of the TSS and a non-constant phenotype."""
    pos_df = inputs.phenotype_pos_df
    if gene_ids is not None:
        pos_df = pos_df.loc[pos_df.index.isin(gene_ids)]
    variant_pos = np.sort(inputs.variant_df["pos"].to_numpy())
    lo = np.searchsorted(variant_pos, pos_df["pos"].to_numpy() - window, side="left")
    hi = np.searchsorted(variant_pos, pos_df["pos"].to_numpy() + window, side="right")
    values = inputs.phenotype_df.loc[pos_df.index].to_numpy()
    varying = (values != values[:, [0]]).any(axis=1) if len(values) else np.zeros(0, bool)
    return pos_df.index[(hi > lo) & varying]


def _subset(inputs: CisInputs, genes: pd.Index) -> tuple[pd.DataFrame, pd.DataFrame]:
    return inputs.phenotype_df.loc[genes], inputs.phenotype_pos_df.loc[genes]


def _log_untested(inputs: CisInputs, tested, what: str) -> None:
    untested = inputs.phenotype_df.index.difference(pd.Index(tested))
    if len(untested):
        log.warning("%s: %d of %d genes not tested in the %s (no variant left in the cis "
                    "window after filters, or constant expression), e.g. %s", inputs.chrom,
                    len(untested), len(inputs.phenotype_df), what, ", ".join(untested[:5]))


def pgen_prefix(pgen_path) -> str:
    """``results/x/chr1`` from ``results/x/chr1.pgen``."""
    path = str(pgen_path)
    if not path.endswith(".pgen"):
        raise KgpexError(f"{path}: expected a .pgen file")
    return path[: -len(".pgen")]


_CIS_DTYPES = {"phenotype_id": str, "variant_id": str}


def read_cis_table(path, columns: list[str] = CIS_COLUMNS) -> pd.DataFrame:
    """One permutation table of the shared layout, its columns checked and put in order."""
    try:
        df = pd.read_csv(path, sep="\t", dtype=_CIS_DTYPES, float_precision="round_trip")
    except (OSError, pd.errors.ParserError) as err:
        raise KgpexError(f"{path}: cannot read cis table ({err})") from err
    except pd.errors.EmptyDataError as err:
        raise KgpexError(f"{path}: empty file, expected at least a header") from err
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise KgpexError(f"{path}: column '{missing[0]}' missing (expected {' '.join(columns)})")
    return df[columns]


def read_cis_tables(paths) -> pd.DataFrame:
    """Permutation tables of all chromosomes, concatenated; a gene may appear only once."""
    tables = [read_cis_table(p) for p in paths]
    tables = [t for t in tables if len(t)] or tables[:1]
    cis = pd.concat(tables, ignore_index=True)
    dup = cis["phenotype_id"][cis["phenotype_id"].duplicated()]
    if len(dup):
        raise KgpexError(f"permutation tables: gene '{dup.iloc[0]}' appears twice")
    log.info("%d genes from %d permutation tables", len(cis), len(paths))
    return cis


def read_cis_genes(path) -> pd.DataFrame:
    """The all-genes table with q-values (compute_qvalues' output)."""
    return read_cis_table(path, CIS_COLUMNS + ["qval", "pval_nominal_threshold"])


# --- mapping --------------------------------------------------------------------------------


def map_permutations(inputs: CisInputs, window: int, maf: float, nperm: int,
                     seed: int) -> pd.DataFrame:
    """tensorQTL ``cis.map_cis``: the top variant and permutation p-values for each gene."""
    from tensorqtl import cis

    genes = _genes_with_cis_variants(inputs, window)
    if len(genes) == 0:
        log.warning("%s: no gene with variants in its cis window", inputs.chrom)
        return empty_table(CIS_COLUMNS)
    phenotype_df, pos_df = _subset(inputs, genes)
    res = cis.map_cis(inputs.genotype_df, inputs.variant_df, phenotype_df, pos_df,
                      covariates_df=inputs.covariates_df, maf_threshold=maf, nperm=nperm,
                      window=window, seed=seed, logger=_TensorqtlLog(), verbose=False,
                      warn_monomorphic=False)  # one line per gene otherwise; they are dropped
    res = res.reset_index()
    _log_untested(inputs, res["phenotype_id"], "permutation pass")
    return res[CIS_COLUMNS]


def map_nominal(inputs: CisInputs, window: int, maf: float) -> pd.DataFrame:
    """tensorQTL ``cis.map_nominal``: every variant-gene pair in the cis windows."""
    from tensorqtl import cis

    genes = _genes_with_cis_variants(inputs, window)
    if len(genes) == 0:
        log.warning("%s: no gene with variants in its cis window", inputs.chrom)
        return empty_table(NOMINAL_COLUMNS)
    phenotype_df, pos_df = _subset(inputs, genes)
    with tempfile.TemporaryDirectory(prefix="kgpex-nominal-") as tmp:
        cis.map_nominal(inputs.genotype_df, inputs.variant_df, phenotype_df, pos_df, "nominal",
                        covariates_df=inputs.covariates_df, maf_threshold=maf, window=window,
                        output_dir=tmp, logger=_TensorqtlLog(), verbose=False)
        files = sorted(Path(tmp).glob("nominal.cis_qtl_pairs.*.parquet"))
        pairs = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
    # A variant without variation among the samples has no test statistic.
    untestable = pairs["pval_nominal"].isna()
    if untestable.any():
        log.info("%s: dropping %d untestable (monomorphic) pairs", inputs.chrom,
                 int(untestable.sum()))
        pairs = pairs[~untestable]
    _log_untested(inputs, pairs["phenotype_id"].unique(), "nominal pass")
    return pairs[NOMINAL_COLUMNS].reset_index(drop=True)


def egenes(cis_genes: pd.DataFrame, fdr: float) -> pd.DataFrame:
    """Rows of the q-value table whose gene is an eGene (qval <= fdr)."""
    if "qval" not in cis_genes.columns:
        raise KgpexError("cis gene table has no qval column: compute q-values first")
    return cis_genes[cis_genes["qval"] <= fdr]


def map_independent(inputs: CisInputs, cis_genes: pd.DataFrame, fdr: float, window: int,
                    maf: float, nperm: int, seed: int) -> pd.DataFrame:
    """tensorQTL ``cis.map_independent`` (forward-backward stepwise) for this chromosome's eGenes.

    ``cis_genes`` must cover all chromosomes: the stepwise threshold is the largest pval_beta
    among all eGenes genome-wide, as when tensorQTL maps the whole genome at once.
    """
    from tensorqtl import cis

    signif = egenes(cis_genes, fdr)
    genes = _genes_with_cis_variants(inputs, window, gene_ids=signif["phenotype_id"])
    if len(genes) == 0:
        log.info("%s: no eGene to map conditionally", inputs.chrom)
        return empty_table(INDEPENDENT_COLUMNS)
    top = signif.set_index("phenotype_id").loc[genes, "variant_id"]
    absent = top[~top.isin(inputs.genotype_df.index)]
    if len(absent):
        raise KgpexError(f"cis gene table: top variant {absent.iloc[0]} of {absent.index[0]} "
                         f"is not among the {inputs.chrom} genotypes")
    cis_df = cis_genes.set_index("phenotype_id")
    # tensorQTL expects end_distance; a TSS phenotype has start == end.
    cis_df = cis_df.assign(end_distance=cis_df["start_distance"])
    phenotype_df, pos_df = _subset(inputs, genes)
    res = cis.map_independent(inputs.genotype_df, inputs.variant_df, cis_df, phenotype_df, pos_df,
                              covariates_df=inputs.covariates_df, maf_threshold=maf, fdr=fdr,
                              fdr_col="qval", nperm=nperm, window=window, seed=seed,
                              logger=_TensorqtlLog(), verbose=False)
    log.info("%s: %d independent signals in %d eGenes", inputs.chrom, len(res), len(genes))
    return res[INDEPENDENT_COLUMNS].reset_index(drop=True)


FINEMAPPING_METHODS = ("susier", "tensorqtl")


def _r_susier():
    """rpy2's robjects and the R package susieR, or a KgpexError saying what is missing."""
    try:
        import rpy2.robjects as ro
        from rpy2.robjects.packages import importr
    except Exception as err:
        raise KgpexError(f"fine-mapping with susieR needs R and rpy2 ({err})") from err
    try:
        return ro, importr("susieR")
    except Exception as err:
        reason = " ".join(str(err).split())
        raise KgpexError(f"fine-mapping needs the R package susieR (Debian r-cran-susier, "
                         f"conda r-susier): {reason}") from err


def _susie_fit_susier(X: np.ndarray, y: np.ndarray, L: int, coverage: float,
                      min_abs_corr: float) -> dict:
    """``susieR::susie`` with its defaults (prior variance by "optim"), as MAGE ran it."""
    ro, susier = _r_susier()
    n, p = X.shape
    x_r = ro.r["matrix"](ro.FloatVector(np.asarray(X, dtype=float).ravel(order="F")),
                         nrow=n, ncol=p)
    fit = susier.susie(x_r, ro.FloatVector(np.asarray(y, dtype=float)), L=L,
                       coverage=coverage, min_abs_corr=min_abs_corr)
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


def finemap_susie(inputs: CisInputs, gene_ids, window: int, maf: float, L: int,
                  coverage: float, min_abs_corr: float, seed: int,
                  method: str = "susier") -> tuple[pd.DataFrame, pd.DataFrame]:
    """SuSiE fine-mapping of each gene: variant PIPs and credible sets.

    Genotypes and phenotype are residualised on the covariates and filtered (monomorphic, MAF)
    as in ``tensorqtl.susie.map``. ``method`` picks the SuSiE implementation:
    - ``susier``: R susieR through rpy2 with its defaults, MAGE's method. Its prior variance is
      optimised directly ("optim"), which recovers two similar-sized effects;
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
    genes = _genes_with_cis_variants(inputs, window, gene_ids=pd.Index(gene_ids))
    if len(genes) == 0:
        log.info("%s: no gene to fine-map", inputs.chrom)
        return empty_table(PIP_COLUMNS), empty_table(CREDIBLE_SET_COLUMNS)
    log.info("%s: fine-mapping %d genes with %s", inputs.chrom, len(genes), method)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    # Purity is computed on a random subsample of variants when a set exceeds 100 of them.
    np.random.seed(seed)
    torch.manual_seed(seed)
    if method == "susier":
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
