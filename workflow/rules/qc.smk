# Stage qc: what a user looks at first. Logic: kgpex.qc.multiqc (MultiQC over salmon's
# per-library folders, with a config generated from runs.tsv) and kgpex.qc.summary (the run's
# summary table: runs used, pooled and excluded with reasons, individuals, genes tested, eGenes).
# Both land in the Snakemake report: the summary under "Summary", MultiQC's HTML under "QC".
QC = f"{RESULTS}/qc"
# The summary's inputs by entry point: the run tables and the library choice exist only for
# reads, the resolved individuals sheet for reads and matrix (a BED brings its own cohort).
QC_SUMMARY_INPUTS = {
    "phenotypes": INVERSE_NORMAL_BED,
    "cis_genes": EQTL_CIS_GENES,
}
if EXPRESSION_INPUT == "reads":
    QC_SUMMARY_INPUTS.update(
        run_mapping=RUN_MAPPING,
        run_status=rules.select_libraries.output.run_status,
        library_choice=rules.select_libraries.output.choice,
    )
if not BED_INPUT:
    QC_SUMMARY_INPUTS["individuals"] = RESOLVED_INDIVIDUALS
if SPLICING_ON:
    QC_SUMMARY_INPUTS["sqtl_cis_genes"] = SQTL_CIS_GENES


if EXPRESSION_INPUT == "reads":

    # Every library salmon quantified, replicates included (select_libraries' inputs).
    rule run_multiqc:
        input:
            lib_format=per_library(SALMON_LIB_FORMAT),
            meta_info=per_library(SALMON_META_INFO),
            runs=RESOLVED_RUNS,
        output:
            html=report(
                f"{QC}/multiqc_report.html",
                caption="../report/multiqc.rst",
                category="QC",
            ),
            data=directory(f"{QC}/multiqc_data"),
        log:
            f"{LOGS}/run_multiqc/run_multiqc.log",
        conda:
            env("multiqc")
        container:
            container("multiqc")
        threads: 1
        resources:
            # MultiQC holds every library's parsed salmon files and the plot data: small.
            mem_mb=by_attempt(2000),
            runtime=30,
        params:
            tag=TAG,
        script:
            "../scripts/run_multiqc.py"


rule summarize_run:
    input:
        **QC_SUMMARY_INPUTS,
    output:
        tsv=f"{QC}/run_summary.tsv",
        html=report(
            f"{QC}/run_summary.html",
            caption="../report/run_summary.rst",
            category="Summary",
        ),
    log:
        f"{LOGS}/summarize_run/summarize_run.log",
    conda:
        env("python")
    container:
        container("python")
    threads: 1
    resources:
        mem_mb=by_attempt(1000),
        runtime=10,
    params:
        expression_input=EXPRESSION_INPUT,
        fdr=config["eqtl"]["fdr"],
        title=f"{TAG}: run summary",
    script:
        "../scripts/summarize_run.py"


# The stage's final outputs, for rule all (a lambda: the linter wants no `def` in rule files).
qc_outputs = lambda: [*rules.summarize_run.output] + (
    [*rules.run_multiqc.output] if EXPRESSION_INPUT == "reads" else []
)
