"""Storey q-values over all genes of all chromosomes, and per-gene nominal thresholds."""

import _bootstrap  # noqa: F401

from kgpex.common.rulescript import run


def main(snakemake):
    from kgpex.common.io import write_table
    from kgpex.eqtl import qvalues
    from kgpex.eqtl import tables as eqtl_tables

    cis = eqtl_tables.read_cis_tables(snakemake.input.tables)
    annotated = qvalues.annotate_qvalues(cis, snakemake.params.fdr, snakemake.params.qvalue_lambda)
    write_table(annotated, snakemake.output.genes, index=False, na_rep="NA")


run(main, snakemake)  # noqa: F821
