# Stage download: each run's FASTQs, from the source resolve_samples (samples.smk) checked.
# Logic: kgpex.download.reads (FASTQ checks, SRA fallback) over kgpex.common.fetch and
# kgpex.common.http. A paired run's two mates come from download_fastq, a single-end run's one
# file from download_fastq_single (layout column of run_sources.tsv): the same rule through
# `use rule`, with its own output and log. The single-end file lies in a folder of its own, so
# that no run's name can make it look like another run's mate. DOWNLOAD: paths.smk.
# Download jobs carry the custom resource `downloads`; cap parallel transfers with
# `--resources downloads=N`.
from kgpex.common.http import download_options
from kgpex.common.sources import to_url

# Passed to every kgpex.common.fetch.fetch call (reads, reference, VCFs, metadata).
DOWNLOAD_OPTIONS = download_options(config["download"])


rule download_fastq:
    input:
        # ancient: editing the runs sheet rewrites the resolved sources, which must not make
        # every finished run download again; each file is md5-checked on its own.
        checked=ancient(RESOLVED_SOURCES),
        inputs_checked=AFTER_INPUTS_CHECKED,
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
    threads: config["download"]["threads"]
    resources:
        mem_mb=by_attempt(2000),
        runtime=360,
        downloads=1,
    params:
        options=DOWNLOAD_OPTIONS,
    script:
        "../scripts/download_fastq.py"


use rule download_fastq as download_fastq_single with:
    output:
        reads=fastq_output(f"{DOWNLOAD}/single/{{run}}.fastq.gz"),
    log:
        f"{LOGS}/download_fastq_single/{{run}}.log",
