# Stage identity: do each library's reads carry the genotypes of the individual it is labelled
# with? QTLtools mbv on the library's BAM (alignment.smk) at the cohort's common biallelic exonic
# SNPs, then a call per run (match, swap, unclear) in identity.tsv. select_libraries
# (expression.smk) applies identity.on_mismatch before any library reaches the matrices: stop
# (one line naming each run and whom it matches), exclude, or report. Logic:
# kgpex.identity.snps (the SNP panel), kgpex.identity.mbv (run, read, call, policy) and
# kgpex.identity.plots. On with alignment.enabled.
IDENTITY_CONFIG = config["identity"]
IDENTITY_SNPS = f"{IDENTITY}/common_exonic_snps.vcf.gz"
MBV_TABLE = f"{IDENTITY}/mbv/{{library}}.txt"


rule identity_snps:
    input:
        vcfs=expand(GENOTYPE_VCF, chrom=AUTOSOMES),
        tbis=expand(f"{GENOTYPE_VCF}.tbi", chrom=AUTOSOMES),
        gtf=REFERENCE_FILES["annotation"],
        # ancient, as for split_het_snps (alignment.smk): a rewritten sheet must not redo every
        # mbv (and so every alignment); params.cohort reruns it when the cohort changes.
        individuals=ancient(RESOLVED_INDIVIDUALS),
        inputs_checked=AFTER_INPUTS_CHECKED,
    output:
        vcf=IDENTITY_SNPS,
        tbi=f"{IDENTITY_SNPS}.tbi",
    log:
        f"{LOGS}/identity_snps/identity_snps.log",
    conda:
        env("bcftools")
    container:
        container("bcftools")
    threads: 1
    resources:
        mem_mb=by_attempt(2000),
        runtime=240,
    params:
        chromosomes=AUTOSOMES,
        min_maf=IDENTITY_CONFIG["min_maf"],
        cohort=lambda wildcards: " ".join(sorted(cohort_sexes())),
    script:
        "../scripts/identity_snps.py"


rule mbv_library:
    input:
        bam=STAR_BAM,
        bai=STAR_BAI,
        snps=IDENTITY_SNPS,
        tbi=f"{IDENTITY_SNPS}.tbi",
    output:
        MBV_TABLE,
    log:
        f"{LOGS}/mbv_library/{{library}}.log",
        mbv=f"{LOGS}/mbv_library/{{library}}.mbv.log",
    conda:
        env("qtltools")
    container:
        container("qtltools")
    threads: 1
    resources:
        mem_mb=by_attempt(2000),
        runtime=60,
    params:
        min_coverage=IDENTITY_CONFIG["min_coverage"],
    script:
        "../scripts/mbv_library.py"


rule call_identity:
    input:
        mbv=per_library(MBV_TABLE),
        runs=RESOLVED_RUNS,
    output:
        table=IDENTITY_TABLE,
        plot=report(
            f"{IDENTITY}/identity_concordance.png",
            caption="../report/identity_concordance.rst",
            category="QC",
        ),
    log:
        f"{LOGS}/call_identity/call_identity.log",
    conda:
        env("python")
    container:
        container("python")
    threads: 1
    resources:
        mem_mb=by_attempt(2000),
        runtime=30,
    params:
        thresholds={
            key: IDENTITY_CONFIG[key]
            for key in (
                "min_het_sites",
                "min_hom_sites",
                "min_het_concordance",
                "min_hom_concordance",
                "min_margin",
            )
        },
    script:
        "../scripts/call_identity.py"


# The stage's final outputs, for rule all (provenance.smk's final_outputs). A lambda, not a def.
identity_outputs = lambda: [*rules.call_identity.output] if ALIGNMENT_ON else []
