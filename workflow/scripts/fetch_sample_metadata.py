"""fetch_sample_metadata: a file a sample method joins runs to (MAGE's library table, an SDRF,
the 1000 Genomes panel), checked (sha256 where pinned, parseable) before it gets its name."""

import functools

import _bootstrap  # noqa: F401

from kgpex.common.fetch import fetch
from kgpex.common.rulescript import run
from kgpex.samples.resolve import check_metadata


def main(snakemake):
    fetch(
        snakemake.params.url,
        snakemake.output[0],
        check=functools.partial(check_metadata, snakemake.wildcards.metadata, sha256=snakemake.params.sha256),
        **snakemake.params.options,
    )


run(main, snakemake)
