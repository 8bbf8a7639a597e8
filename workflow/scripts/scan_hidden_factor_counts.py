"""Rule scan_hidden_factor_counts: eGenes of one chromosome for each hidden factor count
(config covariates.factor_scan) -> output.table (n_factors genes_tested egenes) and
output.plot, the count the run used (its covariates table) marked."""

import os

import _bootstrap  # noqa: F401

from kgpex.common.rulescript import run


def main(snakemake):
    # Before torch loads OpenMP: its idle threads spin, and on cores shared with other jobs a
    # 2-thread scan of the demo took 100-140 s instead of 13 s (passive waiting).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    # Deferred: torch and tensorqtl load only in the job that maps.
    from kgpex.eqtl import factor_scan, inputs
    from kgpex.samples.sheets import read_tsv

    inputs.configure_torch(snakemake.threads)
    p, out = snakemake.params, snakemake.output
    sheet = snakemake.input.individuals
    table = factor_scan.scan_hidden_factor_counts(
        snakemake.input.phenotypes,
        inputs.pgen_prefix(snakemake.input.pgen),
        p.chrom,
        snakemake.input.genotype_pcs,
        p.n_genotype_pcs,
        {row["individual"]: row for row in read_tsv(sheet)},
        sheet,
        p.counts,
        window=p.window,
        maf=p.maf,
        nperm=p.permutations,
        seed=p.seed,
        fdr=p.fdr,
        qvalue_lambda=p.qvalue_lambda,
    )
    factor_scan.write_factor_scan(table, out.table)
    used = factor_scan.used_factor_count(snakemake.input.covariates)
    factor_scan.plot_factor_scan(table, used, p.fdr, p.chrom, p.permutations, out.plot)


run(main, snakemake)  # noqa: F821
