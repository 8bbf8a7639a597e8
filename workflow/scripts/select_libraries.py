"""Rule select_libraries: one library per individual (most fragments); salmon's library types;
every run's final status (run_status.tsv)."""

import logging

import _bootstrap  # noqa: F401
import pandas as pd

from kgpex.common.io import write_table
from kgpex.common.rulescript import run
from kgpex.expression.libraries import (
    choose_libraries,
    library_types_table,
    salmon_library_info,
)
from kgpex.identity.mbv import apply_policy, describe, read_identity_table
from kgpex.samples.libraries import RUN_STATUS_COLUMNS, final_statuses
from kgpex.samples.resolve import read_resolved_runs
from kgpex.samples.sheets import read_tsv

log = logging.getLogger("kgpex")


def main(snakemake):
    sheet = read_resolved_runs(snakemake.input.runs)
    runs: dict[str, list[str]] = {}
    individuals: dict[str, str] = {}
    batches: dict[str, set[str]] = {}
    for acc in sorted(sheet):
        row = sheet[acc]
        runs.setdefault(row["library"], []).append(acc)
        individuals[row["library"]] = row["individual"]
        batches.setdefault(row["library"], set()).add(row["batch"])
    libraries = sorted(runs)  # per_library's order
    # The identity check (alignment on): identity.on_mismatch stops here, before any matrix,
    # or leaves the flagged runs' libraries out of the choice (exclude), or only reports.
    identity, flagged = None, set()
    if snakemake.input.get("identity"):
        calls = read_identity_table(snakemake.input.identity)
        identity = {run_acc: describe(row) for run_acc, row in calls.items()}
        flagged = set(apply_policy(list(calls.values()), snakemake.params.on_mismatch))
        for run_acc in sorted(flagged):
            log.warning("run %s left out: identity check %s", run_acc, identity[run_acc])
    flagged_libraries = {sheet[acc]["library"] for acc in flagged}
    infos = [
        salmon_library_info(lib, fmt, meta)
        for lib, fmt, meta in zip(libraries, snakemake.input.lib_format, snakemake.input.meta_info)
    ]
    # A library pooled from runs of several batches shows them all.
    batch = {lib: "+".join(sorted(b)) for lib, b in batches.items()}
    types = library_types_table(infos, snakemake.params.requested_format, batch, runs)
    for row in types.itertuples():
        if row.percent_mapped < 50 or row.compatible_fragment_ratio < 0.9:
            log.warning(
                "library %s: %.1f%% mapped, compatible fragment ratio %.3f (library type %s)",
                row.library, row.percent_mapped, row.compatible_fragment_ratio, row.salmon_format,
            )
    log.info("salmon library types: %s", types["salmon_format"].value_counts().to_dict())
    candidates = types[~types["library"].isin(flagged_libraries)]
    choice = choose_libraries(
        pd.DataFrame(
            {
                "library": candidates["library"],
                "individual": [individuals[lib] for lib in candidates["library"]],
                "runs": candidates["runs"],
                "num_processed": candidates["num_processed"],
            }
        )
    )
    for row in choice[choice["n_libraries"] > 1].itertuples():
        log.info("%s: kept %s of %s", row.individual, row.library, row.libraries_considered)
    mapping = read_tsv(snakemake.input.mapping)
    statuses = pd.DataFrame(
        final_statuses(
            mapping,
            set(choice["library"]),
            identity=identity,
            identity_excluded={
                row["run_accession"] for row in mapping if row["library"] in flagged_libraries
            },
        ),
        columns=list(RUN_STATUS_COLUMNS),
    )
    log.info(
        "%d individuals, %d libraries, %d runs: %s",
        len(choice), len(types), len(statuses), statuses["status"].value_counts().to_dict(),
    )
    write_table(types, snakemake.output.types, index=False)
    write_table(choice, snakemake.output.choice, index=False)
    write_table(statuses, snakemake.output.run_status, index=False)


run(main, snakemake)  # noqa: F821
