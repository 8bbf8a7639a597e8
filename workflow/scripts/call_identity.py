"""Rule call_identity: each run's verdict (match, swap, unclear) from its library's mbv table,
in identity.tsv, and the report's concordance plot (kgpex.identity)."""

import logging
from collections import Counter

import _bootstrap  # noqa: F401

from kgpex.common.rulescript import run
from kgpex.identity.mbv import Thresholds, call_identity, read_mbv, write_identity_table
from kgpex.identity.plots import plot_concordance
from kgpex.samples.resolve import read_resolved_runs

log = logging.getLogger("kgpex")


def main(snakemake):
    runs = read_resolved_runs(snakemake.input.runs)
    # per_library's order: sorted library names.
    libraries = sorted({row["library"] for row in runs.values()})
    tables = dict(zip(libraries, snakemake.input.mbv))
    thresholds = Thresholds(**snakemake.params.thresholds)
    calls = []
    for run_accession in sorted(runs):
        row = runs[run_accession]
        mbv_rows = read_mbv(tables[row["library"]])
        calls.append(call_identity(run_accession, row["individual"], mbv_rows, thresholds))
    write_identity_table(calls, snakemake.output.table)
    plot_concordance(calls, snakemake.output.plot, thresholds.min_margin)
    log.info("identity of %d runs: %s", len(calls), dict(Counter(c.verdict for c in calls)))
    for call in calls:
        if call.verdict != "match":
            log.warning("run %s labelled %s: %s (%s)", call.run, call.labelled_individual,
                        call.verdict, call.reason)  # fmt: skip


run(main, snakemake)  # noqa: F821
