"""Report figure: gene-level p-value QQ plot and histogram, genes tested and eGenes."""

import _bootstrap  # noqa: F401

from kgpex.common.rulescript import run


def main(snakemake):
    from kgpex.eqtl import plots, tables
    from kgpex.reference.genes import read_genes

    cis_genes = tables.read_cis_genes(snakemake.input.cis_genes)
    genes = read_genes(snakemake.input.genes)
    plots.plot_cis_overview(cis_genes, genes["chrom"], snakemake.params.fdr,
                                 snakemake.output.plot, title=snakemake.params.title)


run(main, snakemake)  # noqa: F821
