"""cis-eQTL stage on the demo cohort: planted-truth recovery, null calibration, q-values
against R, fine-mapping of two-variant genes, and the MAGE table layouts."""

from __future__ import annotations

import gzip
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.stats
import yaml

from kgpex.eqtl import cis as eqtl_cis
from kgpex.eqtl import inputs as eqtl_inputs
from kgpex.eqtl import mage_format, qvalues
from kgpex.eqtl import tables as eqtl_tables

ROOT = Path(__file__).resolve().parents[2]
CONFIG = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
TAG = f"{CONFIG['cohort']}.{CONFIG['release']}"
EQTL = CONFIG["eqtl"]
FDR = EQTL["fdr"]
TRUTH = ROOT / "resources" / "demo" / "generated" / "truth_eqtls.tsv"

pytestmark = pytest.mark.e2e


def mage(results: Path) -> Path:
    return results / "QTL_results" / "eQTL_results"


def phenotype_bed(results: Path) -> Path:
    return mage(results) / "expression_quants" / f"inverse_normal_TMM.filtered.TSS.{TAG}.bed.gz"


def filtered_genes(results: Path) -> set[str]:
    return set(pd.read_csv(phenotype_bed(results), sep="\t", usecols=[3]).iloc[:, 0])


def cis_genes(results: Path) -> pd.DataFrame:
    return eqtl_tables.read_cis_genes(results / "eqtl" / EQTL["mapper"] / "cis_genes.tsv.gz")


def truth() -> pd.DataFrame:
    table = pd.read_csv(TRUTH, sep="\t")
    table["causal"] = table["causal_variants"].fillna("").map(
        lambda s: [v for v in re.split(r"[,;\s]+", str(s)) if v])
    return table


def test_planted_egenes_are_recovered(demo_run):
    cis = cis_genes(demo_run)
    expressed = filtered_genes(demo_run)
    planted = truth()
    mapped_chroms = set(CONFIG["genotypes"]["chromosomes"])
    planted = planted[(planted["n_causal"] > 0) & planted["gene_id"].isin(expressed)
                      & planted["chrom"].isin(mapped_chroms)]
    called = set(cis.loc[cis["qval"] <= FDR, "phenotype_id"])
    strong = set(planted.loc[planted["r2"] >= 0.1, "gene_id"])
    found = strong & called
    false_calls = called - set(planted["gene_id"])
    print(f"\nplanted eGenes (expressed, on mapped chromosomes): {len(planted)}, with r2 >= 0.1: {len(strong)}; "
          f"called at FDR {FDR}: {len(called)}; planted r2 >= 0.1 called: {len(found)}; "
          f"called but not planted: {len(false_calls)}")
    assert strong, "the demo truth has no planted eGene with r2 >= 0.1 among expressed genes"
    # Recall measured: 0.83 before the identity check, 0.79-0.80 since (two runs of the demo's
    # 76 strong planted eGenes apart: salmon's last digits move one gene across q = 0.05). Since
    # then the planted swap's two individuals are excluded (98 mapped), and the demo's 10 hidden
    # factors absorb some strong cis effects: its own factor scan (covariates/factor_scan.tsv)
    # finds more eGenes with 2-5 factors. The bar sits under the measured range, not at it.
    assert len(found) / len(strong) >= 0.75
    assert called and len(false_calls) / len(called) <= 0.10


def test_qvalues_equal_r_qvalue(demo_run):
    import rpy2.robjects as ro
    from rpy2.robjects.packages import importr

    cis = cis_genes(demo_run).dropna(subset=["pval_beta"])
    kwargs = {} if EQTL.get("qvalue_lambda") is None else {
        "lambda": ro.FloatVector([EQTL["qvalue_lambda"]])}
    fit = importr("qvalue").qvalue(ro.FloatVector(cis["pval_beta"].to_numpy()), **kwargs)
    np.testing.assert_allclose(cis["qval"].to_numpy(), np.array(fit.rx2("qvalues")),
                               rtol=0, atol=1e-8)


def shuffled_genotypes(results: Path, chrom: str, dest: Path, rng) -> Path:
    """The chromosome's pgen with the psam's sample IDs permuted (genotypes lose their owner)."""
    prefix = dest / chrom
    for ext in (".pgen", ".pvar"):
        os.symlink((results / "genotypes" / f"{chrom}{ext}").resolve(), f"{prefix}{ext}")
    psam = pd.read_csv(results / "genotypes" / f"{chrom}.psam", sep="\t", dtype=str)
    psam.iloc[:, 0] = rng.permutation(psam.iloc[:, 0].to_numpy())
    psam.to_csv(f"{prefix}.psam", sep="\t", index=False)
    return prefix


def test_null_calibration_with_shuffled_genotype_labels(demo_run, tmp_path):
    # 1,000 permutations instead of the configured 10,000 keep this test to a minute; pval_beta
    # comes from the fitted beta distribution, so its calibration does not depend on nperm.
    # The demo's chromosomes are ~3.4 Mb, so the ±1 Mb windows of its genes share most variants
    # and the genes' p-values are not independent: KS p varies more between shuffles than it
    # would for independent tests (seeds 1-4 gave 0.003-0.17). The seed is fixed.
    rng = np.random.default_rng(20261122)
    chroms = [c for c in CONFIG["genotypes"]["chromosomes"]
              if (demo_run / "genotypes" / f"{c}.pgen").exists()]
    tables = []
    for chrom in chroms:
        prefix = shuffled_genotypes(demo_run, chrom, tmp_path, rng)
        inputs = eqtl_inputs.load_inputs(phenotype_bed(demo_run),
                                 mage(demo_run) / "expression_quants" / "eQTL_covariates.tab.gz",
                                 prefix, chrom)
        tables.append(eqtl_cis.map_permutations(inputs, EQTL["window"], EQTL["maf"], 1000,
                                           EQTL["seed"]))
    null = qvalues.annotate_qvalues(pd.concat(tables, ignore_index=True), FDR,
                                    EQTL.get("qvalue_lambda"))
    n_egenes = int((null["qval"] <= FDR).sum())
    ks = scipy.stats.kstest(null["pval_beta"].dropna(), "uniform")
    print(f"\nnull run: {len(null)} genes, {n_egenes} eGenes, KS p = {ks.pvalue:.3g}")
    assert n_egenes <= 2
    assert ks.pvalue > 0.01


def test_two_variant_egenes_get_credible_sets(demo_run):
    cis = cis_genes(demo_run)
    called = set(cis.loc[cis["qval"] <= FDR, "phenotype_id"])
    two = truth()
    two = two[(two["n_causal"] == 2) & two["gene_id"].isin(called)]
    sets = pd.read_csv(mage(demo_run) / "eQTL_finemapping_results" /
                       f"eQTL_finemapping.credibleSet_summary.{TAG}.txt.gz", sep="\t")
    n_sets = sets.groupby("ensemblID").size().reindex(two["gene_id"]).fillna(0).astype(int)
    members = pd.read_csv(mage(demo_run) / "eQTL_finemapping_results" /
                          f"eQTL_finemapping.significantAssociations.{TAG}.txt.gz", sep="\t")
    member_pairs = set(zip(members["ensemblID"], members["variant_kgpID"]))
    causal_in_sets = sum((g, v) in member_pairs for g, vs in zip(two["gene_id"], two["causal"])
                         for v in vs)
    print(f"\nplanted two-variant eGenes: {len(two)}; with >= 1 credible set: "
          f"{int((n_sets >= 1).sum())}; with 2 or more: {int((n_sets >= 2).sum())}; "
          f"causal variants inside a credible set: {causal_in_sets} of {2 * len(two)}")
    assert len(two), "no planted two-variant gene is an eGene in the demo"
    missing = n_sets[n_sets == 0].index.tolist()
    # At most one in ten: a pair of small effects (|log2 aFC| ~0.6 each) can leave no set past
    # SuSiE's purity filter (seen once in 13 on the demo).
    assert len(missing) <= len(two) // 10, f"eGenes with two planted variants but no credible set: {missing}"


def read_header(path: Path) -> list[str]:
    with gzip.open(path, "rt") as fh:
        return fh.readline().rstrip("\n").split("\t")


def test_mage_tables_layout(demo_run):
    m = mage(demo_run)
    nominal = m / "eQTL_nominal_results" / "eQTL_FastQTL_results"
    fine = m / "eQTL_finemapping_results" / "eQTL_finemapping"
    indexed = {
        Path(f"{nominal}.permutation_pass.{TAG}.txt.gz"): mage_format.PERMUTATION_COLUMNS,
        Path(f"{nominal}.nominal_pass.allAssociations.{TAG}.txt.gz"): mage_format.NOMINAL_COLUMNS,
        Path(f"{nominal}.nominal_pass.significantAssociations.{TAG}.txt.gz"):
            mage_format.NOMINAL_COLUMNS,
        Path(f"{fine}.allAssociations.{TAG}.txt.gz"): mage_format.FINEMAPPING_COLUMNS,
        Path(f"{fine}.significantAssociations.{TAG}.txt.gz"): mage_format.FINEMAPPING_COLUMNS,
    }
    for path, columns in indexed.items():
        assert read_header(path) == columns, path.name
        assert Path(f"{path}.tbi").exists(), path.name
    assert read_header(Path(f"{fine}.credibleSet_summary.{TAG}.txt.gz")) == \
        mage_format.CREDIBLE_SET_COLUMNS

    summary = pd.read_csv(m / f"eQTL_summary.{TAG}.txt.gz", sep="\t")
    assert list(summary.columns) == mage_format.SUMMARY_COLUMNS
    assert set(summary["ensemblID"]) == filtered_genes(demo_run)
    assert len(summary) == len(filtered_genes(demo_run))

    perm = pd.read_csv(f"{nominal}.permutation_pass.{TAG}.txt.gz", sep="\t")
    cis = cis_genes(demo_run)
    assert len(perm) == len(cis) and perm["qval"].notna().all()
    egenes = set(perm.loc[perm["qval"] <= FDR, "ensemblID"])
    assert set(summary.loc[summary["is_eGene"], "ensemblID"]) == egenes
    sig = pd.read_csv(f"{nominal}.nominal_pass.significantAssociations.{TAG}.txt.gz", sep="\t")
    assert set(sig["ensemblID"]) <= egenes
    threshold = perm.set_index("ensemblID")["pval_nominal_threshold"]
    assert (sig["pval_nominal"] < sig["ensemblID"].map(threshold)).all()
    for chrom in CONFIG["genotypes"]["chromosomes"]:
        independent = pd.read_csv(demo_run / "eqtl" / "independent" / f"{chrom}.tsv.gz",
                                  sep="\t")
        assert list(independent.columns) == eqtl_tables.INDEPENDENT_COLUMNS
        assert set(independent["phenotype_id"]) <= egenes
