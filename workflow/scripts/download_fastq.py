"""download_fastq: both mates of one run, from ENA (md5- and FASTQ-checked) or from SRA."""

import _bootstrap  # noqa: F401

import logging
import os
from pathlib import Path

from kgpex.download import check_fastq_gz, fetch, sra_to_fastq
from kgpex.errors import KgpexError
from kgpex.rulescript import run
from kgpex.runtable import read_checked_row

log = logging.getLogger("kgpex")


def main(snakemake):
    run_accession = snakemake.wildcards.run
    source = read_checked_row(snakemake.input.checked, run_accession)
    mate1, mate2 = Path(snakemake.output.mate1), Path(snakemake.output.mate2)
    if source.source == "sra":
        log.info("%s has no FASTQ on ENA: fetching it from SRA", run_accession)
        got = sra_to_fastq(run_accession, mate1.parent, threads=snakemake.threads)
        for path, dest in zip(got, (mate1, mate2)):
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

    mates = (
        (source.url_1, mate1, source.md5_1, source.bytes_1, check_mate1),
        (source.url_2, mate2, source.md5_2, source.bytes_2, check_mate2),
    )
    for url, dest, md5, size, check in mates:
        fetch(url, dest, md5=md5 or None, size=size or None, check=check, **snakemake.params.options)
    log.info("%s: %d read pairs", run_accession, reads[1])


run(main, snakemake)
