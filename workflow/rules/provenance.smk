# Stage provenance: a provenance.json in every folder of final outputs (kgpex.provenance.record):
# the pipeline's git describe, the config's sha256, tool versions, and the sha256 of the resolved
# run sheets (run_sources.tsv, and the fetched run table where the cohort has one). It is rewritten
# whenever an output of its folder is; it is not a result (it differs between checkouts and
# machines while the tables beside it do not).
import os.path

from kgpex.provenance.completeness import check_final_outputs

PROVENANCE_FILE = "provenance.json"


# Included last: every stage's final outputs (expression_outputs: expression.smk or
# matrix_input.smk, identity_outputs, splicing_outputs, genotype_outputs, eqtl_outputs,
# sqtl_outputs, effect_size_outputs, qc_outputs,
# report_outputs) are defined by now. Lambdas: rule files must not define functions (lint).
stage_outputs = lambda: (
    expression_outputs()
    + identity_outputs()
    + splicing_outputs()
    + genotype_outputs()
    + eqtl_outputs()
    + sqtl_outputs()
    + effect_size_outputs()
    + qc_outputs()
    + report_outputs()
)
# The provenance files for a list of final outputs: one per folder.
provenance_outputs = lambda outputs: sorted(
    {f"{os.path.dirname(path)}/{PROVENANCE_FILE}" for path in outputs}
)
# rule all's targets (Snakefile): the stages' final outputs and their provenance files.
final_outputs = lambda: stage_outputs() + provenance_outputs(stage_outputs())


rule record_provenance:
    input:
        # The folder's final outputs: its provenance is rewritten whenever one of them is.
        files=lambda wildcards: sorted(
            path
            for path in stage_outputs()
            if os.path.dirname(path) == f"{RESULTS}/{wildcards.folder}"
        ),
        run_sources=RESOLVED_SOURCES,
        # None for a cohort of individuals alone (its run_sources.tsv is a header only).
        run_table=[] if INDIVIDUALS_ONLY else RUN_TABLE,
    output:
        f"{RESULTS}/{{folder}}/{PROVENANCE_FILE}",
    log:
        f"{LOGS}/record_provenance/{{folder}}.log",
    conda:
        env("python")
    container:
        container("python")
    threads: 1
    resources:
        mem_mb=by_attempt(500),
        runtime=10,
    params:
        workflow_dir=workflow.basedir,
    script:
        "../scripts/record_provenance.py"


# The final-outputs guard (kgpex.provenance.completeness): a run of rule all never ends with
# exit 0 and a final output missing, whatever Snakemake left out (docs/architecture.md,
# "Snakemake workarounds"). Not for runs of other targets or cut short by --until/--omit-from.
# Job processes (on SLURM, say) run no hooks. Then, the guard passed, the run summary
# (kgpex.provenance.run_summary): per stage, the jobs this invocation ran, their time, and the
# runs left out; on stderr and in logs/{cohort}/run_summary.tsv.
onsuccess:
    dag = workflow.dag
    ran_all = any(rule.name == "all" for rule in dag.targetrules)
    cut_short = dag.untilrules or dag.untilfiles or dag.omitrules or dag.omitfiles
    if ran_all and not cut_short:
        try:
            check_final_outputs(
                final_outputs(),
                # Outputs Snakemake still marks incomplete (their job died mid-write).
                marked_incomplete=lambda paths: set(
                    workflow.persistence._filter_incomplete_keys(paths)
                ),
            )
        except KgpexError as err:
            _stop(err)
        # Imported here, not above: dry-runs and job processes never need it.
        import sys
        import time
        from kgpex.provenance.run_summary import job_times, report_run, stage_of

        # Snakemake 9.27 API used: DAG.finished_jobs (the jobs this invocation finished),
        # DAG.jobs, Persistence.metadata (a record per output: starttime, endtime), Rule.snakefile,
        # Workflow.rules and Workflow.start_time; public names, though not a documented API.
        started = workflow.start_time.timestamp()
        # Each output of the DAG and the stage of the rule making it: exclusions are read only
        # from files this entry point makes (not a stale run_status.tsv of another entry point).
        made_by = {
            str(f): stage_of(job.rule.snakefile)
            for job in dag.jobs
            for f in job.output
        }
        try:
            report_run(
                # Rules without outputs (rule all) did no work.
                [
                    job_times(job, workflow.persistence.metadata, since=started)
                    for job in dag.finished_jobs
                    if job.output
                ],
                f"{LOGS}/run_summary.tsv",
                exclusion_sources=[
                    (made_by[path], path)
                    for path in (
                        f"{RESULTS}/expression/run_status.tsv",
                        RUN_MAPPING,
                    )
                    if path in made_by
                ],
                # Stages in include order (the Snakefile's).
                stage_order=list(
                    dict.fromkeys(
                        stage_of(rule.snakefile) for rule in workflow.rules
                    )
                ),
                started=started,
                finished=time.time(),
            )
        except KgpexError as err:
            # A report, not a result: a bad status file does not fail the finished run.
            print(f"kgpex: no run summary: {err}", file=sys.stderr)
