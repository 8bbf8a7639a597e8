"""download_vcf: one chromosome's phased VCF and its .tbi, verified (bgzip, index, md5)."""

import _bootstrap  # noqa: F401

from kgpex.genotypes import download_vcf
from kgpex.rulescript import run


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
