"""The two cis-eQTL backends agree on the demo cohort: FastQTL (MAGE's mapper, adaptive
permutations) and tensorQTL (fixed permutations) on the same phenotypes, covariates and
genotypes, both through the workflow's own rules and the shared tensorQTL-native tables."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import snakemake
from mapper_comparison import compare_top_variants

from kgpex.eqtl.tables import CIS_COLUMNS as PERMUTATION_COLUMNS
from kgpex.eqtl.tables import NOMINAL_COLUMNS

ROOT = Path(__file__).resolve().parents[2]
CONFIG = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
FDR = CONFIG["eqtl"]["fdr"]
CHROMS = [c for c in CONFIG["genotypes"]["chromosomes"] if c in CONFIG["expression"]["chromosomes"]]
MAPPERS = ("tensorqtl", "fastqtl")

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def both_mappers(demo_run):
    """Bring both mappers' tables up to date (the demo runs only the configured one)."""
    rel = Path("results") / CONFIG["cohort"] / "eqtl"
    targets = [str(rel / m / "cis_genes.tsv.gz") for m in MAPPERS]
    targets += [str(rel / m / "nominal" / f"{c}.parquet") for m in MAPPERS for c in CHROMS]
    cores = os.environ.get("KGPEX_TEST_CORES", "2")
    snakemake(*targets, "--cores", cores)
    eqtl = demo_run / "eqtl"
    genes = {m: pd.read_csv(eqtl / m / "cis_genes.tsv.gz", sep="\t") for m in MAPPERS}
    nominal = {
        m: pd.concat([pd.read_parquet(eqtl / m / "nominal" / f"{c}.parquet") for c in CHROMS])
        for m in MAPPERS
    }
    return genes, nominal


def test_fastqtl_tables_have_the_shared_columns(both_mappers, demo_run):
    genes, nominal = both_mappers
    for chrom in CHROMS:
        perm = pd.read_csv(
            demo_run / "eqtl" / "fastqtl" / "permutations" / f"{chrom}.tsv.gz", sep="\t"
        )
        assert list(perm.columns) == PERMUTATION_COLUMNS
    assert list(nominal["fastqtl"].columns) == NOMINAL_COLUMNS
    # Both mappers test the same genes and the same variant-gene pairs.
    assert set(genes["fastqtl"]["phenotype_id"]) == set(genes["tensorqtl"]["phenotype_id"])
    pairs = {m: set(zip(n["phenotype_id"], n["variant_id"])) for m, n in nominal.items()}
    assert pairs["tensorqtl"] <= pairs["fastqtl"]
    # The only difference: tensorQTL computes MAF as 1 - af in float32, so an ALT-major variant
    # whose MAF equals the threshold exactly (2 of 200 alleles) falls below it; FastQTL keeps it.
    fq = nominal["fastqtl"].set_index(["phenotype_id", "variant_id"])
    extra = fq.loc[sorted(pairs["fastqtl"] - pairs["tensorqtl"])]
    maf = np.minimum(extra["af"], 1 - extra["af"])
    assert np.allclose(maf, CONFIG["eqtl"]["maf"], atol=1e-6) and (extra["af"] > 0.5).all()


def test_same_top_variant_and_beta_pvalues(both_mappers):
    genes, nominal = both_mappers
    tq, fq = genes["tensorqtl"], genes["fastqtl"]
    egenes = tq.loc[tq["qval"] <= FDR, "phenotype_id"]
    assert len(egenes) >= 20, "the demo plants about 80 eGenes"
    on_egenes = compare_top_variants(tq, fq, egenes)
    # A different ID is still the same top variant when its genotypes tie exactly with
    # tensorQTL's top (identical p-value in tensorQTL's own nominal pass: perfect LD).
    tq_top = tq.set_index("phenotype_id").loc[egenes]
    fq_top = fq.set_index("phenotype_id").loc[egenes]
    pvals = nominal["tensorqtl"].set_index(["phenotype_id", "variant_id"])["pval_nominal"]
    fq_top_p = pvals.reindex(list(zip(fq_top.index, fq_top["variant_id"]))).to_numpy()
    tied = np.isclose(fq_top_p, tq_top["pval_nominal"].to_numpy(), rtol=1e-4, atol=0)
    same = (tq_top["variant_id"] == fq_top["variant_id"]).to_numpy() | tied
    assert same.mean() >= 0.9, f"same top variant: {on_egenes}, with exact ties {same.mean():.3f}"
    everywhere = compare_top_variants(tq, fq)
    assert everywhere["pearson_log10_pval_beta"] >= 0.98, everywhere
    assert on_egenes["pearson_log10_pval_beta"] >= 0.98, on_egenes
    # Same test statistic: nominal p-values and slopes of the top variants match closely.
    both = tq_top.join(fq_top, rsuffix="_fq")
    both = both[both["variant_id"] == both["variant_id_fq"]]
    assert np.allclose(both["slope"], both["slope_fq"], rtol=1e-3, atol=1e-4)
    assert np.allclose(both["af"], both["af_fq"], atol=1e-4)
    assert (
        np.corrcoef(-np.log10(both["pval_nominal"]), -np.log10(both["pval_nominal_fq"]))[0, 1]
        > 0.999
    )


def test_nominal_passes_agree(both_mappers):
    _, nominal = both_mappers
    key = ["phenotype_id", "variant_id"]
    merged = nominal["tensorqtl"].merge(nominal["fastqtl"], on=key, suffixes=("_tq", "_fq"))
    assert len(merged) == len(nominal["tensorqtl"])  # pairs only FastQTL has: test above
    assert (merged["start_distance_tq"] == merged["start_distance_fq"]).all()
    assert np.allclose(merged["af_tq"], merged["af_fq"], atol=1e-4)
    assert (merged["ma_count_tq"] == merged["ma_count_fq"]).all()
    assert np.allclose(merged["slope_tq"], merged["slope_fq"], rtol=1e-3, atol=1e-4)
    log_p = -np.log10(merged[["pval_nominal_tq", "pval_nominal_fq"]].clip(lower=1e-300))
    assert np.corrcoef(log_p.to_numpy().T)[0, 1] > 0.999
