# FastQTL backend (eqtl.mapper: fastqtl), MAGE's own mapper. Per chromosome: its phenotypes
# and genotypes (kgpex.fastqtl.inputs), FastQTL in eqtl.fastqtl.chunks parallel chunks
# (permutation and nominal passes; kgpex.fastqtl.run), then the chunks merged
# (kgpex.fastqtl.merge) into the tensorQTL-native tables that the eqtl stage reads from either
# mapper (EQTL_PERMUTATIONS, EQTL_NOMINAL in paths.smk):
#   {RESULTS}/eqtl/fastqtl/permutations/{chrom}.tsv.gz, {RESULTS}/eqtl/fastqtl/nominal/{chrom}.parquet
# The chunks are Snakemake's scattergather items ("{i}-of-{N}", N = eqtl.fastqtl.chunks, or
# --set-scatter fastqtl_chunk=N): FastQTL's own --chunk i N splits the chromosome's genes.
FASTQTL = f"{EQTL}/fastqtl"
# The stage's own per-chromosome inputs of FastQTL ({chrom} is a wildcard).
FASTQTL_BED = f"{FASTQTL}/phenotypes/{{chrom}}.bed.gz"
FASTQTL_VCF = f"{FASTQTL}/genotypes/{{chrom}}.vcf.gz"
FASTQTL_ALT_COUNTS = f"{FASTQTL}/genotypes/{{chrom}}.acount"


scattergather:
    fastqtl_chunk=config["eqtl"]["fastqtl"]["chunks"],


rule split_phenotypes_by_chrom:
    input:
        bed=INVERSE_NORMAL_BED,
        tbi=INVERSE_NORMAL_TBI,
    output:
        beds=expand(FASTQTL_BED, chrom=GENOTYPE_CHROMS),
        tbis=expand(f"{FASTQTL_BED}.tbi", chrom=GENOTYPE_CHROMS),
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
        **GENOTYPE_PFILES,
        bed=FASTQTL_BED,
    output:
        vcf=FASTQTL_VCF,
        tbi=f"{FASTQTL_VCF}.tbi",
        alt_counts=FASTQTL_ALT_COUNTS,
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
    "vcf": FASTQTL_VCF,
    "tbi": f"{FASTQTL_VCF}.tbi",
    "bed": FASTQTL_BED,
    "bed_tbi": f"{FASTQTL_BED}.tbi",
    "covariates": COVARIATES_TABLE,
}


rule fastqtl_permutations_chunk:
    input:
        **FASTQTL_CHUNK_INPUTS,
    output:
        temp(f"{FASTQTL}/chunks/permutations/{{chrom}}.{{scatteritem}}.txt.gz"),
    log:
        script=f"{LOGS}/fastqtl_permutations_chunk/{{chrom}}.{{scatteritem}}.log",
        fastqtl=f"{LOGS}/fastqtl_permutations_chunk/{{chrom}}.{{scatteritem}}.fastqtl.log",
    wildcard_constraints:
        scatteritem=r"\d+-of-\d+",
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
        window=config["eqtl"]["window"],
        maf=config["eqtl"]["maf"],
        seed=config["eqtl"]["seed"],
        permute=config["eqtl"]["fastqtl"]["permute"],
    script:
        "../scripts/fastqtl_chunk.py"


# The nominal pass: the same rule with its own output, log, runtime and mode (params not named
# here are inherited).
use rule fastqtl_permutations_chunk as fastqtl_nominal_chunk with:
    output:
        temp(f"{FASTQTL}/chunks/nominal/{{chrom}}.{{scatteritem}}.txt.gz"),
    log:
        script=f"{LOGS}/fastqtl_nominal_chunk/{{chrom}}.{{scatteritem}}.log",
        fastqtl=f"{LOGS}/fastqtl_nominal_chunk/{{chrom}}.{{scatteritem}}.fastqtl.log",
    resources:
        mem_mb=by_attempt(4000),
        runtime=240,
    params:
        mode="nominal",
        permute=None,


rule merge_fastqtl_permutations:
    input:
        chunks=gather.fastqtl_chunk(
            f"{FASTQTL}/chunks/permutations/{{{{chrom}}}}.{{scatteritem}}.txt.gz"
        ),
        bed=FASTQTL_BED,
    output:
        EQTL_PERMUTATIONS.format(mapper="fastqtl", chrom="{chrom}"),
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
        chunks=gather.fastqtl_chunk(
            f"{FASTQTL}/chunks/nominal/{{{{chrom}}}}.{{scatteritem}}.txt.gz"
        ),
        bed=FASTQTL_BED,
        alt_counts=FASTQTL_ALT_COUNTS,
    output:
        EQTL_NOMINAL.format(mapper="fastqtl", chrom="{chrom}"),
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
