# Stage effect_sizes: MAGE's effect sizes and population-aware tests of the fine-mapped lead
# variants (one row per credible set, eqtl.smk's mage_finemapping_lead_variants). Logic:
# kgpex.effect_sizes (arms: which arms run; covariate_correction and afcn: MAGE's covariate
# correction and the aFC-n model; interaction: the genotype x continental-group F-test).
#   - aFC-n: log2 allelic fold change of each lead variant, conditional on the gene's other
#     leads, from the DESeq2 matrix (expression.smk) with the significant covariates regressed
#     out -> MAGE's eQTL_finemapping.leadVariant_aFCn table.
#   - interaction: genotype x continental group on the inverse-normal phenotypes, one variant at
#     a time and with the gene's other leads in the model.
# config effect_sizes.afcn / .interaction turn them on (auto: where the entry point allows).
from kgpex.effect_sizes.arms import effect_size_arms

try:
    EFFECT_SIZE_ARMS = effect_size_arms(config)
except KgpexError as err:
    _stop(err)

LEAD_VARIANTS = rules.mage_finemapping_lead_variants.output.lead_variants
INTERACTION = f"{MAGE}/eQTL_interaction_results/eQTL_contGroup_interaction"
# Every chromosome's genotypes (the lead variants' haplotypes and dosages are read by ID).
EFFECT_SIZE_GENOTYPES = {
    ext: expand(GENOTYPE_PFILES[ext], chrom=EQTL_CHROMS)
    for ext in ("pgen", "pvar", "psam")
}
EFFECT_SIZE_OUTPUTS = (
    [f"{MAGE_FINEMAPPING}.leadVariant_aFCn.{TAG}.txt.gz"]
    if EFFECT_SIZE_ARMS.afcn
    else []
) + (
    [
        f"{INTERACTION}.singleVariant.{TAG}.txt.gz",
        f"{INTERACTION}.multiVariant.{TAG}.txt.gz",
    ]
    if EFFECT_SIZE_ARMS.interaction
    else []
)
# provenance.smk's final_outputs() calls this (a lambda: the linter wants no `def` here).
effect_size_outputs = lambda: EFFECT_SIZE_OUTPUTS


rule estimate_afcn:
    input:
        lead_variants=LEAD_VARIANTS,
        expression=DESEQ2_BED,
        covariates=COVARIATES_TABLE,
        pgens=EFFECT_SIZE_GENOTYPES["pgen"],
        pvars=EFFECT_SIZE_GENOTYPES["pvar"],
        psams=EFFECT_SIZE_GENOTYPES["psam"],
    output:
        table=f"{MAGE_FINEMAPPING}.leadVariant_aFCn.{TAG}.txt.gz",
    log:
        f"{LOGS}/estimate_afcn/estimate_afcn.log",
    conda:
        env("afcn")
    container:
        container("afcn")
    # Genes are fitted in parallel processes: lmfit's profile intervals take 0.3-0.6 s a gene.
    threads: 4
    resources:
        # The DESeq2 matrix (genes x samples, float64) and one gene's haplotypes per process.
        mem_mb=lambda wc, input, attempt: attempt * max(2000, int(2 * input.size_mb)),
        # MAGE: ~15k lead variants of ~13k genes, ~2 h of one core at 0.5 s a gene.
        runtime=lambda wc, attempt: attempt * 240,
    params:
        bound=config["effect_sizes"]["afcn_bound"],
    script:
        "../scripts/estimate_afcn.py"


rule map_group_interactions:
    input:
        lead_variants=LEAD_VARIANTS,
        phenotypes=INVERSE_NORMAL_BED,
        covariates=COVARIATES_TABLE,
        individuals=RESOLVED_INDIVIDUALS,
        pgens=EFFECT_SIZE_GENOTYPES["pgen"],
        pvars=EFFECT_SIZE_GENOTYPES["pvar"],
        psams=EFFECT_SIZE_GENOTYPES["psam"],
    output:
        single=f"{INTERACTION}.singleVariant.{TAG}.txt.gz",
        multi=f"{INTERACTION}.multiVariant.{TAG}.txt.gz",
    log:
        f"{LOGS}/map_group_interactions/map_group_interactions.log",
    conda:
        # Storey q-values through R qvalue, as compute_qvalues.
        env("tensorqtl")
    container:
        container("tensorqtl")
    threads: 1
    resources:
        mem_mb=lambda wc, input, attempt: attempt * max(2000, int(2 * input.size_mb)),
        runtime=lambda wc, attempt: attempt * 60,
    params:
        min_maf=config["effect_sizes"]["interaction_min_maf"],
        group_column="continental_group",
    script:
        "../scripts/map_group_interactions.py"
