"""Rule identity_snps: the cohort's common biallelic exonic SNPs on the autosomes, for QTLtools
mbv (kgpex.identity.snps)."""

import logging

import _bootstrap  # noqa: F401

from kgpex.common.rulescript import run
from kgpex.identity.snps import common_exonic_snps
from kgpex.samples.sheets import read_ids

log = logging.getLogger("kgpex")


def main(snakemake):
    individuals = read_ids(snakemake.input.individuals, "individual")
    n = common_exonic_snps(
        list(snakemake.input.vcfs), snakemake.input.gtf, individuals,
        list(snakemake.params.chromosomes), snakemake.params.min_maf, snakemake.output.vcf,
    )  # fmt: skip
    log.info("%d common (MAF >= %s) biallelic exonic SNPs of %d individuals",
             n, snakemake.params.min_maf, len(individuals))  # fmt: skip


run(main, snakemake)  # noqa: F821
