"""The report stage's rules (report.smk): one plot per rule, drawn from the run's own files by
kgpex.report.plots; the rule's name picks the plot."""

import logging
from pathlib import Path

import _bootstrap  # noqa: F401

from kgpex.common.rulescript import run

log = logging.getLogger("kgpex")


def mapping_rates(snakemake, plots):
    # salmon/{library}/aux_info/meta_info.json: the library is the folder two levels up.
    metas = {Path(p).parent.parent.name: p for p in snakemake.input.meta_info}
    rates = plots.mapping_rates(metas, snakemake.input.runs, snakemake.input.choice)
    log.info("%d libraries, median %.1f%% mapped", len(rates), rates["percent_mapped"].median())
    plots.plot_mapping_rates(rates, snakemake.output.plot)


def library_types(snakemake, plots):
    counts, requested = plots.library_type_counts(snakemake.input.types)
    log.info("library types: %s", counts.sum(axis=1).to_dict())
    plots.plot_library_types(counts, requested, snakemake.output.plot)


def expression_pca(snakemake, plots):
    scores, explained = plots.expression_pca(
        snakemake.input.bed,
        snakemake.input.individuals,
        choice=snakemake.input.get("choice"),
        runs=snakemake.input.get("runs"),
    )
    log.info("%d samples; variance explained: %s", len(scores), explained.round(4).to_dict())
    plots.plot_expression_pca(scores, explained, snakemake.output.plot)


def pvalue_qq(snakemake, plots):
    pvalues = plots.gene_pvalues(snakemake.input.cis_genes)
    plots.plot_pvalue_qq(pvalues, snakemake.output.plot, title=snakemake.params.title)


def lead_tss_distance(snakemake, plots):
    distances = plots.lead_tss_distances(
        snakemake.input.lead_variants, snakemake.input.genes, stranded=snakemake.params.stranded
    )
    plots.plot_lead_tss_distance(distances, snakemake.output.plot,
                                 window_bp=snakemake.params.window)


def credible_sets(snakemake, plots):
    sizes, pips = plots.credible_sets(snakemake.input.credible_sets,
                                      snakemake.input.lead_variants)
    plots.plot_credible_sets(sizes, pips, snakemake.output.plot)


def afc_distribution(snakemake, plots):
    values = plots.afc_values(snakemake.input.afcn)
    plots.plot_afc_distribution(values, snakemake.output.plot, bound=snakemake.params.bound)


def egenes_per_chromosome(snakemake, plots):
    counts = plots.egenes_per_chromosome(
        snakemake.input.cis_genes, snakemake.input.genes, snakemake.params.fdr
    )
    log.info("eGenes per chromosome: %s", counts["eGenes"].to_dict())
    plots.plot_egenes_per_chromosome(counts, snakemake.output.plot, snakemake.params.fdr)


PLOTS = {
    "plot_mapping_rates": mapping_rates,
    "plot_library_types": library_types,
    "plot_expression_pca": expression_pca,
    "plot_pvalue_qq": pvalue_qq,
    "plot_lead_tss_distance": lead_tss_distance,
    "plot_credible_sets": credible_sets,
    "plot_afc_distribution": afc_distribution,
    "plot_egenes_per_chromosome": egenes_per_chromosome,
}


def main(snakemake):
    from kgpex.report import plots

    PLOTS[snakemake.rule](snakemake, plots)


run(main, snakemake)  # noqa: F821
