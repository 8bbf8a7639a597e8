"""How many hidden factors? eGenes of one chromosome against the number of expression PCs.

GTEx chose its PEER factor counts (15/30/45/60 by sample size) where cis-eGene discovery stopped
rising. This diagnostic repeats that scan for a cohort: for each count K, the covariates are the
genotype PCs, the first K hidden factors and sex, built exactly as ``kgpex.covariates`` builds
them (the same PCA, join and collinearity check), and tensorQTL's permutation pass runs on one
chromosome; eGenes are the genes at Storey q <= FDR over that chromosome's genes.

The factors are recomputed here up to the largest count, not read from the run's covariates
table, which holds only the count the run used. A count that would leave tensorQTL no residual
degree of freedom (or exceeds the matrix's rank) is skipped and logged, with the limit the
pipeline's own clamp applies (``kgpex.covariates.hidden_factors.hidden_factor_count``).

Output: ``n_factors genes_tested egenes`` (tab-separated), and a plot of eGenes against K with
the count the run used marked.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from kgpex.common import plotting
from kgpex.common.errors import KgpexError
from kgpex.common.io import write_table
from kgpex.covariates.assemble import (
    drop_collinear,
    genotype_pc_covariates,
    join_by_sample,
    sex_covariate,
)
from kgpex.covariates.hidden_factors import (
    HIDDEN_FACTOR_PREFIX,
    expression_pcs,
    hidden_factor_count,
    read_expression_bed,
)
from kgpex.eqtl.cis import map_permutations
from kgpex.eqtl.inputs import CisInputs, load_genotypes, read_phenotype_bed
from kgpex.eqtl.qvalues import storey_qvalues_or_bh

log = logging.getLogger(__name__)

SCAN_COLUMNS = ["n_factors", "genes_tested", "egenes"]


def check_counts(counts) -> list[int]:
    """The counts to try, sorted and without repeats; each an integer >= 0."""
    if not counts:
        raise KgpexError("config covariates.factor_scan.counts: no count to try")
    for count in counts:
        if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 0:
            raise KgpexError(
                f"config covariates.factor_scan.counts: expected integers >= 0, got {count!r}"
            )
    return sorted({int(c) for c in counts})


def count_egenes(pvalues, fdr: float, lambda_=None) -> int:
    """Genes at Storey q <= ``fdr``; lambda = 0 (Benjamini-Hochberg) when qvalue cannot
    estimate pi0 from these p-values (a chromosome of few genes), as for interaction q-values."""
    p = np.asarray(pvalues, dtype=float)
    p = p[~np.isnan(p)]
    if p.size == 0:
        return 0
    q, _ = storey_qvalues_or_bh(p, lambda_, "gene p-values")
    return int((q <= fdr).sum())


def scan_hidden_factor_counts(
    phenotype_bed: str | Path,
    pgen_prefix: str,
    chrom: str,
    genotype_pcs: str | Path,
    n_genotype_pcs: int,
    individuals: dict[str, dict],
    individuals_source: str,
    counts,
    window: int,
    maf: float,
    nperm: int,
    seed: int,
    fdr: float,
    qvalue_lambda=None,
) -> pd.DataFrame:
    """eGenes on ``chrom`` for each hidden factor count: ``n_factors genes_tested egenes``."""
    counts = check_counts(counts)
    phenotype_df, pos_df = read_phenotype_bed(phenotype_bed, chrom)
    if phenotype_df.empty:
        raise KgpexError(f"{phenotype_bed}: no gene on {chrom}, the factor scan's chromosome")
    # The factors are PCs of the whole matrix (every chromosome), as rule hidden_factors has them.
    expression = read_expression_bed(phenotype_bed)
    n_genes, n_samples = expression.shape
    samples = list(expression.columns)
    pcs = genotype_pc_covariates(genotype_pcs, n_genotype_pcs)
    sex = sex_covariate({i: row for i, row in individuals.items() if i in set(samples)},
                        individuals_source)
    n_other = pcs.shape[1] + 1
    limit = hidden_factor_count(counts[-1], n_samples, n_genes, n_other)
    for count in (c for c in counts if c > limit):
        log.warning("factor scan: %d hidden factors skipped: at most %d fit %d samples, %d genes "
                    "and %d other covariates", count, limit, n_samples, n_genes, n_other)
    counts = [c for c in counts if c <= limit]
    factors, _ = expression_pcs(expression, max(counts, default=0))
    genotype_df, variant_df = load_genotypes(pgen_prefix, samples, chrom)
    log.info("factor scan on %s: %d genes, %d samples, %d variants, %d permutations; counts %s",
             chrom, len(phenotype_df), n_samples, len(variant_df), nperm,
             ", ".join(map(str, counts)))

    rows = []
    for count in counts:
        covariates = join_by_sample(samples, {
            str(genotype_pcs): pcs,
            f"{HIDDEN_FACTOR_PREFIX}1..{count}": factors.iloc[:, :count],
            str(individuals_source): sex,
        })
        kept, _ = drop_collinear(covariates)
        covariates_df = (kept.loc[phenotype_df.columns].astype(np.float32).rename_axis(None)
                         if kept.shape[1] else None)
        inputs = CisInputs(phenotype_df, pos_df, covariates_df, genotype_df, variant_df, chrom)
        table = map_permutations(inputs, window, maf, nperm, seed)
        tested = table["pval_beta"].notna()
        egenes = count_egenes(table.loc[tested, "pval_beta"], fdr, qvalue_lambda)
        log.info("factor scan: %d hidden factors: %d of %d genes tested, %d eGenes at q <= %g",
                 count, int(tested.sum()), len(phenotype_df), egenes, fdr)
        rows.append((count, int(tested.sum()), egenes))
    return pd.DataFrame(rows, columns=SCAN_COLUMNS).astype("int64")


def used_factor_count(covariates_table: str | Path) -> int:
    """The hidden factor count of the run: the highest ``InvNorm_PC<k>`` row of its covariates
    table (MAGE's layout, ``eQTL_covariates.tab.gz``), 0 without one."""
    path = Path(covariates_table)
    try:
        ids = pd.read_csv(path, sep="\t", usecols=[0], dtype=str).iloc[:, 0]
    except (OSError, ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise KgpexError(f"{path}: cannot read covariates ({err})") from err
    numbers = ids.str.extract(rf"^{HIDDEN_FACTOR_PREFIX}(\d+)$", expand=False).dropna()
    return int(numbers.astype(int).max()) if len(numbers) else 0


def plot_factor_scan(table: pd.DataFrame, used: int | None, fdr: float, chrom: str, nperm: int,
                     dest: str | Path) -> None:
    """eGenes against the hidden factor count; the count the run used as a vertical line."""
    plt = plotting.pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4))
    if table.empty:
        ax.text(0.5, 0.5, "no hidden factor count fits this cohort", ha="center",
                va="center", transform=ax.transAxes)
        ax.set_xticks([] if used is None else [used])
        ax.set_yticks([])
    else:
        ax.plot(table["n_factors"], table["egenes"], marker="o", color=plotting.ACCENT)
        ax.set_ylim(bottom=0, top=max(1, int(table["egenes"].max())) * 1.12)
        ax.set_xticks(table["n_factors"])  # the counts tried, not fractions
    if used is not None:
        ax.axvline(used, color=plotting.REFERENCE, linestyle="--", linewidth=1)
        # The label on the side of the line with more room.
        left = not table.empty and used > table["n_factors"].mean()
        ax.annotate(f"used by this run: {used}", xy=(used, 1), xycoords=("data", "axes fraction"),
                    xytext=(-4 if left else 4, -4), textcoords="offset points",
                    ha="right" if left else "left", va="top", color=plotting.REFERENCE)
    plotting.label_axes(ax, ("hidden factors", "count"), (f"eGenes at q ≤ {fdr:g}", "count"),
                        title=f"eGenes on {chrom} by hidden factor count ({nperm} permutations)")
    plotting.save_figure(fig, dest)


def write_factor_scan(table: pd.DataFrame, dest: str | Path) -> None:
    write_table(table[SCAN_COLUMNS], dest, index=False)
