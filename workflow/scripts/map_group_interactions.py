"""Genotype x continental-group interaction test of the fine-mapped lead variants (MAGE's
EQ/run_interaction_test; kgpex.effect_sizes.interaction), single- and multi-variant models.

input: lead_variants (the 10-column lead-variant table), phenotypes (inverse-normal TMM BED),
covariates (``id <samples>``), individuals (``individual ... <group_column>``), pgens (one .pgen
per chromosome, named <chrom>.pgen, beside its .pvar and .psam).
output: single, multi (gzip TSV: gene_id variant_id variant_chr variant_pos interaction_pval
qval; NA where not tested). params: min_maf (group MAF in two groups), group_column.
"""

import _bootstrap  # noqa: F401

from kgpex.common.rulescript import run


def main(snakemake):
    import logging

    from kgpex.effect_sizes import interaction
    from kgpex.eqtl.inputs import pgen_prefixes_by_chrom

    log = logging.getLogger("map_group_interactions")
    prefixes = pgen_prefixes_by_chrom(snakemake.input.pgens)
    single, multi = interaction.run_interaction_tests(
        snakemake.input.lead_variants, snakemake.input.phenotypes, snakemake.input.covariates,
        prefixes, snakemake.input.individuals, group_column=snakemake.params.group_column,
        min_maf=float(snakemake.params.min_maf),
    )
    for name, table in (("single-variant", single), ("multi-variant", multi)):
        counts = interaction.summary_counts(table)
        log.info("%s: %d tested, %d not testable (NA), %d with p < 0.05", name,
                 counts["tested"], counts["not_testable"], counts["p_below_0.05"])
    interaction.write_interaction_results(single, snakemake.output.single)
    interaction.write_interaction_results(multi, snakemake.output.multi)


run(main, snakemake)  # noqa: F821
