"""resolve_samples: the cohort's individuals, runs, run sources and run mapping (kgpex.samples)."""

import logging

import _bootstrap  # noqa: F401

from kgpex.common.rulescript import run
from kgpex.samples.resolve import ResolvedPaths, resolve

log = logging.getLogger("kgpex")


def main(snakemake):
    out = ResolvedPaths(
        snakemake.output.individuals,
        snakemake.output.runs,
        snakemake.output.sources,
        snakemake.output.mapping,
    )
    inputs = {name: str(path) for name, path in snakemake.input.items()}
    sheets = resolve(
        snakemake.params.method,
        inputs,
        out,
        snakemake.params.settings,
        default_batch=snakemake.params.default_batch,
        scheme=snakemake.params.scheme,
    )
    log.info("%d individuals, %d runs", len(sheets.individuals), len(sheets.runs))


run(main, snakemake)
