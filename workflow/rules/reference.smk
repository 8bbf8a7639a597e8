# Stage reference: GENCODE transcripts + GTF, the salmon index, and the gene/TSS tables.
# Logic: kgpex.common.fetch (download, MD5SUMS), kgpex.reference.annotation (GTF -> genes,
# tx2gene, TSS BED; the genes table's format: kgpex.reference.genes). REFERENCE_FILES,
# SALMON_INDEX, GENES and TX2GENE, which later stages read: paths.smk.
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
    shell:
        "salmon index --transcripts {input.targets:q} --index {output:q} --kmerLen {params.kmer}"
        " --gencode {params.decoys} --threads {threads} > {log:q} 2>&1"


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
