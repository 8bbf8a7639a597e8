"""normalize_matrix_counts: MAGE's filter, TMM-CPM and inverse normal transform of a counts
matrix (kgpex.matrix_input); the reads path's TSS BEDs."""

import logging

import _bootstrap  # noqa: F401
import pandas as pd

from kgpex.common.rulescript import run
from kgpex.expression.matrices import write_expression_outputs
from kgpex.matrix_input.normalize import normalize_counts
from kgpex.reference.genes import read_genes


def main(snakemake):
    cfg = snakemake.params.expression
    genes = read_genes(snakemake.input.genes)
    tpm = pd.read_parquet(snakemake.input.tpm) if "tpm" in snakemake.input.keys() else None
    result = normalize_counts(
        pd.read_parquet(snakemake.input.counts), tpm, genes,
        min_tpm=cfg["min_tpm"], min_counts=cfg["min_counts"],
        min_sample_fraction=cfg["min_sample_fraction"], chromosomes=cfg["chromosomes"],
    )
    s = result.summary
    logging.getLogger("kgpex").info(
        "%d genes in, %d samples (a gene must pass in >= %d): TPM %s: %d genes, counts >= %s: %d, "
        "both %d, on chromosomes: %d; kept %d",
        s["genes_in"], s["samples"], s["min_samples"],
        f">= {cfg['min_tpm']}" if tpm is not None else "not given (counts only)", s["genes_pass_tpm"],
        cfg["min_counts"], s["genes_pass_counts"], s["genes_pass_both"], s["genes_on_chromosomes"],
        s["genes_kept"],
    )
    write_expression_outputs(result, genes, snakemake.output)


run(main, snakemake)  # noqa: F821
