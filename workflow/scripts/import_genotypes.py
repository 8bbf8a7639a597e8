"""import_genotypes: the user's VCF or PLINK 2 fileset as the cohort's pgen of one chromosome
(kgpex.genotypes.user)."""

from pathlib import Path

import _bootstrap  # noqa: F401

from kgpex.common.rulescript import run
from kgpex.genotypes.user import import_genotypes
from kgpex.samples.resolve import read_resolved_individuals


def main(snakemake):
    import_genotypes(
        snakemake.wildcards.chrom,
        list(read_resolved_individuals(snakemake.input.individuals)),
        Path(snakemake.output[0]).with_suffix(""),
        vcf=snakemake.input.get("vcf") or None,
        pfile=snakemake.params.pfile or None,
        maf=snakemake.params.maf,
        id_max_allele_len=snakemake.params.id_max_allele_len,
        threads=snakemake.threads,
        memory_mb=max(snakemake.resources.mem_mb - 500, 256),
    )


run(main, snakemake)  # noqa: F821
