"""Rule run_multiqc: MultiQC over every quantified library's salmon folder (kgpex.qc.multiqc)."""

import os

import _bootstrap  # noqa: F401

from kgpex.common.rulescript import run


def main(snakemake):
    from kgpex.qc.multiqc import run_multiqc

    # A library's folder holds its lib_format_counts.json (salmon_quant's declared output).
    folders = [os.path.dirname(path) for path in snakemake.input.lib_format]
    run_multiqc(
        folders,
        snakemake.input.runs,
        snakemake.params.tag,
        snakemake.output.html,
        snakemake.output.data,
    )


run(main, snakemake)  # noqa: F821
