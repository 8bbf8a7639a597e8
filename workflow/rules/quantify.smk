# Stage quantify: salmon quant per library (its runs' reads together: lanes of one library, or
# an individual's libraries under samples.replicates: pool), against the reference's index.
# MAGE settings (salmon.settings: mage) force MAGE's `-l IU` (`-l U` for a single-end run); the
# default `-l A` lets salmon detect the library type, which select_libraries records in
# library_types.tsv. A paired run gives salmon `-1/-2`, a single-end run `-r` (its layout in
# run_sources.tsv; kgpex.quantify.salmon names the FASTQs and builds the read options).
from kgpex.common.diskspace import SHELL_DISK_CHECK
from kgpex.quantify.salmon import fastq_inputs, read_options

SALMON_LIBTYPE = "IU" if config["salmon"]["settings"] == "mage" else "A"
# salmon_quant's FASTQs by the library's resolved layout (its runs share it: resolve_samples
# checks): r1/r2 (paired) or reads (single-end) lists, in download.smk's DOWNLOAD folder. A
# lambda: rule files define no functions (lint).
salmon_reads = lambda wildcards: fastq_inputs(
    DOWNLOAD,
    library_runs(wildcards.library),
    run_layout(library_runs(wildcards.library)[0]),
)


rule salmon_quant:
    input:
        unpack(salmon_reads),
        index=SALMON_INDEX,
        inputs_checked=AFTER_INPUTS_CHECKED,
    output:
        quant=SALMON_QUANT,
        lib_format=SALMON_LIB_FORMAT,
        meta_info=SALMON_META_INFO,
    log:
        f"{LOGS}/salmon_quant/{{library}}.log",
    conda:
        env("salmon")
    container:
        container("salmon")
    threads: config["salmon"]["threads"]
    resources:
        # GENCODE transcriptome index ~1 GB in memory; with the genome as decoys ~16 GB.
        mem_mb=by_attempt(20000 if SALMON_DECOYS else 6000),
        runtime=120,
    params:
        outdir=SALMON,
        partial=f"{RESULTS}/salmon/.{{library}}.partial",
        # -l and -1/-2 or -r, the paths quoted by kgpex.quantify.read_options.
        # (from salmon_reads, not input: params are evaluated before the checkpoint is done)
        reads=lambda wildcards: read_options(SALMON_LIBTYPE, salmon_reads(wildcards)),
        extra=config["salmon"]["extra_args"],
        # The shell function kgpex_disk_check (kgpex.common.diskspace).
        disk_check=SHELL_DISK_CHECK,
    shell:
        # params.extra stays unquoted (several options); preflight allows no shell syntax in it.
        # salmon writes into a hidden folder renamed into place when it is done: Snakemake 9.27
        # does not recheck the incomplete markers of jobs found through a checkpoint (these are),
        # so files of a killed salmon must never carry their final names.
        # salmon 1.10 exits 0 when its output filesystem is full, leaving files empty or cut
        # short: kgpex_disk_check checks them and turns a full disk into one line (rule
        # salmon_quant: <outdir>: no space left on device ...), removing the hidden folder.
        "{params.disk_check}"
        "rm -rf {params.partial:q}"
        " && if salmon quant -i {input.index:q} {params.reads}"
        " -p {threads} --validateMappings {params.extra} -o {params.partial:q} > {log:q} 2>&1;"
        " then rc=0; else rc=$?; fi"
        " && kgpex_disk_check salmon_quant salmon $rc {params.partial:q} {params.outdir:q}"
        " {log:q} quant.sf lib_format_counts.json aux_info/meta_info.json"
        " && rm -rf {params.outdir:q} && mv {params.partial:q} {params.outdir:q}"
