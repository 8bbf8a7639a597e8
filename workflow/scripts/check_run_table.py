"""check_run_table: one source of paired reads (ENA URLs or SRA) per run of the runs sheet."""

import _bootstrap  # noqa: F401

from kgpex.rulescript import run
from kgpex.runtable import check_run_table, write_checked
from kgpex.sheets import load_sheets


def main(snakemake):
    sheets = load_sheets(snakemake.input.individuals, snakemake.input.runs)
    sources = check_run_table(
        snakemake.input.run_table,
        sheets.runs,
        scheme=snakemake.params.scheme,
        runs_label=snakemake.input.runs,
    )
    write_checked(sources, snakemake.output[0])


run(main, snakemake)
