"""Rule export_genotypes_vcf: a chromosome's pgen as FastQTL's VCF (GT, phenotype samples)."""

import _bootstrap  # noqa: F401

from kgpex.common.io import phenotype_bed_header
from kgpex.common.rulescript import run
from kgpex.fastqtl.inputs import export_genotypes_vcf


def main(snakemake):
    export_genotypes_vcf(
        snakemake.input.pgen[: -len(".pgen")],
        phenotype_bed_header(snakemake.input.bed)[4:],
        snakemake.output.vcf,
        snakemake.output.alt_counts,
        threads=snakemake.threads,
        memory_mb=snakemake.resources.mem_mb,
    )


run(main, snakemake)  # noqa: F821
