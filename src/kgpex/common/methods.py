"""Published methods as one switch: ``methods: mage`` sets every setting MAGE's analysis fixed.

``methods: default`` leaves the config as written (the modern path: salmon detects the library
type, tensorQTL maps). ``methods: mage`` applies :data:`MAGE_METHODS` over whatever the config
says for those keys (../shared/reference/SOURCES.md, "How MAGE processed the data"), so that a
preset or a user can ask for MAGE's analysis in one line. common.smk calls
:func:`apply_methods` right after the schema check, before anything reads the config.
"""

from __future__ import annotations

from kgpex.common.errors import KgpexError

# (path of keys, value). Every value here is one MAGE used.
MAGE_METHODS: tuple[tuple[tuple[str, ...], object], ...] = (
    # salmon quant -l IU on a GENCODE index without decoys.
    (("salmon", "settings"), "mage"),
    (("reference", "decoys"), False),
    # Genes with TPM >= 0.1 and counts >= 6 in >= 20% of samples, chr1-22 and chrX.
    (("expression", "min_tpm"), 0.1),
    (("expression", "min_counts"), 6),
    (("expression", "min_sample_fraction"), 0.2),
    # plink --pca 20 --make-rel --maf 0.01 (01_get_genotype_PCs.sh), no LD pruning; PC1-5 are
    # covariates (03_collect_covariates.sh).
    (("genotypes", "pca", "n_pcs"), 20),
    (("genotypes", "pca", "maf"), 0.01),
    (("genotypes", "pca", "indep_pairwise"), None),
    (("genotypes", "pca", "n_covariate_pcs"), 5),
    # 60 hidden factors (PEER in MAGE; PCA here, SOURCES.md).
    (("covariates", "hidden_factors"), 60),
    # FastQTL, TSS +- 1 Mb, MAF >= 0.01, adaptive permutations 1000..10000, q <= 0.05.
    (("eqtl", "mapper"), "fastqtl"),
    (("eqtl", "window"), 1_000_000),
    (("eqtl", "maf"), 0.01),
    (("eqtl", "fastqtl", "permute"), [1000, 10000]),
    (("eqtl", "fdr"), 0.05),
    # SuSiE on every eGene (run_susie.R): susie_rss on the nominal pass's z-scores and the
    # in-sample LD, L=10, coverage 0.95, min_abs_corr 0.5 (its susie() call is commented out).
    (("eqtl", "finemapping", "method"), "susier_rss"),
    (("eqtl", "finemapping", "L"), 10),
    (("eqtl", "finemapping", "coverage"), 0.95),
    (("eqtl", "finemapping", "min_abs_corr"), 0.5),
)

METHODS = {"default": (), "mage": MAGE_METHODS}


def apply_methods(config: dict) -> dict:
    """Set the chosen methods' values in ``config`` (validated, defaults filled); return it."""
    name = config.get("methods", "default")
    if name not in METHODS:
        raise KgpexError(f"config: field 'methods': unknown methods '{name}' (one of {', '.join(METHODS)})")
    for keys, value in METHODS[name]:
        section = config
        for key in keys[:-1]:
            section = section.setdefault(key, {})
        section[keys[-1]] = list(value) if isinstance(value, list) else value
    return config
