# Stage download: the run table, one checked source of paired reads per run, and the FASTQs.
# Logic: kgpex.runtable (run table), kgpex.download (fetch, FASTQ checks, SRA fallback).
# Download jobs carry the custom resource `downloads`; cap parallel transfers with
# `--resources downloads=N`.
from kgpex.sources import to_url

DOWNLOAD = f"{RESULTS}/download"
# Passed to every kgpex.download.fetch call (reads, reference, VCFs).
DOWNLOAD_OPTIONS = {
    "retries": config["download"]["retries"],
    "backoff": config["download"]["backoff_seconds"],
    "timeout": config["download"]["timeout_seconds"],
}


rule fetch_run_table:
    input:
        local_input(config["run_table"]),
    output:
        f"{DOWNLOAD}/run_table.tsv",
    log:
        f"{LOGS}/fetch_run_table/fetch_run_table.log",
    conda:
        env("python")
    container:
        container("python")
    threads: 1
    resources:
        mem_mb=500,
        runtime=30,
        downloads=1,
    params:
        url=to_url(config["run_table"]),
        options=DOWNLOAD_OPTIONS,
    script:
        "../scripts/fetch_run_table.py"


rule check_run_table:
    input:
        run_table=rules.fetch_run_table.output[0],
        individuals=config["individuals"],
        runs=config["runs"],
    output:
        f"{DOWNLOAD}/runs.checked.tsv",
    log:
        f"{LOGS}/check_run_table/check_run_table.log",
    conda:
        env("python")
    container:
        container("python")
    threads: 1
    resources:
        mem_mb=500,
        runtime=10,
    params:
        scheme=config["download"]["fastq_scheme"],
    script:
        "../scripts/check_run_table.py"


rule download_fastq:
    input:
        # ancient: editing the runs sheet rewrites the checked table, which must not make
        # every finished run download again; each file is md5-checked on its own.
        checked=ancient(rules.check_run_table.output[0]),
    output:
        mate1=fastq_output(f"{DOWNLOAD}/{{run}}_1.fastq.gz"),
        mate2=fastq_output(f"{DOWNLOAD}/{{run}}_2.fastq.gz"),
    log:
        f"{LOGS}/download_fastq/{{run}}.log",
    conda:
        env("sra-tools")
    container:
        container("sra-tools")
    # Threads serve the SRA fallback (fasterq-dump, pigz); ENA transfers use one.
    threads: 2
    resources:
        mem_mb=2000,
        runtime=360,
        downloads=1,
    params:
        options=DOWNLOAD_OPTIONS,
    script:
        "../scripts/download_fastq.py"
