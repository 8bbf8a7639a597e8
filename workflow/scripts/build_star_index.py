"""Rule star_index: STAR's genome index of the genome FASTA and GTF (kgpex.alignment.star), with
sjdbOverhang = the longest read of the run table minus one unless the config sets it."""

import logging

import _bootstrap  # noqa: F401

from kgpex.alignment.star import build_index, read_length
from kgpex.common.rulescript import run
from kgpex.samples.runtable import read_layouts
from kgpex.samples.sheets import read_tsv

log = logging.getLogger("kgpex")


def main(snakemake):
    overhang = snakemake.params.sjdb_overhang
    if overhang == "auto":
        length = read_length(read_tsv(snakemake.input.run_table),
                             read_layouts(snakemake.input.sources))  # fmt: skip
        overhang = length - 1
        log.info("longest read %d bp: --sjdbOverhang %d", length, overhang)
    build_index(snakemake.input.genome, snakemake.input.gtf, snakemake.output[0],
                int(overhang), snakemake.threads, snakemake.log.star)  # fmt: skip


run(main, snakemake)  # noqa: F821
