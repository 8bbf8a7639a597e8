# Stage expression, matrix entry point (expression.input: matrix): a pre-quantified gene x
# individual matrix instead of reads. Logic: kgpex.matrix_input. Its outputs carry the reads
# path's names ({QUANTS}/inverse_normal_TMM.filtered.TSS.{TAG}.bed.gz, the filtered-genes table),
# so covariates and mapping read them unchanged; for arrays the "TMM" in that name is historical:
# the values are the inverse normal transform of quantile-normalised log2 intensities.
from pathlib import PurePosixPath
from urllib.parse import urlparse

MATRIX_CONFIG = config["expression"]["matrix"]
MATRIX_DIR = f"{RESULTS}/expression/matrix"
# Sources of the matrix stage (URL or path), each downloaded under its own name.
MATRIX_SOURCES = {
    name: source
    for name, source in (
        ("matrix", MATRIX_CONFIG["url"]),
        ("tpm", MATRIX_CONFIG["tpm_url"]),
        ("annotation", MATRIX_CONFIG["annotation_url"]),
    )
    if source
}
MATRIX_DOWNLOADS = {
    name: f"{MATRIX_DIR}/downloads/{name}/{PurePosixPath(urlparse(source).path).name}"
    for name, source in MATRIX_SOURCES.items()
}
# The annotation table becomes a genes table; without one, the reference stage's GTF genes.
MATRIX_NORMALIZE_RULE = (
    "normalize_matrix_counts"
    if MATRIX_CONFIG["kind"] == "counts"
    else "normalize_array_expression"
)
MATRIX_GENES = (
    f"{MATRIX_DIR}/genes.tsv"
    if MATRIX_CONFIG["annotation_url"]
    else f"{RESULTS}/reference/genes.tsv"
)


if EXPRESSION_INPUT == "matrix":

    rule download_expression_matrix:
        input:
            [path for source in MATRIX_SOURCES.values() for path in local_input(source)],
        output:
            **MATRIX_DOWNLOADS,
        log:
            f"{LOGS}/download_expression_matrix/download_expression_matrix.log",
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
            urls={name: to_url(source) for name, source in MATRIX_SOURCES.items()},
            options=DOWNLOAD_OPTIONS,
        script:
            "../scripts/download_expression_matrix.py"

    if MATRIX_CONFIG["annotation_url"]:

        rule import_gene_annotation:
            input:
                table=MATRIX_DOWNLOADS["annotation"],
            output:
                genes=MATRIX_GENES,
            log:
                f"{LOGS}/import_gene_annotation/import_gene_annotation.log",
            conda:
                env("python")
            container:
                container("python")
            threads: 1
            resources:
                mem_mb=by_attempt(2000),
                runtime=10,
            script:
                "../scripts/import_gene_annotation.py"

    rule import_expression_matrix:
        input:
            unpack(
                lambda wildcards: {
                    name: MATRIX_DOWNLOADS[name]
                    for name in ("matrix", "tpm")
                    if name in MATRIX_DOWNLOADS
                }
            ),
            individuals=RESOLVED_INDIVIDUALS,
            genes=MATRIX_GENES,
        output:
            **({"tpm": f"{MATRIX_DIR}/tpm.parquet"} if MATRIX_CONFIG["tpm_url"] else {}),
            matrix=f"{MATRIX_DIR}/expression.parquet",
        log:
            f"{LOGS}/import_expression_matrix/import_expression_matrix.log",
        conda:
            env("python")
        container:
            container("python")
        threads: 1
        resources:
            # Text parsing holds the cells as strings and as float64.
            mem_mb=lambda wc, input, attempt: attempt
            * max(2000, int(20 * input.size_mb)),
            runtime=30,
        params:
            kind=MATRIX_CONFIG["kind"],
            drop_unannotated=MATRIX_CONFIG["drop_unannotated"],
            sources=MATRIX_SOURCES,
        script:
            "../scripts/import_expression_matrix.py"

    if MATRIX_CONFIG["kind"] == "counts":

        rule normalize_matrix_counts:
            input:
                **(
                    {"tpm": f"{MATRIX_DIR}/tpm.parquet"}
                    if MATRIX_CONFIG["tpm_url"]
                    else {}
                ),
                counts=rules.import_expression_matrix.output.matrix,
                genes=MATRIX_GENES,
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
                f"{LOGS}/normalize_matrix_counts/normalize_matrix_counts.log",
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
                "../scripts/normalize_matrix_counts.py"

    if MATRIX_CONFIG["kind"] == "array":

        rule normalize_array_expression:
            input:
                matrix=rules.import_expression_matrix.output.matrix,
                genes=MATRIX_GENES,
            output:
                inverse_normal=f"{QUANTS}/inverse_normal_TMM.filtered.TSS.{TAG}.bed.gz",
                inverse_normal_tbi=f"{QUANTS}/inverse_normal_TMM.filtered.TSS.{TAG}.bed.gz.tbi",
                quantile_log2=f"{QUANTS}/quantile_log2.filtered.TSS.{TAG}.bed.gz",
                quantile_log2_tbi=f"{QUANTS}/quantile_log2.filtered.TSS.{TAG}.bed.gz.tbi",
                filtered_genes=f"{MAGE}/expression_filteredGenes.{TAG}.txt.gz",
                filtered_genes_tbi=f"{MAGE}/expression_filteredGenes.{TAG}.txt.gz.tbi",
                gene_filter=f"{RESULTS}/expression/gene_filter.tsv.gz",
            log:
                f"{LOGS}/normalize_array_expression/normalize_array_expression.log",
            conda:
                env("python")
            container:
                container("python")
            threads: 1
            resources:
                mem_mb=lambda wc, input, attempt: attempt
                * max(2000, int(6 * input.size_mb)),
                runtime=30,
            params:
                chromosomes=config["expression"]["chromosomes"],
            script:
                "../scripts/normalize_array_expression.py"


# The stage's final outputs in matrix mode, for rule all (common.smk). A lambda: rule files
# must not define functions (lint).
if EXPRESSION_INPUT == "matrix":
    expression_outputs = lambda: [
        *getattr(rules, MATRIX_NORMALIZE_RULE).output,
        *rules.import_expression_matrix.output,
    ]
