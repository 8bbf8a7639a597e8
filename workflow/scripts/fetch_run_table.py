"""fetch_run_table: the ENA filereport run table (URL or local file), with its query and date."""

import _bootstrap  # noqa: F401

from kgpex.download import fetch
from kgpex.rulescript import run
from kgpex.runtable import check_fetched_run_table
from kgpex.samples import record_query


def main(snakemake):
    # Parse before the rename: a truncated or HTML error page never becomes run_table.tsv.
    fetch(
        snakemake.params.url,
        snakemake.output.table,
        check=check_fetched_run_table,
        **snakemake.params.options,
    )
    record_query(snakemake.params.url, snakemake.output.table, snakemake.output.query)


run(main, snakemake)
