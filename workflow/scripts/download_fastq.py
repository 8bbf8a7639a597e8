"""download_fastq / download_fastq_single: one run's FASTQs (both mates of a paired run, or the
one file of a single-end run), from ENA (md5- and FASTQ-checked) or from SRA."""

import logging
import os
from pathlib import Path

import _bootstrap  # noqa: F401

from kgpex.common.errors import KgpexError
from kgpex.common.fetch import fetch
from kgpex.common.rulescript import run
from kgpex.download.reads import check_fastq_gz, sra_to_fastq
from kgpex.samples.runtable import PAIRED, SINGLE, read_checked_row

log = logging.getLogger("kgpex")


def main(snakemake):
    run_accession = snakemake.wildcards.run
    source = read_checked_row(snakemake.input.checked, run_accession)
    single = "reads" in snakemake.output.keys()
    layout = SINGLE if single else PAIRED
    if source.layout != layout:
        raise KgpexError(
            f"{snakemake.input.checked}: run {run_accession} is {source.layout}, "
            f"but rule {snakemake.rule} downloads {layout} runs"
        )
    dests = (
        [Path(snakemake.output.reads)]
        if single
        else [Path(snakemake.output.mate1), Path(snakemake.output.mate2)]
    )
    if source.source == "sra":
        log.info("%s has no FASTQ on ENA: fetching it from SRA (%s)", run_accession, layout)
        got = sra_to_fastq(run_accession, dests[0].parent, threads=snakemake.threads, layout=layout)
        for path, dest in zip(got, dests):
            if path != dest:
                os.replace(path, dest)
        return

    reads = {}

    def check_mate1(path):
        reads[1] = check_fastq_gz(path)

    def check_mate2(path):
        reads[2] = check_fastq_gz(path)
        if reads[2] != reads[1]:
            raise KgpexError(
                f"{run_accession}: {source.url_1} has {reads[1]} reads but {source.url_2} has {reads[2]}"
            )

    files = [(source.url_1, dests[0], source.md5_1, source.bytes_1, check_mate1)]
    if not single:
        files.append((source.url_2, dests[1], source.md5_2, source.bytes_2, check_mate2))
    for url, dest, md5, size, check in files:
        fetch(url, dest, md5=md5 or None, size=size or None, check=check, **snakemake.params.options)
    log.info("%s: %d %s", run_accession, reads[1], "reads" if single else "read pairs")


run(main, snakemake)
