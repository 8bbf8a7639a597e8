"""MAGE's eQTL permutation_pass table (23 columns, bgzip + tabix on geneChrom/geneChromTSS)."""

import _bootstrap  # noqa: F401

from kgpex.common.rulescript import run


def main(snakemake):
    from kgpex.eqtl import mage_files, mage_format, tables
    from kgpex.eqtl import rsids as eqtl_rsids
    from kgpex.reference.genes import read_genes

    cis_genes = tables.read_cis_genes(snakemake.input.cis_genes)
    genes = read_genes(snakemake.input.genes)
    rsids = eqtl_rsids.read_rsid_table(snakemake.input.get("rsids"))
    table = mage_format.permutation_table(cis_genes, genes, rsids)
    mage_files.write_position_indexed(table, snakemake.output.table, "geneChrom",
                                       "geneChromTSS")


run(main, snakemake)  # noqa: F821
