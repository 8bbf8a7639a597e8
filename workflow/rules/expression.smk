# Stage expression: one library per individual, gene-level counts and TPM (tximport-style),
# MAGE's filter + TMM + inverse normal transform, MAGE-style TSS BED matrices.
# expression.input chooses the entry point: "reads" (these rules) or "matrix" (a pre-quantified
# matrix, matrix_input.smk). Both write the TSS BEDs that covariates and mapping read.
EXPRESSION_INPUT = config["expression"]["input"]


if EXPRESSION_INPUT == "reads":

    rule select_libraries:
        input:
            lib_format=per_run(f"{RESULTS}/salmon/{{run}}/lib_format_counts.json"),
            meta_info=per_run(f"{RESULTS}/salmon/{{run}}/aux_info/meta_info.json"),
            runs=RESOLVED_RUNS,
        output:
            choice=f"{RESULTS}/expression/library_choice.tsv",
            types=f"{RESULTS}/expression/library_types.tsv",
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
        script:
            "../scripts/select_libraries.py"

    rule aggregate_genes:
        input:
            quant=per_run(f"{RESULTS}/salmon/{{run}}/quant.sf"),
            runs=RESOLVED_RUNS,
            tx2gene=f"{RESULTS}/reference/tx2gene.tsv",
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
            genes=f"{RESULTS}/reference/genes.tsv",
        output:
            inverse_normal=f"{QUANTS}/inverse_normal_TMM.filtered.TSS.{TAG}.bed.gz",
            inverse_normal_tbi=f"{QUANTS}/inverse_normal_TMM.filtered.TSS.{TAG}.bed.gz.tbi",
            tmm=f"{QUANTS}/TMM.filtered.TSS.{TAG}.bed.gz",
            tmm_tbi=f"{QUANTS}/TMM.filtered.TSS.{TAG}.bed.gz.tbi",
            raw=f"{QUANTS}/raw_pseudocounts.filtered.TSS.{TAG}.bed.gz",
            raw_tbi=f"{QUANTS}/raw_pseudocounts.filtered.TSS.{TAG}.bed.gz.tbi",
            filtered_genes=f"{MAGE}/expression_filteredGenes.{TAG}.txt.gz",
            filtered_genes_tbi=f"{MAGE}/expression_filteredGenes.{TAG}.txt.gz.tbi",
            factors=f"{RESULTS}/expression/tmm_factors.tsv",
            gene_filter=f"{RESULTS}/expression/gene_filter.tsv.gz",
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

    # The stage's final outputs, for rule all (common.smk). A lambda, not a def: Snakemake's linter
    # flags rule files that mix rules and function definitions.
    expression_outputs = lambda: [
        *rules.normalize_expression.output,
        *rules.aggregate_genes.output,
        *rules.select_libraries.output,
        *rules.plot_library_qc.output,
    ]
