"""fetch_run_table: the ENA filereport run table (URL or local file) -> results/{cohort}/download/."""

import _bootstrap  # noqa: F401

from kgpex.download import fetch
from kgpex.rulescript import run
from kgpex.runtable import read_run_table


def main(snakemake):
    # Parse before the rename: a truncated or HTML error page never becomes run_table.tsv.
    fetch(
        snakemake.params.url,
        snakemake.output[0],
        check=read_run_table,
        **snakemake.params.options,
    )


run(main, snakemake)
