"""Rule merge_fastqtl_permutations: a chromosome's chunks -> the shared cis permutation table."""

import _bootstrap  # noqa: F401

from kgpex.common.rulescript import run
from kgpex.fastqtl.inputs import bed_phenotype_ids
from kgpex.fastqtl.merge import permutations_to_table, write_permutation_table


def main(snakemake):
    table = permutations_to_table(
        snakemake.input.chunks, bed_phenotype_ids(snakemake.input.bed), snakemake.wildcards.chrom
    )
    write_permutation_table(table, snakemake.output[0])


run(main, snakemake)  # noqa: F821
