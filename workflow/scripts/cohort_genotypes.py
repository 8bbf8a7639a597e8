"""cohort_genotypes: the cohort's biallelic, in-sample common variants of one chromosome as pgen."""

from pathlib import Path

import _bootstrap  # noqa: F401

from kgpex.common.rulescript import run
from kgpex.genotypes.cohort import cohort_genotypes
from kgpex.samples.resolve import read_resolved_individuals


def main(snakemake):
    pgen = Path(snakemake.output[0])
    cohort_genotypes(
        snakemake.input.vcf,
        snakemake.wildcards.chrom,
        {i: row["sex"] for i, row in read_resolved_individuals(snakemake.input.individuals).items()},
        pgen.with_suffix(""),
        maf=snakemake.params.maf,
        min_minor_allele_samples=snakemake.params.min_minor_allele_samples,
        id_max_allele_len=snakemake.params.id_max_allele_len,
        threads=snakemake.threads,
        # plink2's workspace; bcftools and Python need little beside it.
        memory_mb=max(snakemake.resources.mem_mb - 500, 256),
    )


run(main, snakemake)
