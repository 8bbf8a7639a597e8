# Stage expression: one library per individual (samples.replicates), gene-level counts and TPM (tximport-style),
# MAGE's filter + TMM + inverse normal transform, MAGE-style TSS BED matrices. Logic:
# kgpex.expression.libraries (library choice and QC), kgpex.expression.aggregate (tximport-style
# gene sums), kgpex.expression.normalize and kgpex.expression.matrices (filter, TMM, INT, BEDs).
# expression.input chooses the entry point: "reads" (these rules) or "matrix" (a pre-quantified
# matrix, matrix_input.smk). Both write the TSS BEDs that covariates and mapping read, under
# the names in paths.smk.
EXPRESSION_INPUT = config["expression"]["input"]


if EXPRESSION_INPUT == "reads":

    rule select_libraries:
        input:
            # Each run's identity verdict (identity.smk), when alignment is on.
            **({"identity": IDENTITY_TABLE} if ALIGNMENT_ON else {}),
            lib_format=per_library(SALMON_LIB_FORMAT),
            meta_info=per_library(SALMON_META_INFO),
            runs=RESOLVED_RUNS,
            mapping=RUN_MAPPING,
        output:
            choice=LIBRARY_CHOICE,
            types=f"{RESULTS}/expression/library_types.tsv",
            # Every run of the run table with its final status (used, pooled, replicate not
            # chosen, excluded): run_mapping.tsv's, with the replicates settled.
            run_status=f"{RESULTS}/expression/run_status.tsv",
        log:
            f"{LOGS}/select_libraries/select_libraries.log",
        conda:
            env("python")
        container:
            container("python")
        threads: 1
        resources:
            mem_mb=by_attempt(1000),
            runtime=10,
        params:
            requested_format=SALMON_LIBTYPE,
            on_mismatch=config["identity"]["on_mismatch"],
        script:
            "../scripts/select_libraries.py"

    rule aggregate_genes:
        input:
            quant=per_library(SALMON_QUANT),
            runs=RESOLVED_RUNS,
            tx2gene=TX2GENE,
        output:
            counts=f"{QUANTS}/gene_counts.allLibraries.{TAG}.parquet",
            tpm=f"{QUANTS}/gene_tpm.allLibraries.{TAG}.parquet",
        log:
            f"{LOGS}/aggregate_genes/aggregate_genes.log",
        conda:
            env("python")
        container:
            container("python")
        threads: 1
        resources:
            # Two float64 gene x run matrices (~62k GENCODE genes) plus one quant.sf at a time.
            mem_mb=lambda wc, input, attempt: attempt * (2000 + 3 * len(input.quant)),
            runtime=60,
        script:
            "../scripts/aggregate_genes.py"

    rule normalize_expression:
        input:
            counts=rules.aggregate_genes.output.counts,
            tpm=rules.aggregate_genes.output.tpm,
            choice=rules.select_libraries.output.choice,
            genes=GENES,
        output:
            inverse_normal=INVERSE_NORMAL_BED,
            inverse_normal_tbi=INVERSE_NORMAL_TBI,
            tmm=TMM_BED,
            tmm_tbi=TMM_TBI,
            raw=RAW_BED,
            raw_tbi=RAW_TBI,
            filtered_genes=FILTERED_GENES,
            filtered_genes_tbi=FILTERED_GENES_TBI,
            factors=TMM_FACTORS,
            gene_filter=GENE_FILTER,
        log:
            f"{LOGS}/normalize_expression/normalize_expression.log",
        conda:
            env("python")
        container:
            container("python")
        threads: 1
        resources:
            mem_mb=lambda wc, input, attempt: attempt
            * max(2000, int(4 * input.size_mb)),
            runtime=30,
        params:
            expression=config["expression"],
        script:
            "../scripts/normalize_expression.py"

    # MAGE's aFC-n input: DESeq2-normalised counts (with tximport's average transcript lengths),
    # log2(x + 1), computed on all genes of the chosen libraries, then the filter's genes.
    rule deseq2_normalize:
        input:
            quant=per_library(SALMON_QUANT),
            choice=rules.select_libraries.output.choice,
            tx2gene=TX2GENE,
            gene_filter=rules.normalize_expression.output.gene_filter,
            genes=GENES,
        output:
            bed=DESEQ2_BED,
            tbi=DESEQ2_TBI,
        log:
            f"{LOGS}/deseq2_normalize/deseq2_normalize.log",
        conda:
            env("deseq2")
        container:
            container("deseq2")
        threads: 1
        resources:
            # tximport's transcripts x libraries matrices: measured ~15 MB per library at 200k
            # transcripts (rpy2 run of 8 and 32 synthetic libraries); GENCODE has ~250k.
            mem_mb=lambda wc, input, attempt: attempt * (2000 + 24 * len(input.quant)),
            runtime=60,
        script:
            "../scripts/deseq2_normalize.py"

    rule plot_library_qc:
        input:
            choice=rules.select_libraries.output.choice,
            types=rules.select_libraries.output.types,
        output:
            plot=report(
                f"{RESULTS}/expression/library_qc.png",
                caption="../report/library_qc.rst",
                category="Expression",
            ),
        log:
            f"{LOGS}/plot_library_qc/plot_library_qc.log",
        conda:
            env("python")
        container:
            container("python")
        threads: 1
        resources:
            mem_mb=by_attempt(1000),
            runtime=10,
        script:
            "../scripts/plot_library_qc.py"

    # The stage's final outputs, for rule all (provenance.smk's final_outputs). A lambda, not a
    # def: Snakemake's linter flags rule files that mix rules and function definitions.
    expression_outputs = lambda: [
        *rules.normalize_expression.output,
        *rules.deseq2_normalize.output,
        *rules.aggregate_genes.output,
        *rules.select_libraries.output,
        *rules.plot_library_qc.output,
    ]
