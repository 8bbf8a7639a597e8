"""Report figure: gene-level p-value QQ plot and histogram, genes tested and eGenes."""

import _bootstrap  # noqa: F401

from kgpex.rulescript import run


def main(snakemake):
    from kgpex import eqtl_plots, mage_tables, qtl

    cis_genes = qtl.read_cis_genes(snakemake.input.cis_genes)
    genes = mage_tables.read_genes(snakemake.input.genes)
    eqtl_plots.plot_cis_overview(cis_genes, genes["chrom"], snakemake.params.fdr,
                                 snakemake.output.plot, title=snakemake.params.title)


run(main, snakemake)  # noqa: F821
