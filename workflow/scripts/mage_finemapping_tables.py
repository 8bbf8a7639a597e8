"""MAGE's fine-mapping tables: credibleSet_summary, allAssociations, significantAssociations."""

import _bootstrap  # noqa: F401

from kgpex.rulescript import run


def main(snakemake):
    from kgpex import mage_tables

    genes = mage_tables.read_genes(snakemake.input.genes)
    rsids = mage_tables.read_rsid_table(snakemake.input.get("rsids"))
    mage_tables.write_finemapping_tables(snakemake.input.pips, snakemake.input.credible_sets,
                                         genes, rsids, snakemake.output.credible_sets,
                                         snakemake.output.all_variants,
                                         snakemake.output.significant_variants)


run(main, snakemake)  # noqa: F821
