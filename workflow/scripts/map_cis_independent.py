"""Conditionally independent cis-eQTLs (tensorQTL forward-backward) of one chromosome's eGenes."""

import _bootstrap  # noqa: F401

from kgpex.rulescript import run


def main(snakemake):
    from kgpex import qtl
    from kgpex.io import write_table

    qtl.configure_torch(snakemake.threads)
    p = snakemake.params
    cis_genes = qtl.read_cis_genes(snakemake.input.cis_genes)
    inputs = qtl.load_inputs(snakemake.input.phenotypes, snakemake.input.covariates,
                             qtl.pgen_prefix(snakemake.input.pgen), snakemake.wildcards.chrom)
    table = qtl.map_independent(inputs, cis_genes, p.fdr, p.window, p.maf, p.permutations,
                                p.seed)
    write_table(table, snakemake.output.table, index=False, na_rep="NA")


run(main, snakemake)  # noqa: F821
