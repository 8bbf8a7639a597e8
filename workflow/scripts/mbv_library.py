"""Rule mbv_library: QTLtools mbv on one library's BAM against the common exonic SNPs
(kgpex.identity.mbv: contig and index checks, table written only when whole)."""

import _bootstrap  # noqa: F401

from kgpex.common.rulescript import run
from kgpex.identity.mbv import run_mbv


def main(snakemake):
    run_mbv(snakemake.input.bam, snakemake.input.snps, snakemake.output[0], snakemake.log.mbv,
            min_coverage=snakemake.params.min_coverage)


run(main, snakemake)  # noqa: F821
