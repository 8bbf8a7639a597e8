"""Rule split_phenotypes_by_chrom: one tabixed phenotype BED per chromosome for FastQTL."""

import _bootstrap  # noqa: F401

from kgpex.common.rulescript import run
from kgpex.fastqtl.inputs import split_phenotypes


def main(snakemake):
    chromosomes = snakemake.params.chromosomes
    split_phenotypes(
        snakemake.input.bed, chromosomes, dict(zip(chromosomes, snakemake.output.beds))
    )


run(main, snakemake)  # noqa: F821
