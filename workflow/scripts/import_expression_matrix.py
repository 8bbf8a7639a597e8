"""import_expression_matrix: the matrix (and TPM matrix) checked against the individuals and the
annotation, columns sorted, as parquet (kgpex.matrix_input)."""

import logging

import _bootstrap  # noqa: F401

from kgpex.common.io import write_parquet
from kgpex.common.rulescript import run
from kgpex.matrix_input import read
from kgpex.reference.genes import read_genes
from kgpex.samples.resolve import read_resolved_individuals

log = logging.getLogger("kgpex")


def main(snakemake):
    inp, params = snakemake.input, snakemake.params
    individuals = sorted(read_resolved_individuals(inp.individuals))
    genes = read_genes(inp.genes)
    matrix = read.read_matrix(inp.matrix)
    matrix = read.check_individuals(matrix, individuals, inp.matrix, inp.individuals)
    if params.kind == "counts":
        read.check_counts(matrix, inp.matrix)
    else:
        read.check_log2_intensities(matrix, inp.matrix)
    matrix = read.check_annotated(matrix, genes, inp.matrix, inp.genes, params.drop_unannotated)
    log.info("%s matrix: %d genes x %d individuals", params.kind, *matrix.shape)
    if "tpm" in inp.keys():
        tpm = read.read_matrix(inp.tpm, label="TPM matrix")
        read.check_counts(tpm, inp.tpm)
        if params.drop_unannotated:  # the genes left out of the counts leave the TPM too
            tpm = tpm.loc[tpm.index.isin(genes.index)]
        tpm = read.check_same_shape(matrix, tpm, inp.matrix, inp.tpm)
        write_parquet(tpm, snakemake.output.tpm)
    write_parquet(matrix, snakemake.output.matrix)


run(main, snakemake)  # noqa: F821
