# Stage alignment: STAR two-pass alignment of each library with WASP tags from its individual's
# heterozygous SNPs (MAGE's 01_align_dev.sh), for the identity check (identity.smk) and splicing.
# Logic: kgpex.alignment.star (index, one library's alignment, MAGE's flags) and
# kgpex.alignment.het_snps (the personal VCF in MAGE's order of bcftools steps). STAR_BAM and
# the other per-library names: paths.smk. alignment.enabled: false leaves the stage out.
# star_align reads the same temporary FASTQs as salmon_quant; under SLURM both run in the one
# job per library that downloads them (profiles/slurm: group quantify_library), so a run's
# reads are fetched once.
from kgpex.alignment.het_snps import chromosomes_for, split_command
from kgpex.alignment.star import read_length

ALIGN = config["alignment"]
# Alignment is of reads: a matrix or BED entry point has none, and leaves the stage out.
ALIGNMENT_ON = ALIGN["enabled"] and config["expression"]["input"] == "reads"
if ALIGNMENT_ON and GENOTYPE_PGEN:
    _stop(
        "config: field 'alignment.enabled': WASP tags and the identity check read the NYGC "
        "VCFs (genotypes.vcf_url), not genotypes.pgen"
    )
STAR_GENOME_URL = ALIGN["genome_url"] or config["reference"]["genome_url"]
if ALIGNMENT_ON and not STAR_GENOME_URL:
    _stop(
        "config: field 'alignment.genome_url' is empty and so is reference.genome_url"
    )
# GENCODE's MD5SUMS lists reference.genome_url; another genome brings its own md5sums file.
STAR_GENOME_MD5SUMS = (
    ALIGN["genome_md5sums_url"]
    if ALIGN["genome_url"]
    else config["reference"]["md5sums_url"]
)
# Splicing (splicing.smk, sqtl.smk) counts junctions in the BAMs, which star_align writes: it
# runs where alignment does (a matrix or BED entry point, or alignment.enabled: false, leaves it
# out, and the run summary's sGenes row says "not run").
SPLICING_ON = config["splicing"]["enabled"] and ALIGNMENT_ON
STAR_REFERENCE = f"{ALIGNMENT}/reference"
STAR_INDEX = f"{STAR_REFERENCE}/star_index"
HET_SNPS = f"{ALIGNMENT}/het_snps/{{chrom}}"
# A BAM lives until the identity check (and splicing) has read it, unless kept.
bam_output = lambda path: path if ALIGN["keep_bam"] else temp(path)
# An individual's sex, from the resolved individuals sheet (chrX het SNPs for females only).
individual_sex = lambda individual: cohort_sexes()[individual]
# The labelled individual of a library (its runs share it: resolve_samples checks).
library_individual = lambda library: cohort_run_individuals()[library_runs(library)[0]]
# STAR's --sjdbOverhang: the config's, or the resolved runs' longest read minus one. The
# checkpoint is asked first: the run table is read only once resolve_samples has run.
star_overhang = lambda wildcards: (
    ALIGN["sjdb_overhang"]
    if ALIGN["sjdb_overhang"] != "auto"
    else (
        lambda sources: read_length(
            kgpex_sheets.read_tsv(RUN_TABLE),
            _run_layouts(sources, os.path.getmtime(sources)),
        )
        - 1
    )(checkpoint_output(checkpoints.resolve_samples).sources)
)


rule download_star_genome:
    input:
        [
            path
            for source in [
                STAR_GENOME_URL,
                *([STAR_GENOME_MD5SUMS] if STAR_GENOME_MD5SUMS else []),
            ]
            for path in local_input(source)
        ],
    output:
        genome=f"{STAR_REFERENCE}/genome.fa.gz",
    log:
        f"{LOGS}/download_star_genome/download_star_genome.log",
    conda:
        env("python")
    container:
        container("python")
    threads: 1
    resources:
        mem_mb=by_attempt(1000),
        runtime=240,
        downloads=1,
    params:
        urls={"genome": to_url(STAR_GENOME_URL)},
        md5sums_url=to_url(STAR_GENOME_MD5SUMS) if STAR_GENOME_MD5SUMS else "",
        options=DOWNLOAD_OPTIONS,
    script:
        "../scripts/download_reference.py"


rule star_index:
    input:
        genome=rules.download_star_genome.output.genome,
        gtf=REFERENCE_FILES["annotation"],
        # ancient: a run table fetched anew must not rebuild the index (and so redo every
        # alignment); the overhang it gives is a param, which reruns the job when it changes.
        run_table=ancient(RUN_TABLE),
        # The param reads the checkpoint's sheets, which Snakemake then wants as an input.
        resolved=ancient(RESOLVED_INDIVIDUALS),
        inputs_checked=AFTER_INPUTS_CHECKED,
    output:
        directory(STAR_INDEX),
    log:
        f"{LOGS}/star_index/star_index.log",
        star=f"{LOGS}/star_index/star_index.star.log",
    conda:
        env("star")
    container:
        container("star")
    threads: 8
    resources:
        # A GRCh38 index needs ~32 GB to build and to load; alignment.mem_mb sets both.
        mem_mb=by_attempt(ALIGN["mem_mb"]),
        runtime=240,
    params:
        sjdb_overhang=star_overhang,
    script:
        "../scripts/build_star_index.py"


rule split_het_snps:
    input:
        vcf=GENOTYPE_VCF,
        tbi=f"{GENOTYPE_VCF}.tbi",
        # ancient: resolve_samples rewrites the sheet whenever a sheet or the run table changes,
        # which must not redo every alignment; params.cohort reruns it when the cohort changes.
        individuals=ancient(RESOLVED_INDIVIDUALS),
        inputs_checked=AFTER_INPUTS_CHECKED,
    output:
        directory(HET_SNPS),
    log:
        f"{LOGS}/split_het_snps/{{chrom}}.log",
    conda:
        env("bcftools")
    container:
        container("bcftools")
    threads: 1
    resources:
        mem_mb=by_attempt(2000),
        runtime=240,
    params:
        partial=f"{ALIGNMENT}/het_snps/.{{chrom}}.partial",
        cohort=lambda wildcards: " ".join(sorted(cohort_sexes())),
        # One pass over the chromosome for every cohort individual (kgpex.alignment.het_snps).
        split=lambda wildcards, input: split_command(
            input.vcf,
            f"{ALIGNMENT}/het_snps/.{wildcards.chrom}.partial/samples.txt",
            f"{ALIGNMENT}/het_snps/.{wildcards.chrom}.partial",
        ),
    shell:
        # Written into a hidden folder renamed into place once bcftools has finished.
        "(rm -rf {params.partial:q} && mkdir -p {params.partial:q}"
        " && tail -n +2 {input.individuals:q} | cut -f 1 > {params.partial:q}/samples.txt"
        " && set -o pipefail && {params.split}"
        " && rm {params.partial:q}/samples.txt"
        " && rm -rf {output:q} && mv {params.partial:q} {output:q}) > {log:q} 2>&1"


rule star_align:
    input:
        unpack(salmon_reads),
        index=STAR_INDEX,
        het_snps=lambda wildcards: expand(
            HET_SNPS,
            chrom=chromosomes_for(
                GENOTYPE_CHROMS, individual_sex(library_individual(wildcards.library))
            ),
        ),
        inputs_checked=AFTER_INPUTS_CHECKED,
    output:
        # With splicing on, the junctions as MAGE's regtools step counted them
        # (kgpex.splicing.junctions).
        **({"introns": STAR_INTRONS} if SPLICING_ON else {}),
        bam=bam_output(STAR_BAM),
        bai=bam_output(STAR_BAI),
        log_final=STAR_LOG_FINAL,
        junctions=f"{STAR_LIBRARY}.SJ.out.tab",
        gene_counts=f"{STAR_LIBRARY}.ReadsPerGene.out.tab",
    log:
        f"{LOGS}/star_align/{{library}}.log",
        star=f"{LOGS}/star_align/{{library}}.star.log",
    conda:
        env("star")
    container:
        container("star")
    threads: ALIGN["threads"]
    resources:
        mem_mb=by_attempt(ALIGN["mem_mb"]),
        runtime=240,
    params:
        individual=lambda wildcards: library_individual(wildcards.library),
        work=f"{ALIGNMENT}/{{library}}/.{{library}}.partial",
        two_pass=ALIGN["two_pass"],
        max_read_pairs=ALIGN["max_read_pairs"],
        junctions={
            key: config["splicing"][key]
            for key in ("anchor", "min_intron", "max_intron")
        },
    script:
        "../scripts/star_align.py"
