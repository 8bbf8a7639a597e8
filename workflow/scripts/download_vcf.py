"""download_vcf: one chromosome's phased VCF and its .tbi, verified (bgzip, index, md5)."""

import _bootstrap  # noqa: F401

from kgpex.common.rulescript import run
from kgpex.genotypes.vcf import download_vcf


def main(snakemake):
    download_vcf(
        snakemake.params.url,
        snakemake.wildcards.chrom,
        snakemake.output.vcf,
        md5sums_url=snakemake.params.md5sums_url,
        threads=snakemake.threads,
        options=snakemake.params.options,
    )


run(main, snakemake)
