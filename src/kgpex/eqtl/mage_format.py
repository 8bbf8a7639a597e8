"""MAGE-style cis-eQTL tables (as DataFrames) from the tensorQTL-native intermediates.

Names, columns and conventions follow MAGE's released files (docs: MAGE_FORMATS in the
reference notes, summarised in docs/architecture.md): gene and variant columns renamed,
chromosome, TSS, gene symbol and rsID added. Variant IDs are ``chrom:pos:ref:alt``; rsIDs come
from an optional dbSNP table (kgpex.eqtl.rsids) and are ``NA`` without one. kgpex.eqtl.mage_files
writes them, bgzipped and tabix-indexed on their chromosome/position columns.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np
import pandas as pd

from kgpex.common.errors import KgpexError
from kgpex.common.genome import sort_by_position

PERMUTATION_COLUMNS = [
    "geneChrom", "geneChromTSS", "ensemblID", "geneSymbol", "num_var", "beta_shape1",
    "beta_shape2", "true_df", "pval_true_df", "top_kgpID", "top_rsID", "tss_distance",
    "ma_samples", "ma_count", "maf", "ref_factor", "pval_nominal", "slope", "slope_se",
    "pval_perm", "pval_beta", "qval", "pval_nominal_threshold",
]

NOMINAL_COLUMNS = [
    "variantChrom", "variantPosition", "variantRef", "variantAlt", "variant_kgpID",
    "variant_rsID", "ensemblID", "geneSymbol", "tss_distance", "ma_samples", "ma_count", "maf",
    "pval_nominal", "slope", "slope_se",
]

SUMMARY_COLUMNS = [
    "ensemblID", "geneSymbol", "variantsTested", "significantAssocs", "is_eGene",
    "finemappedCredibleSets",
]

CREDIBLE_SET_COLUMNS = [
    "ensemblID", "geneSymbol", "credibleSet", "numVariants", "coverage", "minCorr", "meanCorr",
    "medianCorr",
]

FINEMAPPING_COLUMNS = [
    "variantChrom", "variantPosition", "variantRef", "variantAlt", "variant_kgpID",
    "variant_rsID", "ensemblID", "geneSymbol", "variantPIP", "variantCredibleSet",
]


def _gene_annotation(genes: pd.DataFrame, gene_ids: pd.Series, label: str) -> pd.DataFrame:
    unknown = pd.Index(gene_ids.unique()).difference(genes.index)
    if len(unknown):
        raise KgpexError(f"{label}: gene '{unknown[0]}' is not in the gene table "
                         f"({len(unknown)} unknown genes)")
    return genes.loc[gene_ids.to_numpy()]


def split_variant_ids(variant_ids: pd.Series) -> pd.DataFrame:
    """``chrom pos ref alt`` of ``chrom:pos:ref:alt`` IDs (each distinct ID parsed once)."""
    codes, uniques = pd.factorize(variant_ids)
    parts = pd.Series(uniques).str.split(":", expand=True, n=3)
    if parts.shape[1] != 4 or parts.isna().any().any():
        bad = uniques[int(np.where(parts.isna().any(axis=1))[0][0])] if parts.shape[1] == 4 \
            else uniques[0]
        raise KgpexError(f"variant ID '{bad}' is not chrom:pos:ref:alt")
    pos = pd.to_numeric(parts[1], errors="coerce")
    if pos.isna().any():
        raise KgpexError(f"variant ID '{uniques[int(np.where(pos.isna())[0][0])]}' "
                         "has a non-numeric position")
    out = pd.DataFrame({
        "chrom": parts[0].to_numpy()[codes], "pos": pos.astype(np.int64).to_numpy()[codes],
        "ref": parts[2].to_numpy()[codes], "alt": parts[3].to_numpy()[codes],
    })
    out.index = variant_ids.index
    return out


def minor_allele_frequency(af) -> np.ndarray:
    """min(af, 1 - af), in the input's float type (tensorQTL's af is float32)."""
    af = np.asarray(af)
    if not np.issubdtype(af.dtype, np.floating):
        af = af.astype(float)
    return np.minimum(af, af.dtype.type(1) - af)


def ref_factor(af) -> np.ndarray:
    """1 where ALT is the minor allele (af <= 0.5, as GTEx), else -1."""
    return np.where(np.asarray(af, dtype=float) <= 0.5, 1, -1)


def _rsid(variant_ids: pd.Series, rsids: pd.Series | None) -> pd.Series:
    if rsids is None:
        return pd.Series("NA", index=variant_ids.index)
    return variant_ids.map(rsids).fillna("NA")


def permutation_table(cis_genes: pd.DataFrame, genes: pd.DataFrame,
                      rsids: pd.Series | None = None) -> pd.DataFrame:
    """MAGE's permutation_pass table (23 columns), sorted by gene chromosome and TSS."""
    if "qval" not in cis_genes.columns or "pval_nominal_threshold" not in cis_genes.columns:
        raise KgpexError("permutation table: qval and pval_nominal_threshold are required")
    ann = _gene_annotation(genes, cis_genes["phenotype_id"], "permutation table")
    out = pd.DataFrame({
        "geneChrom": ann["chrom"].to_numpy(),
        "geneChromTSS": ann["tss"].astype(np.int64).to_numpy(),
        "ensemblID": cis_genes["phenotype_id"].to_numpy(),
        "geneSymbol": ann["gene_name"].to_numpy(),
    })
    for column in ("num_var", "beta_shape1", "beta_shape2", "true_df", "pval_true_df"):
        out[column] = cis_genes[column].to_numpy()
    out["top_kgpID"] = cis_genes["variant_id"].to_numpy()
    out["top_rsID"] = _rsid(out["top_kgpID"], rsids).to_numpy()
    out["tss_distance"] = cis_genes["start_distance"].to_numpy()
    out["ma_samples"] = cis_genes["ma_samples"].to_numpy()
    out["ma_count"] = cis_genes["ma_count"].to_numpy()
    out["maf"] = minor_allele_frequency(cis_genes["af"])
    out["ref_factor"] = ref_factor(cis_genes["af"])
    for column in ("pval_nominal", "slope", "slope_se", "pval_perm", "pval_beta", "qval",
                   "pval_nominal_threshold"):
        out[column] = cis_genes[column].to_numpy()
    return sort_by_position(out[PERMUTATION_COLUMNS], "geneChrom", "geneChromTSS",
                            then=["ensemblID"])


def significant_pairs(pairs: pd.DataFrame, cis_genes: pd.DataFrame, fdr: float) -> pd.DataFrame:
    """Nominal pairs of eGenes (qval <= fdr) with pval_nominal < their gene's threshold."""
    egene = cis_genes.loc[cis_genes["qval"] <= fdr]
    threshold = egene.set_index("phenotype_id")["pval_nominal_threshold"]
    gene_threshold = pairs["phenotype_id"].map(threshold)
    return pairs[gene_threshold.notna() & (pairs["pval_nominal"] < gene_threshold)]


def _variant_gene_columns(rows: pd.DataFrame, genes: pd.DataFrame,
                          rsids: pd.Series | None, what: str) -> pd.DataFrame:
    """The columns a variant-gene table starts with (nominal pass, fine-mapping): the variant's
    chromosome, position, alleles, 1000 Genomes and rs IDs, then the gene's ID and symbol."""
    ann = _gene_annotation(genes, rows["phenotype_id"], what)
    var = split_variant_ids(rows["variant_id"].reset_index(drop=True))
    out = pd.DataFrame({
        "variantChrom": var["chrom"].to_numpy(), "variantPosition": var["pos"].to_numpy(),
        "variantRef": var["ref"].to_numpy(), "variantAlt": var["alt"].to_numpy(),
        "variant_kgpID": rows["variant_id"].to_numpy(),
    })
    out["variant_rsID"] = _rsid(out["variant_kgpID"], rsids).to_numpy()
    out["ensemblID"] = rows["phenotype_id"].to_numpy()
    out["geneSymbol"] = ann["gene_name"].to_numpy()
    return out


def nominal_table(pairs: pd.DataFrame, genes: pd.DataFrame,
                  rsids: pd.Series | None = None) -> pd.DataFrame:
    """MAGE's nominal_pass table (15 columns), sorted by variant position then gene."""
    out = _variant_gene_columns(pairs, genes, rsids, "nominal table")
    out["tss_distance"] = pairs["start_distance"].to_numpy()
    out["ma_samples"] = pairs["ma_samples"].to_numpy()
    out["ma_count"] = pairs["ma_count"].to_numpy()
    out["maf"] = minor_allele_frequency(pairs["af"])
    for column in ("pval_nominal", "slope", "slope_se"):
        out[column] = pairs[column].to_numpy()
    return sort_by_position(out[NOMINAL_COLUMNS], "variantChrom", "variantPosition",
                            then=["ensemblID"])


def summary_table(filtered_gene_ids: Iterable[str], genes: pd.DataFrame,
                  cis_genes: pd.DataFrame, significant_counts: pd.Series,
                  credible_set_counts: pd.Series, fdr: float) -> pd.DataFrame:
    """One row per gene that passed the expression filter (MAGE's eQTL_summary).

    A gene the mapper did not test (no variant in its cis window) has variantsTested 0.
    """
    ids = pd.Series(list(filtered_gene_ids), dtype=object)
    ann = _gene_annotation(genes, ids, "eQTL summary")
    tested = cis_genes.set_index("phenotype_id")
    out = pd.DataFrame({
        "ensemblID": ids.to_numpy(), "geneSymbol": ann["gene_name"].to_numpy(),
        "variantsTested": ids.map(tested["num_var"]).fillna(0).astype(np.int64).to_numpy(),
        "significantAssocs": ids.map(significant_counts).fillna(0).astype(np.int64).to_numpy(),
        "is_eGene": np.where(ids.map(tested["qval"]).le(fdr).to_numpy(), "TRUE", "FALSE"),
        "finemappedCredibleSets": ids.map(credible_set_counts).fillna(0).astype(np.int64)
        .to_numpy(),
    })
    return out[SUMMARY_COLUMNS]


def credible_set_table(credible_sets: pd.DataFrame, genes: pd.DataFrame) -> pd.DataFrame:
    """MAGE's credibleSet_summary: one row per credible set (named L1..L{L})."""
    ann = _gene_annotation(genes, credible_sets["phenotype_id"], "credible sets")
    out = pd.DataFrame({
        "ensemblID": credible_sets["phenotype_id"].to_numpy(),
        "geneSymbol": ann["gene_name"].to_numpy(),
        "credibleSet": credible_sets["cs_id"].to_numpy(),
        "numVariants": credible_sets["num_variants"].astype(np.int64).to_numpy(),
        "coverage": credible_sets["coverage"].to_numpy(),
        "minCorr": credible_sets["min_abs_corr"].to_numpy(),
        "meanCorr": credible_sets["mean_abs_corr"].to_numpy(),
        "medianCorr": credible_sets["median_abs_corr"].to_numpy(),
    })
    order = out["credibleSet"].str[1:].astype(int) if len(out) else out["credibleSet"]
    return (out.assign(_n=order).sort_values(["ensemblID", "_n"], kind="mergesort")
            .drop(columns="_n").reset_index(drop=True)[CREDIBLE_SET_COLUMNS])


def finemapping_table(pips: pd.DataFrame, genes: pd.DataFrame,
                      rsids: pd.Series | None = None) -> pd.DataFrame:
    """MAGE's fine-mapping allAssociations: every variant's PIP; credible set or NA."""
    out = _variant_gene_columns(pips, genes, rsids, "fine-mapping PIPs")
    out["variantPIP"] = pips["pip"].to_numpy()
    out["variantCredibleSet"] = pips["cs_id"].fillna("NA").to_numpy()
    return sort_by_position(out[FINEMAPPING_COLUMNS], "variantChrom", "variantPosition",
                            then=["ensemblID"])


def lead_variant_table(significant: pd.DataFrame) -> pd.DataFrame:
    """MAGE's lead hits (run_susie/scripts/cs_lead_hit.py): per gene and credible set, its
    highest-PIP variant, from the fine-mapping significantAssociations (FINEMAPPING_COLUMNS).

    As MAGE: sorted by gene, credible set name (as text: L1, L10, L2, ...) and PIP descending,
    the first row of each (gene, set) kept, so PIP ties go to the first variant in the input
    (position) order. A variant in several sets (``L1,L2``) counts for each of them.
    """
    missing = [c for c in FINEMAPPING_COLUMNS if c not in significant.columns]
    if missing:
        raise KgpexError(f"fine-mapping significantAssociations: column '{missing[0]}' missing")
    rows = significant[significant["variantCredibleSet"].notna()
                       & (significant["variantCredibleSet"].astype(str) != "NA")]
    rows = (rows.assign(variantCredibleSet=rows["variantCredibleSet"].astype(str).str.split(","))
            .explode("variantCredibleSet").reset_index(drop=True))
    rows = rows.assign(_order=np.arange(len(rows)), _pip=-rows["variantPIP"].astype(float))
    rows = rows.sort_values(["ensemblID", "variantCredibleSet", "_pip", "_order"],
                            kind="mergesort")
    lead = rows.drop_duplicates(subset=["ensemblID", "variantCredibleSet"], keep="first")
    return lead[FINEMAPPING_COLUMNS].reset_index(drop=True)
