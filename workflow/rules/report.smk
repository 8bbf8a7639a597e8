# Stage report: plots of the run's own outputs for the Snakemake report (`snakemake --report`),
# one rule per plot, each a PNG under {RESULTS}/report/plots/ with its caption in
# workflow/report/<name>.rst. Logic: kgpex.report.plots (a data function and a plot function per
# plot), in kgpex's one plotting style (kgpex.common.plotting). Each job reads only small tables
# (the expression PCA: the inverse-normal BED) and draws one figure.
#   - reads only (expression.input reads): mapping rates and library types per library, and the
#     expression PCA's batch colouring;
#   - every entry point: expression PCA by population, gene-level p-value QQ plot, lead variant
#     distance to the TSS, credible sets, eGenes per chromosome;
#   - aFC-n on (EFFECT_SIZE_ARMS.afcn, effect_sizes.smk): the log2 aFC distribution.
REPORT_PLOTS = f"{RESULTS}/report/plots"
# The lead variants of the fine-mapped credible sets (eqtl.smk), whatever the effect-size arms.
REPORT_LEAD_VARIANTS = rules.mage_finemapping_lead_variants.output.lead_variants
# Inputs that give the expression PCA its batch panel: the kept library of each individual and
# the batch of its runs (reads only).
REPORT_PCA_BATCH = (
    {"choice": rules.select_libraries.output.choice, "runs": RESOLVED_RUNS}
    if EXPRESSION_INPUT == "reads"
    else {}
)


if EXPRESSION_INPUT == "reads":

    rule plot_mapping_rates:
        input:
            meta_info=per_library(SALMON_META_INFO),
            runs=RESOLVED_RUNS,
            choice=rules.select_libraries.output.choice,
        output:
            plot=report(
                f"{REPORT_PLOTS}/mapping_rates.png",
                caption="../report/mapping_rates.rst",
                category="Expression",
            ),
        log:
            f"{LOGS}/plot_mapping_rates/plot_mapping_rates.log",
        conda:
            env("python")
        container:
            container("python")
        threads: 1
        resources:
            mem_mb=by_attempt(1000),
            runtime=10,
        script:
            "../scripts/plot_report.py"

    rule plot_library_types:
        input:
            types=rules.select_libraries.output.types,
        output:
            plot=report(
                f"{REPORT_PLOTS}/library_types.png",
                caption="../report/library_types.rst",
                category="Expression",
            ),
        log:
            f"{LOGS}/plot_library_types/plot_library_types.log",
        conda:
            env("python")
        container:
            container("python")
        threads: 1
        resources:
            mem_mb=by_attempt(1000),
            runtime=10,
        script:
            "../scripts/plot_report.py"


rule plot_expression_pca:
    input:
        **REPORT_PCA_BATCH,
        bed=INVERSE_NORMAL_BED,
        individuals=RESOLVED_INDIVIDUALS,
    output:
        plot=report(
            f"{REPORT_PLOTS}/expression_pca.png",
            caption="../report/expression_pca.rst",
            category="Expression",
        ),
    log:
        f"{LOGS}/plot_expression_pca/plot_expression_pca.log",
    conda:
        env("python")
    container:
        container("python")
    threads: 1
    resources:
        # The genes x samples matrix as float64, centred and scaled, and its SVD (as hidden_factors).
        mem_mb=lambda wc, input, attempt: attempt * max(2000, int(10 * input.size_mb)),
        runtime=10,
    script:
        "../scripts/plot_report.py"


rule plot_pvalue_qq:
    input:
        cis_genes=EQTL_CIS_GENES,
    output:
        plot=report(
            f"{REPORT_PLOTS}/pvalue_qq.png",
            caption="../report/pvalue_qq.rst",
            category="eQTL",
        ),
    log:
        f"{LOGS}/plot_pvalue_qq/plot_pvalue_qq.log",
    conda:
        env("python")
    container:
        container("python")
    threads: 1
    resources:
        mem_mb=by_attempt(1000),
        runtime=10,
    params:
        title=f"{TAG}: gene-level p-values (pval_beta, {EQTL_MAPPER})",
    script:
        "../scripts/plot_report.py"


rule plot_egenes_per_chromosome:
    input:
        cis_genes=EQTL_CIS_GENES,
        genes=EXPRESSION_GENES,
    output:
        plot=report(
            f"{REPORT_PLOTS}/egenes_per_chromosome.png",
            caption="../report/egenes_per_chromosome.rst",
            category="eQTL",
        ),
    log:
        f"{LOGS}/plot_egenes_per_chromosome/plot_egenes_per_chromosome.log",
    conda:
        env("python")
    container:
        container("python")
    threads: 1
    resources:
        mem_mb=by_attempt(1000),
        runtime=10,
    params:
        fdr=config["eqtl"]["fdr"],
    script:
        "../scripts/plot_report.py"


rule plot_lead_tss_distance:
    input:
        lead_variants=REPORT_LEAD_VARIANTS,
        genes=EXPRESSION_GENES,
    output:
        plot=report(
            f"{REPORT_PLOTS}/lead_tss_distance.png",
            caption="../report/lead_tss_distance.rst",
            category="Fine-mapping",
        ),
    log:
        f"{LOGS}/plot_lead_tss_distance/plot_lead_tss_distance.log",
    conda:
        env("python")
    container:
        container("python")
    threads: 1
    resources:
        mem_mb=by_attempt(1000),
        runtime=10,
    params:
        # A phenotype BED's genes table has strand "+" for every gene (a BED has none).
        stranded=not BED_INPUT,
        window=config["eqtl"]["window"],
    script:
        "../scripts/plot_report.py"


rule plot_credible_sets:
    input:
        credible_sets=rules.mage_finemapping_tables.output.credible_sets,
        lead_variants=REPORT_LEAD_VARIANTS,
    output:
        plot=report(
            f"{REPORT_PLOTS}/credible_sets.png",
            caption="../report/credible_sets.rst",
            category="Fine-mapping",
        ),
    log:
        f"{LOGS}/plot_credible_sets/plot_credible_sets.log",
    conda:
        env("python")
    container:
        container("python")
    threads: 1
    resources:
        mem_mb=by_attempt(1000),
        runtime=10,
    script:
        "../scripts/plot_report.py"


if EFFECT_SIZE_ARMS.afcn:

    rule plot_afc_distribution:
        input:
            afcn=rules.estimate_afcn.output.table,
        output:
            plot=report(
                f"{REPORT_PLOTS}/afc_distribution.png",
                caption="../report/afc_distribution.rst",
                category="Effect sizes",
            ),
        log:
            f"{LOGS}/plot_afc_distribution/plot_afc_distribution.log",
        conda:
            env("python")
        container:
            container("python")
        threads: 1
        resources:
            mem_mb=by_attempt(1000),
            runtime=10,
        params:
            bound=config["effect_sizes"]["afcn_bound"],
        script:
            "../scripts/plot_report.py"


# The plots this config makes, for rule all (a lambda: the linter wants no `def` in rule files).
report_outputs = lambda: [
    *(
        [*rules.plot_mapping_rates.output, *rules.plot_library_types.output]
        if EXPRESSION_INPUT == "reads"
        else []
    ),
    *rules.plot_expression_pca.output,
    *rules.plot_pvalue_qq.output,
    *rules.plot_egenes_per_chromosome.output,
    *rules.plot_lead_tss_distance.output,
    *rules.plot_credible_sets.output,
    *(rules.plot_afc_distribution.output if EFFECT_SIZE_ARMS.afcn else []),
]
