"""MAGE's nominal_pass allAssociations and significantAssociations (bgzip + tabix)."""

import _bootstrap  # noqa: F401

from kgpex.common.rulescript import run


def main(snakemake):
    from kgpex.eqtl import mage_files, tables
    from kgpex.eqtl import rsids as eqtl_rsids
    from kgpex.reference.genes import read_genes

    cis_genes = tables.read_cis_genes(snakemake.input.cis_genes)
    genes = read_genes(snakemake.input.genes)
    rsids = eqtl_rsids.read_rsid_table(snakemake.input.get("rsids"))
    mage_files.write_nominal_tables(snakemake.input.pairs, cis_genes, genes, rsids,
                                     snakemake.params.fdr, snakemake.output.all_pairs,
                                     snakemake.output.significant_pairs)


run(main, snakemake)  # noqa: F821
