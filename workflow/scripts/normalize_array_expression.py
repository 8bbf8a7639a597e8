"""normalize_array_expression: quantile normalisation of log2 array intensities, annotated and
variable probes on the configured chromosomes, per-probe inverse normal transform
(kgpex.matrix_input); TSS BEDs."""

import logging

import _bootstrap  # noqa: F401
import pandas as pd

from kgpex.common.rulescript import run
from kgpex.matrix_input.normalize import normalize_array, write_array_outputs
from kgpex.reference.genes import read_genes


def main(snakemake):
    genes = read_genes(snakemake.input.genes)
    result = normalize_array(pd.read_parquet(snakemake.input.matrix), genes, snakemake.params.chromosomes)
    s = result.summary
    logging.getLogger("kgpex").info(
        "%d probes x %d samples quantile-normalised; %d annotated, %d on the chromosomes, "
        "%d constant; kept %d",
        s["genes_in"], s["samples"], s["genes_annotated"], s["genes_on_chromosomes"],
        s["genes_constant"], s["genes_kept"],
    )
    write_array_outputs(result, genes, snakemake.output)


run(main, snakemake)  # noqa: F821
