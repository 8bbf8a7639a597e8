# Covariates for cis-eQTL mapping (kgpex.covariates): genotype PCs, hidden expression factors
# (PCs of the inverse-normal matrix, the PEER substitute) and sex, joined by sample ID.


rule hidden_factors:
    input:
        expression=f"{QUANTS}/inverse_normal_TMM.filtered.TSS.{TAG}.bed.gz",
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
        expression=f"{QUANTS}/inverse_normal_TMM.filtered.TSS.{TAG}.bed.gz",
        genotype_pcs=f"{RESULTS}/covariates/genotype_pcs.tsv",
        factors=f"{RESULTS}/covariates/hidden_factors.tsv",
        individuals=RESOLVED_INDIVIDUALS,
    output:
        covariates=f"{QUANTS}/eQTL_covariates.tab.gz",
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
