"""record_provenance: provenance.json for one folder of final outputs (kgpex.provenance)."""

import _bootstrap  # noqa: F401

from kgpex import __version__
from kgpex.provenance import collect_tools, pipeline_version, provenance_record, write_provenance
from kgpex.rulescript import run


def main(snakemake):
    record = provenance_record(
        version=pipeline_version(snakemake.params.workflow_dir, fallback=__version__),
        config=snakemake.config,
        run_tables={"run_sources": snakemake.input.run_sources,
                    "run_table": snakemake.input.run_table},
        files=snakemake.input.files,
        tools=collect_tools(),
    )
    write_provenance(record, snakemake.output[0])


run(main, snakemake)
