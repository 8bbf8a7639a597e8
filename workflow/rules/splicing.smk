# Stage splicing: LeafCutter intron-excision phenotypes, as MAGE's sQTL release made them.
# star_align (alignment.smk) writes each library's junctions as MAGE's regtools step counted them
# (kgpex.splicing.junctions); here every aligned library's junctions are pooled and clustered as
# leafcutter_cluster_regtools.py does (kgpex.splicing.clusters), then the kept library of each
# individual is filtered, normalised and mapped to genes as MAGE's filter_quants.py and
# LeafCutter's prepare_phenotype_table.py do (kgpex.splicing.phenotypes): a phenotype BED of
# introns at their gene's TSS and the intron -> gene groups that sqtl.smk maps.
SPLICING = f"{RESULTS}/splicing"
SPLICING_CONFIG = config["splicing"]
LEAFCUTTER_COUNTS = f"{SPLICING}/leafcutter/{TAG}_perind.counts.gz"


rule cluster_introns:
    input:
        # MAGE pooled every library, replicates included (its total_metadata).
        junctions=per_library(STAR_INTRONS),
    output:
        counts=LEAFCUTTER_COUNTS,
    log:
        f"{LOGS}/cluster_introns/cluster_introns.log",
    conda:
        env("python")
    container:
        container("python")
    threads: 1
    resources:
        # Every distinct intron of the cohort pooled (a few million for MAGE), one library's
        # junctions at a time; each of the 779 files is read twice.
        mem_mb=by_attempt(8000),
        runtime=lambda wc, attempt: attempt * 240,
    params:
        min_reads=SPLICING_CONFIG["min_cluster_reads"],
        max_intron=SPLICING_CONFIG["max_cluster_intron"],
        min_ratio=SPLICING_CONFIG["min_cluster_ratio"],
    script:
        "../scripts/cluster_introns.py"


rule prepare_splicing_phenotypes:
    input:
        counts=LEAFCUTTER_COUNTS,
        choice=LIBRARY_CHOICE,
        gtf=REFERENCE_FILES["annotation"],
        genes=GENES,
    output:
        bed=SPLICING_BED,
        tbi=SPLICING_TBI,
        groups=SPLICING_GROUPS,
        filtered_counts=f"{SPLICING_QUANTS}/perind.counts.filtered.{TAG}.txt.gz",
    log:
        f"{LOGS}/prepare_splicing_phenotypes/prepare_splicing_phenotypes.log",
    conda:
        env("python")
    container:
        container("python")
    threads: 1
    resources:
        mem_mb=by_attempt(8000),
        runtime=60,
    params:
        pct_cutoff=SPLICING_CONFIG["pct_cutoff"],
    script:
        "../scripts/prepare_splicing_phenotypes.py"


# The stage's final outputs, for rule all (provenance.smk's final_outputs). A lambda, not a def.
splicing_outputs = lambda: (
    [*rules.prepare_splicing_phenotypes.output] if SPLICING_ON else []
)
