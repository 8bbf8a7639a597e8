"""Rule merge_fastqtl_nominal: a chromosome's chunks -> the shared nominal parquet, with af."""

import _bootstrap  # noqa: F401

from kgpex.common.rulescript import run
from kgpex.fastqtl.inputs import bed_phenotype_ids, read_alt_frequencies
from kgpex.fastqtl.merge import nominal_to_parquet


def main(snakemake):
    nominal_to_parquet(
        snakemake.input.chunks,
        read_alt_frequencies(snakemake.input.alt_counts),
        bed_phenotype_ids(snakemake.input.bed),
        snakemake.output[0],
        snakemake.wildcards.chrom,
    )


run(main, snakemake)  # noqa: F821
