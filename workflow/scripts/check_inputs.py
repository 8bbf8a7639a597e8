"""check_inputs: GTF (or a matrix's own annotation), VCF headers and resolved sheets checked before expensive jobs (kgpex.preflight)."""

import logging

import _bootstrap  # noqa: F401

from kgpex.common.rulescript import run
from kgpex.preflight.input_checks import check_inputs

log = logging.getLogger("kgpex")


def main(snakemake):
    findings = check_inputs(
        snakemake.input.individuals,
        snakemake.input.runs,
        snakemake.input.sources,
        snakemake.input.get("gtf"),
        dict(snakemake.params.vcf_sources),
        snakemake.output[0],
        gene_records=snakemake.params.gene_records,
        gtf_label=snakemake.params.gtf_source,
        download=dict(snakemake.params.download),
        genes=snakemake.input.get("genes"),
        genes_label=snakemake.params.genes_source,
        build=snakemake.params.build,
        covariates=snakemake.input.get("covariates"),
        psams=dict(snakemake.params.psams),
        any_ids=snakemake.params.any_ids,
    )
    for finding in findings:
        log.info("%s: %s: %s", finding.input, finding.source, finding.finding)


run(main, snakemake)
