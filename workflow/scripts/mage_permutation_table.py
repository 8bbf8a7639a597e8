"""MAGE's eQTL permutation_pass table (23 columns, bgzip + tabix on geneChrom/geneChromTSS)."""

import _bootstrap  # noqa: F401

from kgpex.rulescript import run


def main(snakemake):
    from kgpex import mage_tables, qtl

    cis_genes = qtl.read_cis_genes(snakemake.input.cis_genes)
    genes = mage_tables.read_genes(snakemake.input.genes)
    rsids = mage_tables.read_rsid_table(snakemake.input.get("rsids"))
    table = mage_tables.permutation_table(cis_genes, genes, rsids)
    mage_tables.write_position_indexed(table, snakemake.output.table, "geneChrom",
                                       "geneChromTSS")


run(main, snakemake)  # noqa: F821
