"""import_phenotype_bed: the user's phenotype BED as the expression stage's BED, its genes table
and the cohort (its sample columns) (kgpex.matrix_input.bed)."""

import _bootstrap  # noqa: F401

from kgpex.common.rulescript import run
from kgpex.matrix_input.bed import import_phenotype_bed, write_cohort_tables


def main(snakemake):
    data = import_phenotype_bed(
        snakemake.input.bed,
        snakemake.params.chromosomes,
        snakemake.output.bed,
        snakemake.output.genes,
        label=snakemake.params.source,
    )
    write_cohort_tables(
        data.samples,
        snakemake.output.individuals,
        snakemake.output.runs,
        snakemake.output.sources,
        snakemake.output.mapping,
    )


run(main, snakemake)  # noqa: F821
