"""MAGE's eQTL_summary: one row per gene that passed the expression filter."""

import _bootstrap  # noqa: F401

from kgpex.rulescript import run


def main(snakemake):
    from kgpex import mage_tables, qtl
    from kgpex.io import write_table

    cis_genes = qtl.read_cis_genes(snakemake.input.cis_genes)
    genes = mage_tables.read_genes(snakemake.input.genes)
    table = mage_tables.summary_from_files(snakemake.input.phenotypes, genes, cis_genes,
                                           snakemake.input.significant_pairs,
                                           snakemake.input.credible_sets, snakemake.params.fdr)
    write_table(table, snakemake.output.summary, index=False)


run(main, snakemake)  # noqa: F821
