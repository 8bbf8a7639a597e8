"""Rule select_libraries: one library per individual (most fragments); salmon's library types."""

import logging

import _bootstrap  # noqa: F401
import pandas as pd

from kgpex.common.io import write_table
from kgpex.common.rulescript import run
from kgpex.expression.libraries import choose_libraries, library_types_table, salmon_run_info
from kgpex.samples.resolve import read_resolved_runs

log = logging.getLogger("kgpex")


def main(snakemake):
    sheet = read_resolved_runs(snakemake.input.runs)
    runs = sorted(sheet)
    individuals = {r: sheet[r]["individual"] for r in runs}
    batches = {r: sheet[r]["batch"] for r in runs}
    infos = [
        salmon_run_info(r, fmt, meta)
        for r, fmt, meta in zip(runs, snakemake.input.lib_format, snakemake.input.meta_info)
    ]
    types = library_types_table(infos, snakemake.params.requested_format, batches)
    for row in types.itertuples():
        if row.percent_mapped < 50 or row.compatible_fragment_ratio < 0.9:
            log.warning(
                "run %s: %.1f%% mapped, compatible fragment ratio %.3f (library type %s)",
                row.run_accession, row.percent_mapped, row.compatible_fragment_ratio, row.salmon_format,
            )
    log.info("salmon library types: %s", types["salmon_format"].value_counts().to_dict())
    choice = choose_libraries(
        pd.DataFrame(
            {
                "run_accession": types["run_accession"],
                "individual": [individuals[r] for r in types["run_accession"]],
                "num_processed": types["num_processed"],
            }
        )
    )
    for row in choice[choice["n_libraries"] > 1].itertuples():
        log.info("%s: kept %s of %s", row.individual, row.run_accession, row.runs_considered)
    log.info("%d individuals, %d libraries", len(choice), len(types))
    write_table(types, snakemake.output.types, index=False)
    write_table(choice, snakemake.output.choice, index=False)


run(main, snakemake)  # noqa: F821
