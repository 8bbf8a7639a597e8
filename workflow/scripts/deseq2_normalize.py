"""Rule deseq2_normalize: MAGE's DESeq2-normalised, log2(x + 1) expression of the chosen
libraries (tximport + DESeq2 in R), filtered like the other matrices; a TSS BED."""

import logging

import _bootstrap  # noqa: F401

from kgpex.common.rulescript import run
from kgpex.expression.deseq2 import deseq2_expression_bed

log = logging.getLogger("kgpex")


def main(snakemake):
    s = deseq2_expression_bed(
        snakemake.input.quant,
        snakemake.input.choice,
        snakemake.input.tx2gene,
        snakemake.input.gene_filter,
        snakemake.input.genes,
        snakemake.output.bed,
    )
    log.info(
        "DESeq2 on %d genes x %d samples; kept %d genes (the expression filter's); "
        "size factors (geometric mean of normalisation factors) %.4g (%s) to %.4g (%s)",
        s["genes_in"], s["samples"], s["genes_kept"],
        s["factor_min"], s["factor_min_library"], s["factor_max"], s["factor_max_library"],
    )


run(main, snakemake)  # noqa: F821
