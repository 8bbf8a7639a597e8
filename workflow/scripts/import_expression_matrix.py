"""import_expression_matrix: the matrix (and TPM matrix) checked against the individuals and the
annotation, columns sorted, as parquet (kgpex.matrix_input). Arrays: the matrix's columns are
arrays, each an individual's (the arrays table, or one column per individual without one), written
as arrays.tsv (array individual) beside the parquet."""

import logging

import _bootstrap  # noqa: F401
import pandas as pd

from kgpex.common.io import write_parquet, write_table
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
    # Replicate arrays: columns are arrays, the table names individuals. keys(): a Namedlist's
    # "in" looks at its values (paths), not its names.
    if "arrays" in inp.keys():  # noqa: SIM118
        arrays = read.read_arrays_table(inp.arrays)
        matrix, arrays = read.check_arrays(
            matrix, arrays, individuals, inp.matrix, inp.arrays, inp.individuals
        )
    else:
        matrix = read.check_individuals(matrix, individuals, inp.matrix, inp.individuals)
        arrays = pd.Series(list(matrix.columns), index=pd.Index(matrix.columns, name="array"), name="individual")
    if params.kind == "counts":
        read.check_counts(matrix, inp.matrix)
    else:
        read.check_log2_intensities(matrix, inp.matrix)
    matrix = read.check_annotated(matrix, genes, inp.matrix, inp.genes, params.drop_unannotated)
    log.info("%s matrix: %d genes x %d columns (%d individuals)", params.kind, *matrix.shape, arrays.nunique())
    if "tpm" in inp.keys():
        tpm = read.read_matrix(inp.tpm, label="TPM matrix")
        read.check_counts(tpm, inp.tpm)
        if params.drop_unannotated:  # the genes left out of the counts leave the TPM too
            tpm = tpm.loc[tpm.index.isin(genes.index)]
        tpm = read.check_same_shape(matrix, tpm, inp.matrix, inp.tpm)
        write_parquet(tpm, snakemake.output.tpm)
    if params.kind == "array":
        write_table(arrays.to_frame(), snakemake.output.arrays, index=True, index_label="array")
    write_parquet(matrix, snakemake.output.matrix)


run(main, snakemake)  # noqa: F821
