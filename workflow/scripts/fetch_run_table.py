"""fetch_run_table: the ENA filereport run table (URL or local file), with its query and date."""

import _bootstrap  # noqa: F401

from kgpex.common.fetch import fetch
from kgpex.common.rulescript import run
from kgpex.samples.resolve import record_query
from kgpex.samples.runtable import check_fetched_run_table


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
