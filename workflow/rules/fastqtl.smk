# FastQTL backend (eqtl.mapper: fastqtl), MAGE's own mapper (kgpex.fastqtl). Per chromosome:
# its phenotypes and genotypes, FastQTL in eqtl.fastqtl.chunks parallel chunks (permutation and
# nominal passes), then the chunks merged into the tensorQTL-native tables that the eqtl stage
# reads from either mapper:
#   {RESULTS}/eqtl/fastqtl/permutations/{chrom}.tsv.gz, {RESULTS}/eqtl/fastqtl/nominal/{chrom}.parquet
FASTQTL = f"{RESULTS}/eqtl/fastqtl"
FASTQTL_CHUNKS = list(range(1, config["eqtl"]["fastqtl"]["chunks"] + 1))


rule split_phenotypes_by_chrom:
    input:
        bed=f"{QUANTS}/inverse_normal_TMM.filtered.TSS.{TAG}.bed.gz",
        tbi=f"{QUANTS}/inverse_normal_TMM.filtered.TSS.{TAG}.bed.gz.tbi",
    output:
        beds=expand(f"{FASTQTL}/phenotypes/{{chrom}}.bed.gz", chrom=GENOTYPE_CHROMS),
        tbis=expand(f"{FASTQTL}/phenotypes/{{chrom}}.bed.gz.tbi", chrom=GENOTYPE_CHROMS),
    log:
        f"{LOGS}/split_phenotypes_by_chrom/split_phenotypes_by_chrom.log",
    conda:
        env("python")
    container:
        container("python")
    threads: 1
    resources:
        mem_mb=by_attempt(2000),
        runtime=10,
    params:
        chromosomes=GENOTYPE_CHROMS,
    script:
        "../scripts/split_phenotypes_by_chrom.py"


rule export_genotypes_vcf:
    input:
        pgen=f"{RESULTS}/genotypes/{{chrom}}.pgen",
        pvar=f"{RESULTS}/genotypes/{{chrom}}.pvar",
        psam=f"{RESULTS}/genotypes/{{chrom}}.psam",
        bed=f"{FASTQTL}/phenotypes/{{chrom}}.bed.gz",
    output:
        vcf=f"{FASTQTL}/genotypes/{{chrom}}.vcf.gz",
        tbi=f"{FASTQTL}/genotypes/{{chrom}}.vcf.gz.tbi",
        alt_counts=f"{FASTQTL}/genotypes/{{chrom}}.acount",
    log:
        f"{LOGS}/export_genotypes_vcf/{{chrom}}.log",
    conda:
        env("fastqtl")
    container:
        container("fastqtl")
    threads: 2
    resources:
        mem_mb=by_attempt(4000),
        runtime=120,
    script:
        "../scripts/export_genotypes_vcf.py"


# FastQTL matches samples by ID across the VCF, the BED and the covariates.
FASTQTL_CHUNK_INPUTS = {
    "vcf": f"{FASTQTL}/genotypes/{{chrom}}.vcf.gz",
    "tbi": f"{FASTQTL}/genotypes/{{chrom}}.vcf.gz.tbi",
    "bed": f"{FASTQTL}/phenotypes/{{chrom}}.bed.gz",
    "bed_tbi": f"{FASTQTL}/phenotypes/{{chrom}}.bed.gz.tbi",
    "covariates": f"{QUANTS}/eQTL_covariates.tab.gz",
}


rule fastqtl_permutations_chunk:
    input:
        **FASTQTL_CHUNK_INPUTS,
    output:
        temp(f"{FASTQTL}/chunks/permutations/{{chrom}}.{{chunk}}.txt.gz"),
    log:
        script=f"{LOGS}/fastqtl_permutations_chunk/{{chrom}}.{{chunk}}.log",
        fastqtl=f"{LOGS}/fastqtl_permutations_chunk/{{chrom}}.{{chunk}}.fastqtl.log",
    wildcard_constraints:
        chunk=r"\d+",
    conda:
        env("fastqtl")
    container:
        container("fastqtl")
    threads: 1
    resources:
        mem_mb=by_attempt(4000),
        runtime=720,
    params:
        mode="permutations",
        n_chunks=len(FASTQTL_CHUNKS),
        window=config["eqtl"]["window"],
        maf=config["eqtl"]["maf"],
        seed=config["eqtl"]["seed"],
        permute=config["eqtl"]["fastqtl"]["permute"],
    script:
        "../scripts/fastqtl_chunk.py"


rule fastqtl_nominal_chunk:
    input:
        **FASTQTL_CHUNK_INPUTS,
    output:
        temp(f"{FASTQTL}/chunks/nominal/{{chrom}}.{{chunk}}.txt.gz"),
    log:
        script=f"{LOGS}/fastqtl_nominal_chunk/{{chrom}}.{{chunk}}.log",
        fastqtl=f"{LOGS}/fastqtl_nominal_chunk/{{chrom}}.{{chunk}}.fastqtl.log",
    wildcard_constraints:
        chunk=r"\d+",
    conda:
        env("fastqtl")
    container:
        container("fastqtl")
    threads: 1
    resources:
        mem_mb=by_attempt(4000),
        runtime=240,
    params:
        mode="nominal",
        n_chunks=len(FASTQTL_CHUNKS),
        window=config["eqtl"]["window"],
        maf=config["eqtl"]["maf"],
        seed=config["eqtl"]["seed"],
        permute=None,
    script:
        "../scripts/fastqtl_chunk.py"


rule merge_fastqtl_permutations:
    input:
        chunks=expand(
            f"{FASTQTL}/chunks/permutations/{{{{chrom}}}}.{{chunk}}.txt.gz",
            chunk=FASTQTL_CHUNKS,
        ),
        bed=f"{FASTQTL}/phenotypes/{{chrom}}.bed.gz",
    output:
        f"{FASTQTL}/permutations/{{chrom}}.tsv.gz",
    log:
        f"{LOGS}/merge_fastqtl_permutations/{{chrom}}.log",
    conda:
        env("python")
    container:
        container("python")
    threads: 1
    resources:
        mem_mb=by_attempt(2000),
        runtime=10,
    script:
        "../scripts/merge_fastqtl_permutations.py"


rule merge_fastqtl_nominal:
    input:
        chunks=expand(
            f"{FASTQTL}/chunks/nominal/{{{{chrom}}}}.{{chunk}}.txt.gz",
            chunk=FASTQTL_CHUNKS,
        ),
        bed=f"{FASTQTL}/phenotypes/{{chrom}}.bed.gz",
        alt_counts=f"{FASTQTL}/genotypes/{{chrom}}.acount",
    output:
        f"{FASTQTL}/nominal/{{chrom}}.parquet",
    log:
        f"{LOGS}/merge_fastqtl_nominal/{{chrom}}.log",
    conda:
        env("python")
    container:
        container("python")
    threads: 1
    resources:
        mem_mb=by_attempt(8000),
        runtime=60,
    script:
        "../scripts/merge_fastqtl_nominal.py"
