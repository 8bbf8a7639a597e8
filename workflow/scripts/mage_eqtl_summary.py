"""MAGE's eQTL_summary: one row per gene that passed the expression filter."""

import _bootstrap  # noqa: F401

from kgpex.common.rulescript import run


def main(snakemake):
    from kgpex.common.io import write_table
    from kgpex.eqtl import mage_files, tables
    from kgpex.reference.genes import read_genes

    cis_genes = tables.read_cis_genes(snakemake.input.cis_genes)
    genes = read_genes(snakemake.input.genes)
    table = mage_files.summary_from_files(snakemake.input.phenotypes, genes, cis_genes,
                                           snakemake.input.significant_pairs,
                                           snakemake.input.credible_sets, snakemake.params.fdr)
    write_table(table, snakemake.output.summary, index=False)


run(main, snakemake)  # noqa: F821
