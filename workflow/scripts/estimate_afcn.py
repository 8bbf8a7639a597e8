"""aFC-n of the fine-mapped lead variants (MAGE's eQTL_finemapping.leadVariant_aFCn table):
MAGE's covariate correction, then the joint aFC-n fit per gene (kgpex.effect_sizes.afcn).

input: lead_variants (the 10-column lead-variant table), expression (log2 DESeq2 BED),
covariates (``id <samples>``), pgens (one .pgen per chromosome, named <chrom>.pgen, beside its
.pvar and .psam). output: table. params: bound (|log2 aFC| limit, 6.64). threads > 1 fits
genes in that many processes.
"""

import _bootstrap  # noqa: F401

from kgpex.common.rulescript import run


def main(snakemake):
    from kgpex.effect_sizes import afcn
    from kgpex.eqtl.inputs import pgen_prefixes_by_chrom

    prefixes = pgen_prefixes_by_chrom(snakemake.input.pgens)
    lead = afcn.read_lead_variants(snakemake.input.lead_variants)
    table = afcn.estimate_lead_variant_afc(
        lead, snakemake.input.expression, snakemake.input.covariates, prefixes,
        bound=float(snakemake.params.bound), threads=int(snakemake.threads),
    )
    afcn.write_afcn_table(table, snakemake.output.table)


run(main, snakemake)  # noqa: F821
