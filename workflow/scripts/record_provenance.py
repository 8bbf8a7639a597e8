"""record_provenance: provenance.json for one folder of final outputs (kgpex.provenance)."""

import _bootstrap  # noqa: F401

from kgpex import __version__
from kgpex.common.rulescript import run
from kgpex.provenance.record import (
    collect_tools,
    pipeline_version,
    provenance_record,
    write_provenance,
)


def main(snakemake):
    record = provenance_record(
        version=pipeline_version(snakemake.params.workflow_dir, fallback=__version__),
        config=snakemake.config,
        # run_table is absent for a cohort of individuals alone (no runs): hash what exists.
        run_tables={name: snakemake.input.get(name) for name in ("run_sources", "run_table")
                    if snakemake.input.get(name)},
        files=snakemake.input.files,
        tools=collect_tools(),
    )
    write_provenance(record, snakemake.output[0])


run(main, snakemake)
