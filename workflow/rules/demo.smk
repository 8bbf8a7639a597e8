# Stage demo: the embedded demo cohort, generated from the committed sheets and the seed
# (kgpex.demo: generator over .spec, .cohort, .reads, .genotypes, .reference, .expression).
# Every other stage reads it through the same download code as a real cohort.
# DEMO_DIR ("resources/demo/generated") is common.smk's: its parse-time check of local files
# takes the demo's generated files as made by the rule below.
DEMO_GENCODE = f"{DEMO_DIR}/mirror/gencode"
DEMO_CHROMS = ["chr21", "chr22"]


rule make_demo_cohort:
    input:
        individuals=SAMPLES_CONFIG["individuals"],
        runs=SAMPLES_CONFIG["runs"] or [],
    output:
        transcripts=f"{DEMO_GENCODE}/gencode.vDEMO.transcripts.fa.gz",
        annotation=f"{DEMO_GENCODE}/gencode.vDEMO.annotation.gtf.gz",
        genome=f"{DEMO_GENCODE}/GRCh38.DEMO.genome.fa.gz",
        md5sums=f"{DEMO_GENCODE}/MD5SUMS",
        vcfs=expand(
            f"{DEMO_DIR}/mirror/vcf/DEMO_{{chrom}}.filtered.shapeit2-duohmm-phased.vcf.gz",
            chrom=DEMO_CHROMS,
        ),
        tbis=expand(
            f"{DEMO_DIR}/mirror/vcf/DEMO_{{chrom}}.filtered.shapeit2-duohmm-phased.vcf.gz.tbi",
            chrom=DEMO_CHROMS,
        ),
        fastqs=expand(
            f"{DEMO_DIR}/mirror/fastq/{{run}}/{{run}}_{{mate}}.fastq.gz",
            run=sorted(GIVEN_SHEETS.runs) if GIVEN_SHEETS else [],
            mate=[1, 2],
        ),
        run_table=f"{DEMO_DIR}/ena_filereport.tsv",
        truth=f"{DEMO_DIR}/truth_eqtls.tsv",
        # The planted sample swap: runs whose reads are another individual's (identity.smk).
        swaps=f"{DEMO_DIR}/truth_swaps.tsv",
        # Planted sQTLs: genotype-dependent isoform use (kgpex.demo.sqtls).
        sqtls=f"{DEMO_DIR}/truth_sqtls.tsv",
    log:
        f"{LOGS}/make_demo_cohort/make_demo_cohort.log",
    conda:
        env("python")
    container:
        container("python")
    threads: 1
    resources:
        mem_mb=by_attempt(2000),
        runtime=15,
    params:
        seed=config["demo"]["seed"],
        read_pairs=config["demo"]["read_pairs"],
    script:
        "../scripts/make_demo_cohort.py"
