"""normalize_array_expression: log2 array intensities to one profile per individual
(expression.matrix.array_normalization: stranger2012, each individual's replicate arrays
quantile-normalised together and averaged, then median normalisation across individuals; quantile,
replicates averaged, then quantile normalisation across individuals), annotated and variable
probes on the configured chromosomes, per-probe inverse normal transform (kgpex.matrix_input);
TSS BEDs."""

import logging

import _bootstrap  # noqa: F401
import pandas as pd

from kgpex.common.rulescript import run
from kgpex.matrix_input.normalize import normalize_array, write_array_outputs
from kgpex.reference.genes import read_genes


def main(snakemake):
    genes = read_genes(snakemake.input.genes)
    arrays = pd.read_csv(
        snakemake.input.arrays, sep="\t", dtype=str, keep_default_na=False, index_col="array"
    )["individual"]
    result = normalize_array(
        pd.read_parquet(snakemake.input.matrix), genes, snakemake.params.chromosomes,
        arrays=arrays, method=snakemake.params.method,
    )
    s = result.summary
    logging.getLogger("kgpex").info(
        "%d probes x %d arrays of %d individuals normalised (%s); %d annotated, %d on the "
        "chromosomes, %d constant; kept %d",
        s["genes_in"], s["arrays"], s["samples"], s["method"], s["genes_annotated"],
        s["genes_on_chromosomes"], s["genes_constant"], s["genes_kept"],
    )
    write_array_outputs(result, genes, snakemake.output)


run(main, snakemake)  # noqa: F821
