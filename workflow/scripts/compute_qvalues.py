"""Storey q-values over all genes of all chromosomes, and per-gene nominal thresholds."""

import _bootstrap  # noqa: F401

from kgpex.rulescript import run


def main(snakemake):
    from kgpex import qtl, qvalues
    from kgpex.io import write_table

    cis = qtl.read_cis_tables(snakemake.input.tables)
    annotated = qvalues.annotate_qvalues(cis, snakemake.params.fdr, snakemake.params.qvalue_lambda)
    write_table(annotated, snakemake.output.genes, index=False, na_rep="NA")


run(main, snakemake)  # noqa: F821
