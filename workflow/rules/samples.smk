# Stage samples: the cohort's run table (cached with its query and date) and the metadata its
# method joins runs to (MAGE's library table, an SDRF, the 1000 Genomes panel), then the
# checkpoint that resolves individuals, runs and one source of reads per run. Logic:
# kgpex.samples.runtable, kgpex.samples.metadata (with .mage, .panel) and kgpex.samples.resolve
# over kgpex.common.fetch; the paths: paths.smk. Every per-run job is known only after
# resolve_samples has run; a dry-run before that shows the jobs up to it. A cohort of
# individuals alone (matrix entry point, samples.runs "") has no run table and no runs.
from kgpex.common.sources import to_url
from kgpex.samples.resolve import METHOD_METADATA
from kgpex.samples.runtable import ena_filereport_url

# Pinned checksums of metadata files; the others are checked by parsing them.
METADATA_SHA256 = {"mage_metadata": SAMPLES_CONFIG["mage_metadata_sha256"]}
# resolve_samples' inputs for the configured method: the run table, the metadata files the
# method joins runs to (fetch_sample_metadata) and an overrides table; for a cohort of
# individuals alone, the individuals sheet only.
RESOLVE_INPUTS = (
    {"individuals": SAMPLES_CONFIG["individuals"]}
    if INDIVIDUALS_ONLY
    else {
        "run_table": RUN_TABLE,
        **(
            {
                "individuals": SAMPLES_CONFIG["individuals"],
                "runs": SAMPLES_CONFIG["runs"],
            }
            if SAMPLES_CONFIG["method"] == "sheets"
            else {}
        ),
        **{
            name: f"{SAMPLES}/{name}.txt"
            for name in METHOD_METADATA[SAMPLES_CONFIG["method"]]
        },
        **(
            {"overrides": SAMPLES_CONFIG["overrides"]}
            if SAMPLES_CONFIG["overrides"]
            else {}
        ),
    }
)


# A cohort of individuals alone (INDIVIDUALS_ONLY, common.smk) reads no run table.
if not INDIVIDUALS_ONLY:
    RUN_TABLE_SOURCE = SAMPLES_CONFIG["run_table"] or ena_filereport_url(
        SAMPLES_CONFIG["accession"]
    )

    rule fetch_run_table:
        input:
            local_input(RUN_TABLE_SOURCE),
        output:
            table=RUN_TABLE,
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


rule fetch_sample_metadata:
    input:
        lambda wildcards: local_input(SAMPLES_CONFIG[wildcards.metadata]),
    output:
        f"{SAMPLES}/{{metadata}}.txt",
    log:
        f"{LOGS}/fetch_sample_metadata/{{metadata}}.log",
    wildcard_constraints:
        metadata="|".join(METHOD_METADATA[SAMPLES_CONFIG["method"]]) or "none",
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
        url=lambda wildcards: to_url(SAMPLES_CONFIG[wildcards.metadata]),
        sha256=lambda wildcards: METADATA_SHA256.get(wildcards.metadata, ""),
        options=DOWNLOAD_OPTIONS,
    script:
        "../scripts/fetch_sample_metadata.py"


checkpoint resolve_samples:
    input:
        **RESOLVE_INPUTS,
    output:
        individuals=RESOLVED_INDIVIDUALS,
        runs=RESOLVED_RUNS,
        sources=RESOLVED_SOURCES,
        mapping=RUN_MAPPING,
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
        settings=SAMPLES_CONFIG,
        default_batch=COHORT,
        scheme=config["download"]["fastq_scheme"],
    script:
        "../scripts/resolve_samples.py"
