# Stage eqtl: cis-eQTL mapping with tensorQTL (kgpex.eqtl.cis, inputs from kgpex.eqtl.inputs),
# Storey q-values over all genes (kgpex.eqtl.qvalues), conditionally independent eQTLs, SuSiE
# fine-mapping (kgpex.eqtl.finemapping), rsIDs (kgpex.eqtl.rsids), MAGE's tables
# (kgpex.eqtl.tables, .mage_files, .mage_format) and the overview plot (kgpex.eqtl.plots).
# tensorQTL-native intermediates live under {RESULTS}/eqtl/; both mappers (tensorqtl here,
# fastqtl in fastqtl.smk) write the same per-chromosome layout (paths.smk):
#   eqtl/{mapper}/permutations/{chrom}.tsv.gz and eqtl/{mapper}/nominal/{chrom}.parquet
# and everything downstream reads the one config eqtl.mapper picks.
# GPU: tensorQTL runs on CUDA whenever torch sees one. The mapping rules declare a `gpu`
# resource (0 by default) so a profile can ask for one (profiles/slurm sets `gres` instead).
EQTL_MAPPER = config["eqtl"]["mapper"]
# Chromosomes with both genotypes and expressed genes.
EQTL_CHROMS = [c for c in GENOTYPE_CHROMS if c in config["expression"]["chromosomes"]]
EQTL_CIS_GENES = f"{EQTL}/{EQTL_MAPPER}/cis_genes.tsv.gz"
MAGE_NOMINAL = f"{MAGE}/eQTL_nominal_results/eQTL_FastQTL_results"
MAGE_FINEMAPPING = f"{MAGE}/eQTL_finemapping_results/eQTL_finemapping"
# tensorQTL's own file names, {prefix} = TAG (tensorqtl.py; GTEx's tensorqtl_cis_*.wdl outputs).
TENSORQTL_NATIVE = f"{MAGE}/tensorqtl_native/{TAG}"
TENSORQTL_NATIVE_PAIRS = f"{TENSORQTL_NATIVE}.cis_qtl_pairs.{{chrom}}.parquet"

# What each tensorQTL pass reads: the chromosome's genotypes, the phenotypes, the covariates.
EQTL_MAPPING_INPUTS = {
    **GENOTYPE_PFILES,
    "phenotypes": INVERSE_NORMAL_BED,
    "covariates": COVARIATES_TABLE,
}
# rsIDs come from config eqtl.dbsnp (a local file) when set; without it rsID columns hold NA.
EQTL_DBSNP = config["eqtl"]["dbsnp"]
if EQTL_DBSNP and not local_input(EQTL_DBSNP):
    _stop(f"config: field 'eqtl.dbsnp' must be a local file, not the URL {EQTL_DBSNP}")
EQTL_RSIDS = {"rsids": f"{EQTL}/rsids.tsv.gz"} if EQTL_DBSNP else {}
# susie_rss (eqtl.finemapping.method: susier_rss, MAGE's) reads the nominal pass's z-scores.
EQTL_FINEMAPPING_Z = (
    {"nominal": EQTL_NOMINAL.format(mapper=EQTL_MAPPER, chrom="{chrom}")}
    if config["eqtl"]["finemapping"]["method"] == "susier_rss"
    else {}
)
EQTL_OUTPUTS = [
    f"{MAGE_NOMINAL}.permutation_pass.{TAG}.txt.gz",
    f"{MAGE_NOMINAL}.nominal_pass.allAssociations.{TAG}.txt.gz",
    f"{MAGE_NOMINAL}.nominal_pass.significantAssociations.{TAG}.txt.gz",
    f"{MAGE}/eQTL_summary.{TAG}.txt.gz",
    f"{MAGE_FINEMAPPING}.credibleSet_summary.{TAG}.txt.gz",
    f"{MAGE_FINEMAPPING}.allAssociations.{TAG}.txt.gz",
    f"{MAGE_FINEMAPPING}.significantAssociations.{TAG}.txt.gz",
    f"{EQTL}/plots/cis_overview.png",
    f"{TENSORQTL_NATIVE}.cis_qtl.txt.gz",
    f"{TENSORQTL_NATIVE}.cis_qtl.signif_pairs.parquet",
    f"{TENSORQTL_NATIVE}.cis_independent_qtl.txt.gz",
] + expand(f"{EQTL}/independent/{{chrom}}.tsv.gz", chrom=EQTL_CHROMS)
EQTL_OUTPUTS += expand(TENSORQTL_NATIVE_PAIRS, chrom=EQTL_CHROMS)
# provenance.smk's final_outputs() calls this (a lambda: Snakemake's linter wants no `def` here).
eqtl_outputs = lambda: EQTL_OUTPUTS


EQTL_MAPPING_PARAMS = {
    "window": config["eqtl"]["window"],
    "maf": config["eqtl"]["maf"],
    "permutations": config["eqtl"]["permutations"],
    "seed": config["eqtl"]["seed"],
    "fdr": config["eqtl"]["fdr"],
}


rule map_cis_permutations:
    input:
        **EQTL_MAPPING_INPUTS,
    output:
        table=EQTL_PERMUTATIONS.format(mapper="tensorqtl", chrom="{chrom}"),
    log:
        f"{LOGS}/map_cis_permutations/{{chrom}}.log",
    conda:
        env("tensorqtl")
    container:
        container("tensorqtl")
    threads: config["eqtl"]["threads"]
    resources:
        # The chromosome's genotypes are held as int8 (about 4x the 2-bit pgen) plus the pvar.
        mem_mb=lambda wc, input, attempt: attempt * max(4000, int(8 * input.size_mb)),
        runtime=lambda wc, attempt: attempt * 360,
        gpu=config["eqtl"]["gpus"],
    params:
        **EQTL_MAPPING_PARAMS,
        mode="permutations",
    script:
        "../scripts/map_cis.py"


# The other tensorQTL passes: the same rule with their own outputs, logs, resources and mode
# (map_cis.py dispatches on params.mode; params not named here are inherited).
use rule map_cis_permutations as map_cis_nominal with:
    output:
        pairs=EQTL_NOMINAL.format(mapper="tensorqtl", chrom="{chrom}"),
    log:
        f"{LOGS}/map_cis_nominal/{{chrom}}.log",
    resources:
        mem_mb=lambda wc, input, attempt: attempt * max(4000, int(10 * input.size_mb)),
        runtime=lambda wc, attempt: attempt * 240,
        gpu=config["eqtl"]["gpus"],
    params:
        mode="nominal",


use rule map_cis_permutations as map_cis_independent with:
    input:
        **EQTL_MAPPING_INPUTS,
        cis_genes=EQTL_CIS_GENES,
    output:
        table=f"{EQTL}/independent/{{chrom}}.tsv.gz",
    log:
        f"{LOGS}/map_cis_independent/{{chrom}}.log",
    resources:
        mem_mb=lambda wc, input, attempt: attempt * max(4000, int(8 * input.size_mb)),
        runtime=lambda wc, attempt: attempt * 480,
        gpu=config["eqtl"]["gpus"],
    params:
        mode="independent",


use rule map_cis_permutations as finemap_susie with:
    input:
        **EQTL_MAPPING_INPUTS,
        **EQTL_FINEMAPPING_Z,
        cis_genes=EQTL_CIS_GENES,
    output:
        pips=f"{EQTL}/finemapping/{{chrom}}.pips.parquet",
        credible_sets=f"{EQTL}/finemapping/{{chrom}}.credible_sets.tsv.gz",
    log:
        f"{LOGS}/finemap_susie/{{chrom}}.log",
    resources:
        mem_mb=lambda wc, input, attempt: attempt * max(4000, int(8 * input.size_mb)),
        runtime=lambda wc, attempt: attempt * 240,
        gpu=config["eqtl"]["gpus"],
    params:
        mode="finemapping",
        method=config["eqtl"]["finemapping"]["method"],
        L=config["eqtl"]["finemapping"]["L"],
        coverage=config["eqtl"]["finemapping"]["coverage"],
        min_abs_corr=config["eqtl"]["finemapping"]["min_abs_corr"],


# Storey q-values once over all genes of all chromosomes, for either mapper's tables.
rule compute_qvalues:
    input:
        tables=lambda wc: expand(EQTL_PERMUTATIONS, mapper=wc.mapper, chrom=EQTL_CHROMS),
    output:
        genes=f"{EQTL}/{{mapper}}/cis_genes.tsv.gz",
    log:
        f"{LOGS}/compute_qvalues/{{mapper}}.log",
    wildcard_constraints:
        mapper="tensorqtl|fastqtl",
    conda:
        env("tensorqtl")
    container:
        container("tensorqtl")
    threads: 1
    resources:
        mem_mb=by_attempt(2000),
        runtime=20,
    params:
        fdr=config["eqtl"]["fdr"],
        qvalue_lambda=config["eqtl"]["qvalue_lambda"],
    script:
        "../scripts/compute_qvalues.py"


rule annotate_rsids:
    input:
        pvars=expand(GENOTYPE_PFILES["pvar"], chrom=EQTL_CHROMS),
        dbsnp=local_input(EQTL_DBSNP),
    output:
        rsids=f"{EQTL}/rsids.tsv.gz",
    log:
        f"{LOGS}/annotate_rsids/annotate_rsids.log",
    conda:
        env("python")
    container:
        container("python")
    threads: 1
    resources:
        mem_mb=by_attempt(8000),
        runtime=240,
    script:
        "../scripts/annotate_rsids.py"


rule mage_permutation_table:
    input:
        **EQTL_RSIDS,
        cis_genes=EQTL_CIS_GENES,
        genes=EXPRESSION_GENES,
    output:
        table=f"{MAGE_NOMINAL}.permutation_pass.{TAG}.txt.gz",
        index=f"{MAGE_NOMINAL}.permutation_pass.{TAG}.txt.gz.tbi",
    log:
        f"{LOGS}/mage_permutation_table/mage_permutation_table.log",
    conda:
        env("python")
    container:
        container("python")
    threads: 1
    resources:
        mem_mb=by_attempt(2000),
        runtime=20,
    script:
        "../scripts/mage_permutation_table.py"


rule mage_nominal_tables:
    input:
        **EQTL_RSIDS,
        pairs=expand(EQTL_NOMINAL, mapper=EQTL_MAPPER, chrom=EQTL_CHROMS),
        cis_genes=EQTL_CIS_GENES,
        genes=EXPRESSION_GENES,
    output:
        all_pairs=f"{MAGE_NOMINAL}.nominal_pass.allAssociations.{TAG}.txt.gz",
        all_index=f"{MAGE_NOMINAL}.nominal_pass.allAssociations.{TAG}.txt.gz.tbi",
        significant_pairs=f"{MAGE_NOMINAL}.nominal_pass.significantAssociations.{TAG}.txt.gz",
        significant_index=f"{MAGE_NOMINAL}.nominal_pass.significantAssociations.{TAG}.txt.gz.tbi",
    log:
        f"{LOGS}/mage_nominal_tables/mage_nominal_tables.log",
    conda:
        env("python")
    container:
        container("python")
    threads: 1
    resources:
        # One chromosome's pairs at a time (chr1 of MAGE: ~20 million pairs).
        mem_mb=lambda wc, attempt: attempt * 24000,
        runtime=lambda wc, attempt: attempt * 360,
    params:
        fdr=config["eqtl"]["fdr"],
    script:
        "../scripts/mage_nominal_tables.py"


rule mage_finemapping_tables:
    input:
        **EQTL_RSIDS,
        pips=expand(f"{EQTL}/finemapping/{{chrom}}.pips.parquet", chrom=EQTL_CHROMS),
        credible_sets=expand(
            f"{EQTL}/finemapping/{{chrom}}.credible_sets.tsv.gz", chrom=EQTL_CHROMS
        ),
        genes=EXPRESSION_GENES,
    output:
        credible_sets=f"{MAGE_FINEMAPPING}.credibleSet_summary.{TAG}.txt.gz",
        all_variants=f"{MAGE_FINEMAPPING}.allAssociations.{TAG}.txt.gz",
        all_index=f"{MAGE_FINEMAPPING}.allAssociations.{TAG}.txt.gz.tbi",
        significant_variants=f"{MAGE_FINEMAPPING}.significantAssociations.{TAG}.txt.gz",
        significant_index=f"{MAGE_FINEMAPPING}.significantAssociations.{TAG}.txt.gz.tbi",
    log:
        f"{LOGS}/mage_finemapping_tables/mage_finemapping_tables.log",
    conda:
        env("python")
    container:
        container("python")
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: attempt * 8000,
        runtime=60,
    script:
        "../scripts/mage_finemapping_tables.py"


# MAGE's cs_lead_hit.py: one row per credible set, its highest-PIP variant, read from the
# significantAssociations table, in its 10 columns. MAGE's release has this table only with the
# aFC-n columns (leadVariant_aFCn): effect_sizes.smk adds them; this one is an intermediate.
rule mage_finemapping_lead_variants:
    input:
        significant_variants=rules.mage_finemapping_tables.output.significant_variants,
    output:
        lead_variants=f"{EQTL}/finemapping/lead_variants.tsv.gz",
    log:
        f"{LOGS}/mage_finemapping_lead_variants/mage_finemapping_lead_variants.log",
    conda:
        env("python")
    container:
        container("python")
    threads: 1
    resources:
        mem_mb=by_attempt(2000),
        runtime=20,
    script:
        "../scripts/mage_finemapping_lead_variants.py"


rule mage_eqtl_summary:
    input:
        phenotypes=INVERSE_NORMAL_BED,
        cis_genes=EQTL_CIS_GENES,
        genes=EXPRESSION_GENES,
        significant_pairs=rules.mage_nominal_tables.output.significant_pairs,
        credible_sets=rules.mage_finemapping_tables.output.credible_sets,
    output:
        summary=f"{MAGE}/eQTL_summary.{TAG}.txt.gz",
    log:
        f"{LOGS}/mage_eqtl_summary/mage_eqtl_summary.log",
    conda:
        env("python")
    container:
        container("python")
    threads: 1
    resources:
        mem_mb=by_attempt(2000),
        runtime=20,
    params:
        fdr=config["eqtl"]["fdr"],
    script:
        "../scripts/mage_eqtl_summary.py"


rule plot_eqtl_results:
    input:
        cis_genes=EQTL_CIS_GENES,
        genes=EXPRESSION_GENES,
    output:
        plot=report(
            f"{EQTL}/plots/cis_overview.png",
            caption="../report/eqtl_cis_overview.rst",
            category="eQTL",
        ),
    log:
        f"{LOGS}/plot_eqtl_results/plot_eqtl_results.log",
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
        title=f"{TAG}: cis-eQTL permutation pass ({EQTL_MAPPER})",
    script:
        "../scripts/plot_eqtl_results.py"


# The results again as tensorQTL's command line names and lays them out (cis, cis_nominal with
# --cis_output, cis_independent), for users of tensorQTL and the GTEx pipeline; either mapper.
rule write_tensorqtl_native:
    input:
        cis_genes=EQTL_CIS_GENES,
        nominal=expand(EQTL_NOMINAL, mapper=EQTL_MAPPER, chrom=EQTL_CHROMS),
        independent=expand(f"{EQTL}/independent/{{chrom}}.tsv.gz", chrom=EQTL_CHROMS),
    output:
        egenes=f"{TENSORQTL_NATIVE}.cis_qtl.txt.gz",
        pairs=expand(TENSORQTL_NATIVE_PAIRS, chrom=EQTL_CHROMS),
        signif_pairs=f"{TENSORQTL_NATIVE}.cis_qtl.signif_pairs.parquet",
        independent=f"{TENSORQTL_NATIVE}.cis_independent_qtl.txt.gz",
    log:
        f"{LOGS}/write_tensorqtl_native/write_tensorqtl_native.log",
    conda:
        env("python")
    container:
        container("python")
    threads: 1
    resources:
        # Pairs are copied, and filtered a million rows (~150 MB) at a time: flat in cohort size.
        mem_mb=by_attempt(4000),
        runtime=lambda wc, attempt: attempt * 120,
    params:
        fdr=config["eqtl"]["fdr"],
    script:
        "../scripts/write_tensorqtl_native.py"


# Diagnostic (config covariates.factor_scan; kgpex.eqtl.factor_scan): eGenes of one chromosome
# against the number of hidden factors, GTEx's way of choosing the count. Only where kgpex
# computes its own covariates: user covariates (covariates.input, which a phenotype BED
# requires) have no hidden factors to vary.
FACTOR_SCAN = config["covariates"]["factor_scan"]
FACTOR_SCAN_CHROM = FACTOR_SCAN["chromosome"] or next(iter(EQTL_CHROMS), "")
if FACTOR_SCAN["enabled"] and not USER_COVARIATES_FILE and not BED_INPUT:
    if FACTOR_SCAN_CHROM not in EQTL_CHROMS:
        _stop(
            f"config: field 'covariates.factor_scan.chromosome': {FACTOR_SCAN_CHROM!r} is not "
            f"a mapped chromosome ({', '.join(EQTL_CHROMS) or 'none'})"
        )
    EQTL_OUTPUTS += [
        f"{RESULTS}/covariates/factor_scan.tsv",
        f"{RESULTS}/report/plots/hidden_factor_scan.png",
    ]

    rule scan_hidden_factor_counts:
        input:
            **{
                ext: path.format(chrom=FACTOR_SCAN_CHROM)
                for ext, path in GENOTYPE_PFILES.items()
            },
            phenotypes=INVERSE_NORMAL_BED,
            genotype_pcs=GENOTYPE_PCS,
            individuals=RESOLVED_INDIVIDUALS,
            # Only for the count the run used, marked on the plot.
            covariates=COVARIATES_TABLE,
        output:
            table=f"{RESULTS}/covariates/factor_scan.tsv",
            plot=report(
                f"{RESULTS}/report/plots/hidden_factor_scan.png",
                caption="../report/hidden_factor_scan.rst",
                category="Covariates",
            ),
        log:
            f"{LOGS}/scan_hidden_factor_counts/scan_hidden_factor_counts.log",
        conda:
            env("tensorqtl")
        container:
            container("tensorqtl")
        threads: 2
        resources:
            # One chromosome's genotypes as int8, as map_cis_permutations; one pass per count.
            mem_mb=lambda w, input, attempt: attempt * max(4000, int(8 * input.size_mb)),
            runtime=lambda wc, attempt: attempt * 360,
            gpu=config["eqtl"]["gpus"],
        params:
            chrom=FACTOR_SCAN_CHROM,
            counts=FACTOR_SCAN["counts"],
            permutations=FACTOR_SCAN["permutations"],
            n_genotype_pcs=config["genotypes"]["pca"]["n_covariate_pcs"],
            window=config["eqtl"]["window"],
            maf=config["eqtl"]["maf"],
            seed=config["eqtl"]["seed"],
            fdr=config["eqtl"]["fdr"],
            qvalue_lambda=config["eqtl"]["qvalue_lambda"],
        script:
            "../scripts/scan_hidden_factor_counts.py"
