# Covariates for cis-eQTL mapping: genotype PCs, hidden expression factors (PCs of the
# inverse-normal matrix, the PEER substitute; kgpex.covariates.hidden_factors) and sex, joined
# by sample ID (kgpex.covariates.assemble). Its table, COVARIATES_TABLE: paths.smk.


rule hidden_factors:
    input:
        expression=INVERSE_NORMAL_BED,
    output:
        factors=f"{RESULTS}/covariates/hidden_factors.tsv",
        variance=f"{RESULTS}/covariates/hidden_factors.variance.tsv",
        plot=report(
            f"{RESULTS}/covariates/hidden_factors.png",
            caption="../report/hidden_factors.rst",
            category="Covariates",
        ),
    log:
        f"{LOGS}/hidden_factors/hidden_factors.log",
    conda:
        env("python")
    container:
        container("python")
    threads: 1
    resources:
        mem_mb=by_attempt(8000),
        runtime=30,
    params:
        setting=config["covariates"]["hidden_factors"],
        # Genotype PCs and sex, so that the count is clamped to leave residual dof.
        n_other_covariates=config["genotypes"]["pca"]["n_covariate_pcs"] + 1,
    script:
        "../scripts/hidden_factors.py"


rule assemble_covariates:
    input:
        expression=INVERSE_NORMAL_BED,
        genotype_pcs=GENOTYPE_PCS,
        factors=rules.hidden_factors.output.factors,
        individuals=RESOLVED_INDIVIDUALS,
    output:
        covariates=COVARIATES_TABLE,
    log:
        f"{LOGS}/assemble_covariates/assemble_covariates.log",
    conda:
        env("python")
    container:
        container("python")
    threads: 1
    resources:
        mem_mb=by_attempt(2000),
        runtime=10,
    params:
        n_genotype_pcs=config["genotypes"]["pca"]["n_covariate_pcs"],
    script:
        "../scripts/assemble_covariates.py"


# The user's own covariates (covariates.input; kgpex.covariates.user) instead of the assembled
# ones: matched to the BED's samples by ID, collinear or constant ones dropped, MAGE's layout.
if USER_COVARIATES_FILE:

    rule import_covariates:
        input:
            expression=INVERSE_NORMAL_BED,
            covariates=USER_COVARIATES_FILE,
            # check_inputs matches the covariates' samples to the cohort first: its one line,
            # naming the missing samples, is the one a user gets, whichever job runs first.
            inputs_checked=AFTER_INPUTS_CHECKED,
        output:
            covariates=COVARIATES_TABLE,
        log:
            f"{LOGS}/import_covariates/import_covariates.log",
        conda:
            env("python")
        container:
            container("python")
        threads: 1
        resources:
            mem_mb=by_attempt(2000),
            runtime=10,
        params:
            source=USER_COVARIATES_SOURCE,
        script:
            "../scripts/import_covariates.py"

    ruleorder: import_covariates > assemble_covariates
