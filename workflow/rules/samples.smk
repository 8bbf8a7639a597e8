# Stage samples: the cohort's run table (cached with its query and date), then the checkpoint
# that resolves individuals, runs and one source of reads per run. Logic: kgpex.samples,
# kgpex.runtable. Every per-run job is known only after resolve_samples has run; a dry-run
# before that shows the jobs up to it.
from kgpex.runtable import ena_filereport_url
from kgpex.sources import to_url

RUN_TABLE_SOURCE = SAMPLES_CONFIG["run_table"] or ena_filereport_url(
    SAMPLES_CONFIG["accession"]
)


rule fetch_run_table:
    input:
        local_input(RUN_TABLE_SOURCE),
    output:
        table=f"{SAMPLES}/run_table.tsv",
        query=f"{SAMPLES}/run_table.query.json",
    log:
        f"{LOGS}/fetch_run_table/fetch_run_table.log",
    conda:
        env("python")
    container:
        container("python")
    threads: 1
    resources:
        mem_mb=by_attempt(500),
        runtime=30,
        downloads=1,
    params:
        url=to_url(RUN_TABLE_SOURCE),
        options=DOWNLOAD_OPTIONS,
    script:
        "../scripts/fetch_run_table.py"


checkpoint resolve_samples:
    input:
        unpack(samples_inputs),
    output:
        individuals=f"{SAMPLES}/individuals.tsv",
        runs=f"{SAMPLES}/runs.tsv",
        sources=f"{SAMPLES}/run_sources.tsv",
    log:
        f"{LOGS}/resolve_samples/resolve_samples.log",
    conda:
        env("python")
    container:
        container("python")
    threads: 1
    resources:
        mem_mb=by_attempt(1000),
        runtime=10,
    params:
        method=SAMPLES_CONFIG["method"],
        scheme=config["download"]["fastq_scheme"],
    script:
        "../scripts/resolve_samples.py"
