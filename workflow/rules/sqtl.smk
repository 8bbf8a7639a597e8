# Stage sqtl: cis-sQTL mapping of the intron phenotypes (splicing.smk), as MAGE's
# 06_sQTL_mapping: covariates (sex, genotype PCs, PCs of the splicing matrix), a permutation pass
# grouped by gene (tensorQTL's grouped map_cis, or FastQTL --grp under eqtl.mapper: fastqtl), a
# nominal pass per intron, Storey q-values over genes, SuSiE per intron of each sGene, the
# intron-level credible sets merged into gene-level ones, and MAGE's tables
# (kgpex.sqtl.tables, kgpex.sqtl.gene_level). The eQTL rules run here on the splicing inputs
# (`use rule`), so both arms share one mapper, one q-value and one fine-mapping code path; the
# mapping settings are eqtl.* (mapper, window, maf, permutations, fdr, finemapping).
SQTL = f"{RESULTS}/sqtl"
SQTL_PERMUTATIONS = f"{SQTL}/{{mapper}}/permutations/{{chrom}}.tsv.gz"
SQTL_NOMINAL = f"{SQTL}/{{mapper}}/nominal/{{chrom}}.parquet"
SQTL_CIS_GENES = f"{SQTL}/{EQTL_MAPPER}/cis_genes.tsv.gz"
SQTL_COVARIATES = f"{SPLICING_QUANTS}/sQTL_covariates.tab.gz"
SQTL_NOMINAL_MAGE = f"{SQTL_MAGE}/sQTL_nominal_results/sQTL_FastQTL_results"
SQTL_FINEMAPPING = f"{SQTL_MAGE}/sQTL_finemapping_results/sQTL_finemapping"
SQTL_MAPPING_INPUTS = {
    **GENOTYPE_PFILES,
    "phenotypes": SPLICING_BED,
    "covariates": SQTL_COVARIATES,
}
SQTL_FINEMAPPING_Z = (
    {"nominal": SQTL_NOMINAL.format(mapper=EQTL_MAPPER, chrom="{chrom}")}
    if config["eqtl"]["finemapping"]["method"] == "susier_rss"
    else {}
)
# FastQTL's own per-chromosome inputs for the introns.
SQTL_FASTQTL = f"{SQTL}/fastqtl"
SQTL_FASTQTL_BED = f"{SQTL_FASTQTL}/phenotypes/{{chrom}}.bed.gz"
SQTL_FASTQTL_VCF = f"{SQTL_FASTQTL}/genotypes/{{chrom}}.vcf.gz"
SQTL_OUTPUTS = [
    SQTL_COVARIATES,
    f"{SQTL_NOMINAL_MAGE}.permutation_pass.{TAG}.txt.gz",
    f"{SQTL_NOMINAL_MAGE}.nominal_pass.allAssociations.{TAG}.txt.gz",
    f"{SQTL_NOMINAL_MAGE}.nominal_pass.significantAssociations.{TAG}.txt.gz",
    f"{SQTL_FINEMAPPING}.credibleSet_summary.{TAG}.txt.gz",
    f"{SQTL_FINEMAPPING}.allAssociations.{TAG}.txt.gz",
    f"{SQTL_FINEMAPPING}.significantAssociations.{TAG}.txt.gz",
    f"{SQTL_FINEMAPPING}.geneMerged.significantAssociations.{TAG}.txt.gz",
    f"{SQTL_FINEMAPPING}.geneMerged.leadVariant.{TAG}.txt.gz",
]
# provenance.smk's final_outputs() calls this (a lambda: Snakemake's linter wants no `def` here).
sqtl_outputs = lambda: SQTL_OUTPUTS if SPLICING_ON else []


use rule hidden_factors as splicing_hidden_factors with:
    input:
        expression=SPLICING_BED,
    output:
        factors=f"{SQTL}/covariates/hidden_factors.tsv",
        variance=f"{SQTL}/covariates/hidden_factors.variance.tsv",
        plot=report(
            f"{SQTL}/covariates/hidden_factors.png",
            caption="../report/splicing_hidden_factors.rst",
            category="sQTL",
        ),
    log:
        f"{LOGS}/splicing_hidden_factors/splicing_hidden_factors.log",
    params:
        setting=SPLICING_CONFIG["hidden_factors"],
        n_other_covariates=config["genotypes"]["pca"]["n_covariate_pcs"] + 1,


use rule assemble_covariates as assemble_splicing_covariates with:
    input:
        expression=SPLICING_BED,
        genotype_pcs=GENOTYPE_PCS,
        factors=rules.splicing_hidden_factors.output.factors,
        individuals=RESOLVED_INDIVIDUALS,
    output:
        covariates=SQTL_COVARIATES,
    log:
        f"{LOGS}/assemble_splicing_covariates/assemble_splicing_covariates.log",


use rule map_cis_permutations as map_sqtl_permutations with:
    input:
        **SQTL_MAPPING_INPUTS,
        groups=SPLICING_GROUPS,
    output:
        table=SQTL_PERMUTATIONS.format(mapper="tensorqtl", chrom="{chrom}"),
    log:
        f"{LOGS}/map_sqtl_permutations/{{chrom}}.log",


use rule map_cis_nominal as map_sqtl_nominal with:
    input:
        **SQTL_MAPPING_INPUTS,
    output:
        pairs=SQTL_NOMINAL.format(mapper="tensorqtl", chrom="{chrom}"),
    log:
        f"{LOGS}/map_sqtl_nominal/{{chrom}}.log",


use rule split_phenotypes_by_chrom as split_splicing_by_chrom with:
    input:
        bed=SPLICING_BED,
        tbi=SPLICING_TBI,
    output:
        beds=expand(SQTL_FASTQTL_BED, chrom=GENOTYPE_CHROMS),
        tbis=expand(f"{SQTL_FASTQTL_BED}.tbi", chrom=GENOTYPE_CHROMS),
    log:
        f"{LOGS}/split_splicing_by_chrom/split_splicing_by_chrom.log",


use rule export_genotypes_vcf as export_sqtl_genotypes_vcf with:
    input:
        **GENOTYPE_PFILES,
        bed=SQTL_FASTQTL_BED,
    output:
        vcf=SQTL_FASTQTL_VCF,
        tbi=f"{SQTL_FASTQTL_VCF}.tbi",
        alt_counts=f"{SQTL_FASTQTL}/genotypes/{{chrom}}.acount",
    log:
        f"{LOGS}/export_sqtl_genotypes_vcf/{{chrom}}.log",


SQTL_FASTQTL_CHUNK_INPUTS = {
    "vcf": SQTL_FASTQTL_VCF,
    "tbi": f"{SQTL_FASTQTL_VCF}.tbi",
    "bed": SQTL_FASTQTL_BED,
    "bed_tbi": f"{SQTL_FASTQTL_BED}.tbi",
    "covariates": SQTL_COVARIATES,
}


# FastQTL --grp: one permutation test per gene over its introns (MAGE's run_FastQTL_threaded.py
# --phenotype_groups).
use rule fastqtl_permutations_chunk as fastqtl_sqtl_permutations_chunk with:
    input:
        **SQTL_FASTQTL_CHUNK_INPUTS,
        groups=SPLICING_GROUPS,
    output:
        temp(f"{SQTL_FASTQTL}/chunks/permutations/{{chrom}}.{{scatteritem}}.txt.gz"),
    log:
        script=f"{LOGS}/fastqtl_sqtl_permutations_chunk/{{chrom}}.{{scatteritem}}.log",
        fastqtl=f"{LOGS}/fastqtl_sqtl_permutations_chunk/{{chrom}}.{{scatteritem}}.fastqtl.log",


use rule fastqtl_nominal_chunk as fastqtl_sqtl_nominal_chunk with:
    input:
        **SQTL_FASTQTL_CHUNK_INPUTS,
    output:
        temp(f"{SQTL_FASTQTL}/chunks/nominal/{{chrom}}.{{scatteritem}}.txt.gz"),
    log:
        script=f"{LOGS}/fastqtl_sqtl_nominal_chunk/{{chrom}}.{{scatteritem}}.log",
        fastqtl=f"{LOGS}/fastqtl_sqtl_nominal_chunk/{{chrom}}.{{scatteritem}}.fastqtl.log",


use rule merge_fastqtl_permutations as merge_fastqtl_sqtl_permutations with:
    input:
        chunks=gather.fastqtl_chunk(
            f"{SQTL_FASTQTL}/chunks/permutations/{{{{chrom}}}}.{{scatteritem}}.txt.gz"
        ),
        bed=SQTL_FASTQTL_BED,
        groups=SPLICING_GROUPS,
    output:
        SQTL_PERMUTATIONS.format(mapper="fastqtl", chrom="{chrom}"),
    log:
        f"{LOGS}/merge_fastqtl_sqtl_permutations/{{chrom}}.log",


use rule merge_fastqtl_nominal as merge_fastqtl_sqtl_nominal with:
    input:
        chunks=gather.fastqtl_chunk(
            f"{SQTL_FASTQTL}/chunks/nominal/{{{{chrom}}}}.{{scatteritem}}.txt.gz"
        ),
        bed=SQTL_FASTQTL_BED,
        alt_counts=f"{SQTL_FASTQTL}/genotypes/{{chrom}}.acount",
    output:
        SQTL_NOMINAL.format(mapper="fastqtl", chrom="{chrom}"),
    log:
        f"{LOGS}/merge_fastqtl_sqtl_nominal/{{chrom}}.log",


# q-values over genes (one row per gene: its best intron), MAGE's calculateSignificanceFastQTL.R.
use rule compute_qvalues as compute_sqtl_qvalues with:
    input:
        tables=lambda wc: expand(SQTL_PERMUTATIONS, mapper=wc.mapper, chrom=EQTL_CHROMS),
    output:
        genes=f"{SQTL}/{{mapper}}/cis_genes.tsv.gz",
    log:
        f"{LOGS}/compute_sqtl_qvalues/{{mapper}}.log",
    params:
        fdr=config["eqtl"]["fdr"],
        qvalue_lambda=config["eqtl"]["qvalue_lambda"],
        grouped=True,
        # A cohort's sQTL genes can be too few for qvalue's pi0 smoother (the demo's 55).
        qvalue_fallback_bh=True,


# SuSiE per intron of each sGene, as MAGE's run_susie.R (each intron fine-mapped separately).
use rule finemap_susie as finemap_sqtl_susie with:
    input:
        **SQTL_MAPPING_INPUTS,
        **SQTL_FINEMAPPING_Z,
        cis_genes=SQTL_CIS_GENES,
        groups=SPLICING_GROUPS,
    output:
        pips=f"{SQTL}/finemapping/{{chrom}}.pips.parquet",
        credible_sets=f"{SQTL}/finemapping/{{chrom}}.credible_sets.tsv.gz",
    log:
        f"{LOGS}/finemap_sqtl_susie/{{chrom}}.log",


rule mage_sqtl_tables:
    input:
        cis_genes=SQTL_CIS_GENES,
        pairs=expand(SQTL_NOMINAL, mapper=EQTL_MAPPER, chrom=EQTL_CHROMS),
        pips=expand(f"{SQTL}/finemapping/{{chrom}}.pips.parquet", chrom=EQTL_CHROMS),
        credible_sets=expand(
            f"{SQTL}/finemapping/{{chrom}}.credible_sets.tsv.gz", chrom=EQTL_CHROMS
        ),
        groups=SPLICING_GROUPS,
        phenotypes=SPLICING_BED,
    output:
        permutations=f"{SQTL_NOMINAL_MAGE}.permutation_pass.{TAG}.txt.gz",
        permutations_index=f"{SQTL_NOMINAL_MAGE}.permutation_pass.{TAG}.txt.gz.tbi",
        all_pairs=f"{SQTL_NOMINAL_MAGE}.nominal_pass.allAssociations.{TAG}.txt.gz",
        all_index=f"{SQTL_NOMINAL_MAGE}.nominal_pass.allAssociations.{TAG}.txt.gz.tbi",
        significant_pairs=f"{SQTL_NOMINAL_MAGE}.nominal_pass.significantAssociations.{TAG}.txt.gz",
        significant_index=f"{SQTL_NOMINAL_MAGE}.nominal_pass.significantAssociations.{TAG}.txt.gz.tbi",
        credible_sets=f"{SQTL_FINEMAPPING}.credibleSet_summary.{TAG}.txt.gz",
        all_variants=f"{SQTL_FINEMAPPING}.allAssociations.{TAG}.txt.gz",
        significant_variants=f"{SQTL_FINEMAPPING}.significantAssociations.{TAG}.txt.gz",
        gene_variants=f"{SQTL_FINEMAPPING}.geneMerged.significantAssociations.{TAG}.txt.gz",
        gene_leads=f"{SQTL_FINEMAPPING}.geneMerged.leadVariant.{TAG}.txt.gz",
    log:
        f"{LOGS}/mage_sqtl_tables/mage_sqtl_tables.log",
    conda:
        env("python")
    container:
        container("python")
    threads: 1
    resources:
        # One chromosome's pairs at a time.
        mem_mb=lambda wc, attempt: attempt * 24000,
        runtime=lambda wc, attempt: attempt * 360,
    params:
        fdr=config["eqtl"]["fdr"],
    script:
        "../scripts/mage_sqtl_tables.py"
