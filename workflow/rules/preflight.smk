# Stage preflight: bad input stops the run before any expensive job, with one line naming the
# file and field. Logic: kgpex.preflight.config_checks, kgpex.preflight.input_checks.
# - Now, while Snakemake reads the workflow: the config's URLs and paths (scheme; local files
#   exist unless the demo rule makes them), shell-bound option strings, salmon's k.
# - Checkpoint check_inputs: the GTF's gene records and chromosome names (a matrix with its own
#   annotation: the imported annotation instead, and no reference at all), each VCF's header
#   (samples, cohort, chromosome, contig naming of header and first record; contig lengths and
#   ##reference against genome_build unless genotypes.check_build is false) and the resolved
#   sheets' IDs and URLs. download_fastq,
#   salmon_index, salmon_quant, download_vcf and cohort_genotypes wait for it through
#   AFTER_INPUTS_CHECKED (common.smk after_checkpoint), which adds no file once it has passed: a
#   re-check never redoes them. salmon_quant keeps its gate: without it, a re-check after
#   restored results re-ran every quantification (its temporary FASTQs). A checkpoint, not an
#   ancient() input: Snakemake 9.27 drops the jobs behind an ancient input whose maker must run
#   (tests/test_snakemake_ancient_checkpoint.py). The aggregates over libraries wait for it too
#   (common.smk per_library), so the 779 + 779 MAGE jobs enter the DAG only once it has passed:
#   a pending gate costs each gated job a re-creation at every pass over the DAG.
# Missing local files already stopped common.smk, in one line. Included after demo.smk and before the stages whose rules need INPUTS_CHECKED; the
# reference and genotype inputs it checks are named in paths.smk.
from kgpex.preflight import config_checks, input_checks

try:
    config_checks.check_config(config, produced_under=[DEMO_DIR])
except KgpexError as err:
    _stop(err)


checkpoint check_inputs:
    input:
        # The genes of a matrix's own annotation (paths.smk), or the GTF.
        **(
            {"genes": EXPRESSION_GENES}
            if OWN_GENES
            else {"gtf": REFERENCE_FILES["annotation"]}
        ),
        # The user's covariates (covariates.input), checked for the cohort's samples.
        **(
            {"covariates": USER_COVARIATES_FILE}
            if config["covariates"]["input"]
            else {}
        ),
        individuals=RESOLVED_INDIVIDUALS,
        runs=RESOLVED_RUNS,
        sources=RESOLVED_SOURCES,
        # Local VCFs (the demo's) must exist first; remote ones are read in place.
        local_vcfs=[
            path
            for chrom in GENOTYPE_CHROMS
            for path in VCF_LOCAL_INPUTS.get(chrom, [])
        ],
    output:
        INPUTS_CHECKED,
    log:
        f"{LOGS}/check_inputs/check_inputs.log",
    conda:
        env("python")
    container:
        container("python")
    threads: 1
    resources:
        mem_mb=by_attempt(1000),
        runtime=30,
    params:
        vcf_sources={chrom: VCF_SOURCES[chrom] for chrom in VCF_SOURCES},
        # genotypes.pgen: each chromosome's .psam, checked for the cohort's samples.
        psams={
            chrom: GENOTYPE_PGEN.replace("{chrom}", chrom) + ".psam"
            for chrom in (GENOTYPE_CHROMS if GENOTYPE_PGEN else [])
        },
        # A phenotype BED's samples need not be 1000 Genomes IDs.
        any_ids=BED_INPUT,
        gtf_source=config["reference"]["annotation_url"],
        genes_source=config["expression"]["matrix"]["annotation_url"],
        # None: the build checks are off (genotypes.check_build: false).
        build=config["genome_build"] if config["genotypes"]["check_build"] else None,
        gene_records=input_checks.GTF_GENE_RECORDS,
        # Allowed hosts, timeout and retries, as for every download.
        download=config["download"],
    script:
        "../scripts/check_inputs.py"


# The input of every job that reads the checked files (see the top of this file).
AFTER_INPUTS_CHECKED = after_checkpoint(checkpoints.check_inputs)
