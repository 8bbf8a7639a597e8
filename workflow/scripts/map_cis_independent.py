"""Conditionally independent cis-eQTLs (tensorQTL forward-backward) of one chromosome's eGenes."""

import _bootstrap  # noqa: F401

from kgpex.common.rulescript import run


def main(snakemake):
    from kgpex.common.io import write_table
    from kgpex.eqtl import cis as eqtl_cis
    from kgpex.eqtl import inputs as eqtl_inputs
    from kgpex.eqtl import tables

    eqtl_inputs.configure_torch(snakemake.threads)
    p = snakemake.params
    cis_genes = tables.read_cis_genes(snakemake.input.cis_genes)
    inputs = eqtl_inputs.load_inputs(snakemake.input.phenotypes, snakemake.input.covariates,
                             eqtl_inputs.pgen_prefix(snakemake.input.pgen), snakemake.wildcards.chrom)
    table = eqtl_cis.map_independent(inputs, cis_genes, p.fdr, p.window, p.maf, p.permutations,
                                p.seed)
    write_table(table, snakemake.output.table, index=False, na_rep="NA")


run(main, snakemake)  # noqa: F821
