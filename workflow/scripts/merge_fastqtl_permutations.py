"""Rule merge_fastqtl_permutations: a chromosome's chunks -> the shared cis permutation table
(merge_fastqtl_sqtl_permutations: a grouped pass, one row per gene, with input.groups)."""

import _bootstrap  # noqa: F401

from kgpex.common.rulescript import run
from kgpex.eqtl.inputs import read_phenotype_groups
from kgpex.fastqtl.inputs import bed_phenotype_ids
from kgpex.fastqtl.merge import permutations_to_table, write_permutation_table


def main(snakemake):
    # Namedlist: `in` would test the values, not the names.
    grouped = "groups" in snakemake.input.keys()  # noqa: SIM118
    table = permutations_to_table(
        snakemake.input.chunks, bed_phenotype_ids(snakemake.input.bed), snakemake.wildcards.chrom,
        groups=read_phenotype_groups(snakemake.input.groups) if grouped else None,
    )
    write_permutation_table(table, snakemake.output[0])


run(main, snakemake)  # noqa: F821
