"""Storey q-values over all genes of all chromosomes, and per-gene nominal thresholds.

params.grouped (the sQTL rule): the tables have one row per phenotype group (gene), with
group_id and group_size, and the q-values are over groups. params.qvalue_fallback_bh (the sQTL
rule): where R qvalue cannot estimate pi0 from the genes (a few dozen sQTL genes),
Benjamini-Hochberg is used, with a warning."""

import _bootstrap  # noqa: F401

from kgpex.common.rulescript import run


def main(snakemake):
    from kgpex.common.io import write_table
    from kgpex.eqtl import qvalues
    from kgpex.eqtl import tables as eqtl_tables

    grouped = getattr(snakemake.params, "grouped", False)
    cis = eqtl_tables.read_cis_tables(snakemake.input.tables, grouped=grouped)
    annotated = qvalues.annotate_qvalues(cis, snakemake.params.fdr, snakemake.params.qvalue_lambda,
                                         fallback_bh=getattr(snakemake.params,
                                                             "qvalue_fallback_bh", False))
    write_table(annotated, snakemake.output.genes, index=False, na_rep="NA")


run(main, snakemake)  # noqa: F821
