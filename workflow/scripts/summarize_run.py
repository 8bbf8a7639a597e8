"""Rule summarize_run: the run's summary table, TSV and standalone HTML (kgpex.qc.summary)."""

import _bootstrap  # noqa: F401

from kgpex.common.rulescript import run


def main(snakemake):
    from kgpex.qc.summary import summarize, write_summary

    inputs = snakemake.input
    summary, not_used = summarize(
        snakemake.params.expression_input,
        snakemake.params.fdr,
        inputs.phenotypes,
        inputs.cis_genes,
        run_mapping=inputs.get("run_mapping"),
        run_status=inputs.get("run_status"),
        library_choice=inputs.get("library_choice"),
        individuals=inputs.get("individuals"),
        sqtl_cis_genes=inputs.get("sqtl_cis_genes"),
    )
    write_summary(summary, not_used, snakemake.output.tsv, snakemake.output.html, snakemake.params.title)


run(main, snakemake)  # noqa: F821
