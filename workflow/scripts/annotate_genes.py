"""annotate_genes: genes.tsv, tx2gene.tsv and tss.bed from the GENCODE GTF (kgpex.annotation)."""

import logging

import _bootstrap  # noqa: F401

from kgpex.common.rulescript import run
from kgpex.reference.annotation import annotate_genes


def main(snakemake):
    annotation = annotate_genes(
        snakemake.input.gtf,
        snakemake.params.chromosomes,
        snakemake.output.genes,
        snakemake.output.tx2gene,
        snakemake.output.tss_bed,
    )
    logging.getLogger("kgpex").info(
        "%d genes, %d transcripts", len(annotation.genes), len(annotation.tx2gene)
    )


run(main, snakemake)
