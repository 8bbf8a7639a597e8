"""MAGE's nominal_pass allAssociations and significantAssociations (bgzip + tabix)."""

import _bootstrap  # noqa: F401

from kgpex.rulescript import run


def main(snakemake):
    from kgpex import mage_tables, qtl

    cis_genes = qtl.read_cis_genes(snakemake.input.cis_genes)
    genes = mage_tables.read_genes(snakemake.input.genes)
    rsids = mage_tables.read_rsid_table(snakemake.input.get("rsids"))
    mage_tables.write_nominal_tables(snakemake.input.pairs, cis_genes, genes, rsids,
                                     snakemake.params.fdr, snakemake.output.all_pairs,
                                     snakemake.output.significant_pairs)


run(main, snakemake)  # noqa: F821
