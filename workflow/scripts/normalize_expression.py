"""Rule normalize_expression: MAGE's filter, TMM-CPM and inverse normal transform; TSS BEDs."""

import logging

import _bootstrap  # noqa: F401
import pandas as pd

from kgpex.common.rulescript import run
from kgpex.expression.libraries import read_library_choice
from kgpex.expression.matrices import normalize_expression, write_expression_outputs
from kgpex.reference.genes import read_genes

log = logging.getLogger("kgpex")


def main(snakemake):
    cfg = snakemake.params.expression
    genes = read_genes(snakemake.input.genes)
    result = normalize_expression(
        pd.read_parquet(snakemake.input.counts),
        pd.read_parquet(snakemake.input.tpm),
        read_library_choice(snakemake.input.choice),
        genes,
        min_tpm=cfg["min_tpm"],
        min_counts=cfg["min_counts"],
        min_sample_fraction=cfg["min_sample_fraction"],
        chromosomes=cfg["chromosomes"],
    )
    s = result.summary
    log.info(
        "%d genes in, %d samples (a gene must pass in >= %d): TPM >= %s in %d genes, "
        "counts >= %s in %d, both %d, on %s: %d; kept %d",
        s["genes_in"], s["samples"], s["min_samples"], cfg["min_tpm"], s["genes_pass_tpm"],
        cfg["min_counts"], s["genes_pass_counts"], s["genes_pass_both"],
        ",".join(cfg["chromosomes"]), s["genes_on_chromosomes"], s["genes_kept"],
    )
    write_expression_outputs(result, genes, snakemake.output)


run(main, snakemake)  # noqa: F821
