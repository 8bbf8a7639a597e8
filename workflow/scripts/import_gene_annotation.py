"""import_gene_annotation: a gene/probe annotation TSV as a genes table (kgpex.matrix_input)."""

import logging

import _bootstrap  # noqa: F401

from kgpex.common.io import write_table
from kgpex.common.rulescript import run
from kgpex.matrix_input.read import read_annotation_table


def main(snakemake):
    genes = read_annotation_table(snakemake.input.table)
    logging.getLogger("kgpex").info("%d annotated genes or probes on %d chromosomes", len(genes), genes["chrom"].nunique())
    write_table(genes, snakemake.output.genes, index=True, index_label="gene_id")


run(main, snakemake)  # noqa: F821
