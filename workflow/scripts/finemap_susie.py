"""SuSiE fine-mapping of one chromosome's eGenes: variant PIPs and credible-set summary."""

import _bootstrap  # noqa: F401

from kgpex.common.rulescript import run


def main(snakemake):
    from kgpex.common.io import write_parquet, write_table
    from kgpex.eqtl import finemapping, tables
    from kgpex.eqtl import inputs as eqtl_inputs

    eqtl_inputs.configure_torch(snakemake.threads)
    p = snakemake.params
    cis_genes = tables.read_cis_genes(snakemake.input.cis_genes)
    inputs = eqtl_inputs.load_inputs(snakemake.input.phenotypes, snakemake.input.covariates,
                             eqtl_inputs.pgen_prefix(snakemake.input.pgen), snakemake.wildcards.chrom)
    egenes = tables.egenes(cis_genes, p.fdr)["phenotype_id"]
    pips, credible_sets = finemapping.finemap_susie(inputs, egenes, p.window, p.maf, p.L, p.coverage,
                                            p.min_abs_corr, p.seed, method=p.method)
    write_parquet(pips, snakemake.output.pips)
    write_table(credible_sets, snakemake.output.credible_sets, index=False, na_rep="NA")


run(main, snakemake)  # noqa: F821
