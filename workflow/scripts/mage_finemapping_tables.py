"""MAGE's fine-mapping tables: credibleSet_summary, allAssociations, significantAssociations."""

import _bootstrap  # noqa: F401

from kgpex.common.rulescript import run


def main(snakemake):
    from kgpex.eqtl import mage_files
    from kgpex.eqtl import rsids as eqtl_rsids
    from kgpex.reference.genes import read_genes

    genes = read_genes(snakemake.input.genes)
    rsids = eqtl_rsids.read_rsid_table(snakemake.input.get("rsids"))
    mage_files.write_finemapping_tables(snakemake.input.pips, snakemake.input.credible_sets,
                                         genes, rsids, snakemake.output.credible_sets,
                                         snakemake.output.all_variants,
                                         snakemake.output.significant_variants)


run(main, snakemake)  # noqa: F821
