"""resolve_samples: the cohort's individuals, runs and run sources (kgpex.samples)."""

import _bootstrap  # noqa: F401

import logging

from kgpex.rulescript import run
from kgpex.samples import ResolvedPaths, check_method, resolve_from_sheets

log = logging.getLogger("kgpex")


def main(snakemake):
    method = snakemake.params.method
    check_method(method)
    out = ResolvedPaths(snakemake.output.individuals, snakemake.output.runs, snakemake.output.sources)
    sheets = resolve_from_sheets(
        snakemake.input.individuals,
        snakemake.input.runs,
        snakemake.input.run_table,
        out,
        scheme=snakemake.params.scheme,
    )
    log.info("%d individuals, %d runs", len(sheets.individuals), len(sheets.runs))


run(main, snakemake)
