"""Rule star_index: STAR's genome index of the genome FASTA and GTF (kgpex.alignment.star), with
the sjdbOverhang the rule computed (the run table's longest read minus one, unless the config
sets it)."""

import logging

import _bootstrap  # noqa: F401

from kgpex.alignment.star import build_index
from kgpex.common.rulescript import run

log = logging.getLogger("kgpex")


def main(snakemake):
    overhang = int(snakemake.params.sjdb_overhang)
    log.info("--sjdbOverhang %d", overhang)
    build_index(snakemake.input.genome, snakemake.input.gtf, snakemake.output[0],
                overhang, snakemake.threads, snakemake.log.star)  # fmt: skip


run(main, snakemake)  # noqa: F821
