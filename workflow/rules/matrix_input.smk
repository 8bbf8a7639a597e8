# Stage expression, matrix entry point (expression.input: matrix): a pre-quantified gene x
# individual matrix instead of reads. Logic: kgpex.matrix_input.read (import, gene annotation)
# and kgpex.matrix_input.normalize, with kgpex.reference.genes and kgpex.common.fetch. Its
# outputs carry the reads path's names (paths.smk: INVERSE_NORMAL_BED, FILTERED_GENES, ...), so
# covariates and mapping read them unchanged; for arrays the "TMM" in that name is historical:
# the values are the inverse normal transform of normalised log2 intensities
# (expression.matrix.array_normalization; replicate arrays per individual from
# expression.matrix.arrays_url, imported as {MATRIX_DIR}/arrays.tsv).
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
        ("arrays", MATRIX_CONFIG["arrays_url"]),
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
MATRIX_GENES = EXPRESSION_GENES  # paths.smk: the annotation's genes, or the GTF's


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
                    for name in ("matrix", "tpm", "arrays")
                    if name in MATRIX_DOWNLOADS
                }
            ),
            individuals=RESOLVED_INDIVIDUALS,
            genes=MATRIX_GENES,
        output:
            **({"tpm": f"{MATRIX_DIR}/tpm.parquet"} if MATRIX_CONFIG["tpm_url"] else {}),
            **(
                {"arrays": f"{MATRIX_DIR}/arrays.tsv"}
                if MATRIX_CONFIG["kind"] == "array"
                else {}
            ),
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
                arrays=rules.import_expression_matrix.output.arrays,
                genes=MATRIX_GENES,
            output:
                inverse_normal=INVERSE_NORMAL_BED,
                inverse_normal_tbi=INVERSE_NORMAL_TBI,
                quantile_log2=f"{QUANTS}/quantile_log2.filtered.TSS.{TAG}.bed.gz",
                quantile_log2_tbi=f"{QUANTS}/quantile_log2.filtered.TSS.{TAG}.bed.gz.tbi",
                filtered_genes=FILTERED_GENES,
                filtered_genes_tbi=FILTERED_GENES_TBI,
                gene_filter=GENE_FILTER,
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
                method=MATRIX_CONFIG["array_normalization"],
            script:
                "../scripts/normalize_array_expression.py"


# Bring your own phenotypes (expression.input: bed; kgpex.matrix_input.bed): the user's
# normalised phenotype BED taken as it is, with their covariates (covariates.input, imported by
# covariates.smk) and genotypes (genotypes.smk import_genotypes). The BED's sample columns are
# the cohort: import_phenotype_bed writes the samples stage's tables in place of
# resolve_samples (ruleorder), and the genes table from the BED (EXPRESSION_GENES, paths.smk).
BED_SOURCE = config["expression"]["bed"]["url"]
USER_SOURCES = {
    name: source
    for name, source in (
        ("bed", BED_SOURCE if BED_INPUT else ""),
        ("covariates", USER_COVARIATES_SOURCE),
    )
    if source
}
USER_DOWNLOADS = {
    name: f"{USER_INPUTS}/{name}/{PurePosixPath(urlparse(source).path).name}"
    for name, source in USER_SOURCES.items()
}

if USER_SOURCES:

    rule download_user_inputs:
        input:
            [path for source in USER_SOURCES.values() for path in local_input(source)],
        output:
            **USER_DOWNLOADS,
        log:
            f"{LOGS}/download_user_inputs/download_user_inputs.log",
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
            urls={name: to_url(source) for name, source in USER_SOURCES.items()},
            options=DOWNLOAD_OPTIONS,
        script:
            "../scripts/download_expression_matrix.py"


if BED_INPUT:

    rule import_phenotype_bed:
        input:
            bed=USER_DOWNLOADS["bed"],
        output:
            bed=INVERSE_NORMAL_BED,
            tbi=INVERSE_NORMAL_TBI,
            genes=EXPRESSION_GENES,
            individuals=RESOLVED_INDIVIDUALS,
            runs=RESOLVED_RUNS,
            sources=RESOLVED_SOURCES,
            mapping=RUN_MAPPING,
        log:
            f"{LOGS}/import_phenotype_bed/import_phenotype_bed.log",
        conda:
            env("python")
        container:
            container("python")
        threads: 1
        resources:
            mem_mb=lambda wc, input, attempt: attempt
            * max(2000, int(20 * input.size_mb)),
            runtime=30,
        params:
            chromosomes=config["expression"]["chromosomes"],
            source=BED_SOURCE,
        script:
            "../scripts/import_phenotype_bed.py"

    # The cohort's tables come from the BED, not from sample sheets.
    ruleorder: import_phenotype_bed > resolve_samples


# The stage's final outputs in matrix mode, for rule all (provenance.smk's final_outputs). A
# lambda: rule files must not define functions (lint).
if BED_INPUT:
    expression_outputs = lambda: [
        rules.import_phenotype_bed.output.bed,
        rules.import_phenotype_bed.output.tbi,
    ]
if EXPRESSION_INPUT == "matrix":
    expression_outputs = lambda: [
        *getattr(rules, MATRIX_NORMALIZE_RULE).output,
        *rules.import_expression_matrix.output,
    ]
