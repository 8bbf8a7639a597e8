# Stage reference: GENCODE transcripts + GTF, the salmon index, and the gene/TSS tables.
# Logic: kgpex.common.fetch (download, MD5SUMS), kgpex.reference.annotation (GTF -> genes,
# tx2gene, TSS BED; the genes table's format: kgpex.reference.genes). REFERENCE_FILES,
# SALMON_INDEX, GENES and TX2GENE, which later stages read: paths.smk.
from kgpex.common.diskspace import SHELL_DISK_CHECK

# MAGE indexed transcripts only, so "mage" salmon settings turn decoys off.
SALMON_DECOYS = config["reference"]["decoys"] and config["salmon"]["settings"] != "mage"
if SALMON_DECOYS and not config["reference"]["genome_url"]:
    _stop("config: field 'reference.genome_url' is empty but reference.decoys is true")

REFERENCE_SOURCES = {
    "transcripts": config["reference"]["transcripts_url"],
    "annotation": config["reference"]["annotation_url"],
}
if SALMON_DECOYS:
    REFERENCE_SOURCES["genome"] = config["reference"]["genome_url"]
MD5SUMS_URL = config["reference"]["md5sums_url"]
# The files of a whole salmon index (a dense pufferfish index); mphf.bin, written last and
# silently cut short when the disk fills, must be as large as salmon's log says.
SALMON_INDEX_FILES = (
    "versionInfo.json info.json complete_ref_lens.bin:bin ctable.bin:bin ctg_offsets.bin:bin"
    " pos.bin:bin seq.bin:bin refseq.bin:bin reflengths.bin:bin refAccumLengths.bin:bin"
    " rank.bin:bin 'mphf.bin:bin>=mphf size'"
)


rule download_reference:
    input:
        [
            path
            for source in [
                *REFERENCE_SOURCES.values(),
                *([MD5SUMS_URL] if MD5SUMS_URL else []),
            ]
            for path in local_input(source)
        ],
    output:
        **{name: REFERENCE_FILES[name] for name in REFERENCE_SOURCES},
    log:
        f"{LOGS}/download_reference/download_reference.log",
    conda:
        env("python")
    container:
        container("python")
    threads: 1
    resources:
        mem_mb=by_attempt(1000),
        runtime=120,
        downloads=1,
    params:
        urls={name: to_url(source) for name, source in REFERENCE_SOURCES.items()},
        md5sums_url=to_url(MD5SUMS_URL) if MD5SUMS_URL else "",
        options=DOWNLOAD_OPTIONS,
    script:
        "../scripts/download_reference.py"


# Salmon's decoy recipe: genome sequence names as decoys, genome appended after transcripts.
rule make_gentrome:
    input:
        transcripts=REFERENCE_FILES["transcripts"],
        genome=REFERENCE_FILES["genome"],
    output:
        gentrome=temp(f"{REFERENCE}/gentrome.fa.gz"),
        decoys=temp(f"{REFERENCE}/decoys.txt"),
    log:
        f"{LOGS}/make_gentrome/make_gentrome.log",
    conda:
        env("salmon")
    container:
        container("salmon")
    threads: 1
    resources:
        mem_mb=by_attempt(1000),
        runtime=60,
    shell:
        "(zcat {input.genome:q} | grep '^>' | cut -d ' ' -f 1 | sed 's/^>//' > {output.decoys:q}"
        " && cat {input.transcripts:q} {input.genome:q} > {output.gentrome:q}) 2> {log:q}"


# The index's targets: transcripts, or with decoys the gentrome and its decoy names.
SALMON_INDEX_INPUTS = (
    {
        "targets": rules.make_gentrome.output.gentrome,
        "decoys": rules.make_gentrome.output.decoys,
    }
    if SALMON_DECOYS
    else {"targets": REFERENCE_FILES["transcripts"]}
)


rule salmon_index:
    input:
        **SALMON_INDEX_INPUTS,
        inputs_checked=AFTER_INPUTS_CHECKED,
    output:
        directory(SALMON_INDEX),
    log:
        f"{LOGS}/salmon_index/salmon_index.log",
    conda:
        env("salmon")
    container:
        container("salmon")
    threads: 8
    resources:
        mem_mb=by_attempt(40000 if SALMON_DECOYS else 16000),
        runtime=240,
    params:
        kmer=config["reference"]["kmer"],
        decoys=lambda wildcards, input: (
            f"--decoys {input.decoys}" if SALMON_DECOYS else ""
        ),
        # The shell function kgpex_disk_check (kgpex.common.diskspace).
        disk_check=SHELL_DISK_CHECK,
        index_files=SALMON_INDEX_FILES,
    shell:
        # salmon 1.10 index on a full disk fails ("Failed to write", a crash) or, worse, exits 0
        # with mphf.bin cut short (salmon quant then hangs loading it): kgpex_disk_check turns
        # either into one line (rule salmon_index: <index>: no space left on device ...) and
        # removes the index.
        "{params.disk_check}"
        "if salmon index --transcripts {input.targets:q} --index {output:q}"
        " --kmerLen {params.kmer} --gencode {params.decoys} --threads {threads} > {log:q} 2>&1;"
        " then rc=0; else rc=$?; fi"
        " && kgpex_disk_check salmon_index salmon $rc {output:q} {output:q} {log:q}"
        " {params.index_files}"


rule annotate_genes:
    input:
        gtf=REFERENCE_FILES["annotation"],
        inputs_checked=AFTER_INPUTS_CHECKED,
    output:
        genes=GENES,
        tx2gene=TX2GENE,
        tss_bed=f"{REFERENCE}/tss.bed",
    log:
        f"{LOGS}/annotate_genes/annotate_genes.log",
    conda:
        env("python")
    container:
        container("python")
    threads: 1
    resources:
        mem_mb=by_attempt(4000),
        runtime=30,
    params:
        chromosomes=GENOTYPE_CHROMS,
    script:
        "../scripts/annotate_genes.py"
