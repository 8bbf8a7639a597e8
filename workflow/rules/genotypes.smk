# Stage genotypes: NYGC phased VCFs -> cohort genotypes (PLINK2 pgen) per chromosome, and
# genotype PCs. Logic: kgpex.genotypes.vcf (download checks), kgpex.genotypes.cohort (bcftools |
# plink2 streaming, over kgpex.genotypes.plink and .variants), kgpex.genotypes.pca. The VCF
# sources (VCF_SOURCES, VCF_LOCAL_INPUTS), which preflight.smk checks first, and the pgen files
# and PCs that later stages read: paths.smk.
from kgpex.common.sources import to_url

GENOTYPES_CONFIG = config["genotypes"]
if not AUTOSOMES:
    _stop(
        "config: field 'genotypes.chromosomes' lists no autosome; genotype PCs need autosomes"
    )


rule download_vcf:
    input:
        lambda wildcards: VCF_LOCAL_INPUTS[wildcards.chrom],
        inputs_checked=AFTER_INPUTS_CHECKED,
    output:
        vcf=GENOTYPE_VCF,
        tbi=f"{GENOTYPE_VCF}.tbi",
    log:
        f"{LOGS}/download_vcf/{{chrom}}.log",
    conda:
        env("bcftools")
    container:
        container("bcftools")
    threads: 2
    resources:
        mem_mb=by_attempt(1000),
        runtime=720,
        downloads=1,
    params:
        url=lambda wildcards: to_url(VCF_SOURCES[wildcards.chrom]),
        md5sums_url=to_url(GENOTYPE_MD5SUMS_URL) if GENOTYPE_MD5SUMS_URL else "",
        options=DOWNLOAD_OPTIONS,
    script:
        "../scripts/download_vcf.py"


# bcftools streams the cohort's biallelic, in-sample common records into plink2; both tools run
# in this job, so its env must hold both (envs/bcftools.yaml).
rule cohort_genotypes:
    input:
        vcf=rules.download_vcf.output.vcf,
        tbi=rules.download_vcf.output.tbi,
        individuals=RESOLVED_INDIVIDUALS,
        inputs_checked=AFTER_INPUTS_CHECKED,
    output:
        multiext(f"{GENOTYPES}/{{chrom}}", ".pgen", ".pvar", ".psam"),
    log:
        f"{LOGS}/cohort_genotypes/{{chrom}}.log",
    conda:
        env("bcftools")
    container:
        container("bcftools")
    threads: 2
    resources:
        mem_mb=by_attempt(2000),
        runtime=360,
    params:
        maf=GENOTYPES_CONFIG["maf"],
        min_minor_allele_samples=GENOTYPES_CONFIG["min_minor_allele_samples"],
        id_max_allele_len=GENOTYPES_CONFIG["id_max_allele_len"],
    script:
        "../scripts/cohort_genotypes.py"


# The user's own genotypes (USER_GENOTYPES, paths.smk: a phenotype BED's cohort, or
# genotypes.pgen): plink2 imports the VCF (GT or FORMAT/DS) or the pgen as it is
# (kgpex.genotypes.user); local VCFs are read in place, remote ones downloaded first.
if USER_GENOTYPES:

    rule import_genotypes:
        input:
            **(
                {}
                if GENOTYPE_PGEN
                else {
                    "vcf": lambda wildcards: (
                        local_input(VCF_SOURCES[wildcards.chrom])
                        or [rules.download_vcf.output.vcf]
                    )[0]
                }
            ),
            individuals=RESOLVED_INDIVIDUALS,
            inputs_checked=AFTER_INPUTS_CHECKED,
        output:
            multiext(f"{GENOTYPES}/{{chrom}}", ".pgen", ".pvar", ".psam"),
        log:
            f"{LOGS}/import_genotypes/{{chrom}}.log",
        conda:
            env("plink2")
        container:
            container("plink2")
        threads: 2
        resources:
            mem_mb=by_attempt(2000),
            runtime=360,
        params:
            pfile=lambda wildcards: GENOTYPE_PGEN.replace("{chrom}", wildcards.chrom),
            maf=GENOTYPES_CONFIG["maf"],
            id_max_allele_len=GENOTYPES_CONFIG["id_max_allele_len"],
        script:
            "../scripts/import_genotypes.py"

    ruleorder: import_genotypes > cohort_genotypes


rule genotype_pcs:
    input:
        pfiles=expand(
            f"{GENOTYPES}/{{chrom}}.{{ext}}",
            chrom=AUTOSOMES,
            ext=["pgen", "pvar", "psam"],
        ),
        individuals=RESOLVED_INDIVIDUALS,
    output:
        pcs=GENOTYPE_PCS,
        plot=report(
            f"{RESULTS}/covariates/genotype_pcs.png",
            caption="../report/genotype_pcs.rst",
            category="Covariates",
        ),
    log:
        f"{LOGS}/genotype_pcs/genotype_pcs.log",
    conda:
        env("plink2")
    container:
        container("plink2")
    threads: 2
    resources:
        mem_mb=by_attempt(4000),
        runtime=120,
    params:
        prefixes=[f"{GENOTYPES}/{chrom}" for chrom in AUTOSOMES],
        n_pcs=GENOTYPES_CONFIG["pca"]["n_pcs"],
        maf=GENOTYPES_CONFIG["pca"]["maf"],
        indep_pairwise=GENOTYPES_CONFIG["pca"]["indep_pairwise"],
    script:
        "../scripts/genotype_pcs.py"


# The stage's final outputs, for rule all (provenance.smk's final_outputs). A lambda, not a def:
# Snakemake's linter flags rule files that mix rules and function definitions.
# With the user's covariates (covariates.input) no genotype PCs are made.
genotype_outputs = lambda: [
    *expand(rules.cohort_genotypes.output, chrom=GENOTYPE_CHROMS),
    *([] if USER_COVARIATES_FILE else rules.genotype_pcs.output),
]
