"""SuSiE fine-mapping of one chromosome's eGenes: variant PIPs and credible-set summary."""

import _bootstrap  # noqa: F401

from kgpex.rulescript import run


def main(snakemake):
    from kgpex import qtl
    from kgpex.io import write_parquet, write_table

    qtl.configure_torch(snakemake.threads)
    p = snakemake.params
    cis_genes = qtl.read_cis_genes(snakemake.input.cis_genes)
    inputs = qtl.load_inputs(snakemake.input.phenotypes, snakemake.input.covariates,
                             qtl.pgen_prefix(snakemake.input.pgen), snakemake.wildcards.chrom)
    egenes = qtl.egenes(cis_genes, p.fdr)["phenotype_id"]
    pips, credible_sets = qtl.finemap_susie(inputs, egenes, p.window, p.maf, p.L, p.coverage,
                                            p.min_abs_corr, p.seed, method=p.method)
    write_parquet(pips, snakemake.output.pips)
    write_table(credible_sets, snakemake.output.credible_sets, index=False, na_rep="NA")


run(main, snakemake)  # noqa: F821
