"""sQTL arm on the demo cohort: planted-truth recovery (the demo plants genotype-dependent
isoform use, resources/demo/generated/truth_sqtls.tsv), null calibration with shuffled genotype
labels, both mappers' grouped passes against each other, and MAGE's sQTL tables."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.stats
import yaml
from conftest import snakemake
from mapper_comparison import compare_top_variants

from e2e.test_eqtl import shuffled_genotypes
from kgpex.eqtl import cis as eqtl_cis
from kgpex.eqtl import inputs as eqtl_inputs
from kgpex.eqtl import qvalues
from kgpex.sqtl import tables as sqtl_tables

ROOT = Path(__file__).resolve().parents[2]
CONFIG = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
TAG = f"{CONFIG['cohort']}.{CONFIG['release']}"
EQTL = CONFIG["eqtl"]
FDR = EQTL["fdr"]
TRUTH = ROOT / "resources" / "demo" / "generated" / "truth_sqtls.tsv"
CHROMS = [c for c in CONFIG["genotypes"]["chromosomes"] if c in CONFIG["expression"]["chromosomes"]]
MAPPERS = ("tensorqtl", "fastqtl")
# The effect size the recall is stated for: planted sGenes whose switch isoform's share differs
# by at least this much between the two homozygotes.
MIN_DELTA_PSI = 0.15

pytestmark = pytest.mark.e2e


def sqtl_mage(results: Path) -> Path:
    return results / "QTL_results" / "sQTL_results"


def phenotype_bed(results: Path) -> Path:
    return sqtl_mage(results) / "splicing_quants" / f"perind.counts.normed.genes.filtered.{TAG}.bed.gz"


def covariates(results: Path) -> Path:
    return sqtl_mage(results) / "splicing_quants" / "sQTL_covariates.tab.gz"


def groups(results: Path) -> pd.Series:
    return eqtl_inputs.read_phenotype_groups(
        sqtl_mage(results) / "splicing_quants" / f"phenotype_groups.{TAG}.txt")


def cis_genes(results: Path, mapper: str = EQTL["mapper"]) -> pd.DataFrame:
    return pd.read_csv(results / "sqtl" / mapper / "cis_genes.tsv.gz", sep="\t")


def truth() -> pd.DataFrame:
    table = pd.read_csv(TRUTH, sep="\t")
    return table[table["chrom"].isin(CHROMS)]


def test_planted_sgenes_are_recovered(demo_run):
    cis = cis_genes(demo_run)
    tested = set(cis["group_id"])
    planted = truth()
    strong = set(planted.loc[planted["delta_psi"].abs() >= MIN_DELTA_PSI, "gene_id"])
    called = set(cis.loc[cis["qval"] <= FDR, "group_id"])
    found = strong & called
    false_calls = called - set(planted["gene_id"])
    print(f"\nplanted sGenes on mapped chromosomes: {len(planted)}, with |delta PSI| >= "
          f"{MIN_DELTA_PSI}: {len(strong)} ({len(strong & tested)} tested); genes tested: "
          f"{len(tested)}; sGenes at FDR {FDR}: {len(called)}; planted strong found: "
          f"{len(found)}; called but not planted: {len(false_calls)} {sorted(false_calls)}")
    assert len(strong) >= 5, "the demo plants too few strong sGenes to measure recall"
    assert len(found) / len(strong) >= 0.8
    assert called and len(false_calls) / len(called) <= 0.10


def test_sgene_top_variants_are_the_causal_ones_or_in_ld(demo_run):
    """The best variant of a recovered sGene is the planted one or strongly linked to it."""
    from tensorqtl import pgen

    cis = cis_genes(demo_run).set_index("group_id")
    planted = truth().set_index("gene_id")
    found = planted.index.intersection(cis.index[cis["qval"] <= FDR])
    r2 = []
    for gene in found:
        chrom = planted.loc[gene, "chrom"]
        reader = pgen.PgenReader(str(demo_run / "genotypes" / chrom))
        a = reader.read(planted.loc[gene, "causal_variant"]).astype(float)
        b = reader.read(cis.loc[gene, "variant_id"]).astype(float)
        r2.append(np.corrcoef(a, b)[0, 1] ** 2)
    print(f"\ntop variant r2 with the causal one: {np.round(sorted(r2), 2)}")
    assert found.size and np.mean(np.array(r2) >= 0.5) >= 0.8


def test_null_calibration_with_shuffled_genotype_labels(demo_run, tmp_path):
    # As for eQTLs (tests/e2e/test_eqtl.py): 1,000 permutations, a fixed seed; pval_beta comes
    # from the fitted beta distribution, so its calibration does not depend on nperm. Three
    # shuffles, pooled for the KS test: the demo's ~55 sQTL genes share most of their +-1 Mb
    # windows on ~3 Mb chromosomes, so one shuffle's p-values are far from independent and its
    # KS p swings (measured over 7 shuffles: 0.0096 to 0.92, mean pval_beta 0.42 to 0.55, no
    # direction); pooled over this seed's three: 0.12.
    rng = np.random.default_rng(20261206)
    group_s = groups(demo_run)
    pooled = []
    for shuffle in range(3):
        tables = []
        for chrom in CHROMS:
            dest = tmp_path / f"shuffle{shuffle}"
            dest.mkdir(exist_ok=True)
            prefix = shuffled_genotypes(demo_run, chrom, dest, rng)
            inputs = eqtl_inputs.load_inputs(phenotype_bed(demo_run), covariates(demo_run),
                                             prefix, chrom)
            tables.append(eqtl_cis.map_permutations(inputs, EQTL["window"], EQTL["maf"], 1000,
                                                    EQTL["seed"], groups=group_s))
        null = qvalues.annotate_qvalues(pd.concat(tables, ignore_index=True), FDR,
                                        EQTL.get("qvalue_lambda"), fallback_bh=True)
        n_sgenes = int((null["qval"] <= FDR).sum())
        one = scipy.stats.kstest(null["pval_beta"].dropna(), "uniform").pvalue
        print(f"\nnull shuffle {shuffle}: {len(null)} genes, {n_sgenes} sGenes, KS p = {one:.3g}")
        assert n_sgenes <= 2
        pooled.append(null["pval_beta"].dropna())
    ks = scipy.stats.kstest(pd.concat(pooled), "uniform")
    print(f"null, three shuffles pooled: KS p = {ks.pvalue:.3g}")
    assert ks.pvalue > 0.01


def test_mage_sqtl_tables(demo_run):
    base = sqtl_mage(demo_run)
    nominal = base / "sQTL_nominal_results" / "sQTL_FastQTL_results"
    finemapping = base / "sQTL_finemapping_results" / "sQTL_finemapping"
    expected = {
        f"{nominal}.permutation_pass.{TAG}.txt.gz":
            sqtl_tables.BED_COLUMNS + sqtl_tables.PERMUTATION_COLUMNS,
        f"{nominal}.nominal_pass.allAssociations.{TAG}.txt.gz":
            sqtl_tables.BED_COLUMNS + sqtl_tables.NOMINAL_COLUMNS,
        f"{nominal}.nominal_pass.significantAssociations.{TAG}.txt.gz":
            sqtl_tables.BED_COLUMNS + sqtl_tables.NOMINAL_COLUMNS,
        f"{finemapping}.credibleSet_summary.{TAG}.txt.gz": sqtl_tables.CREDIBLE_SET_COLUMNS,
        f"{finemapping}.allAssociations.{TAG}.txt.gz": sqtl_tables.ASSOCIATION_COLUMNS,
        f"{finemapping}.significantAssociations.{TAG}.txt.gz": sqtl_tables.ASSOCIATION_COLUMNS,
    }
    frames = {}
    for path, columns in expected.items():
        with gzip.open(path, "rt") as fh:
            assert fh.readline().rstrip("\n").split("\t") == columns, path
        frames[Path(path).name.split(f".{TAG}")[0]] = pd.read_csv(path, sep="\t")
    for path in list(expected)[:3]:
        assert Path(f"{path}.tbi").exists(), path
    perm = frames["sQTL_FastQTL_results.permutation_pass"]
    cis = cis_genes(demo_run)
    assert sorted(perm["group_id"]) == sorted(cis["group_id"])
    group_s = groups(demo_run)
    # Significant pairs: introns of sGenes below their gene's nominal threshold, nothing else.
    sig = frames["sQTL_FastQTL_results.nominal_pass.significantAssociations"]
    thresholds = perm.set_index("group_id")
    genes = sig["gene_id"].map(group_s)
    assert (thresholds.loc[genes, "qval"].to_numpy() <= FDR).all()
    assert (sig["pval_nominal"].to_numpy()
            < thresholds.loc[genes, "pval_nominal_threshold"].to_numpy()).all()
    # Fine-mapping covers introns of sGenes only, and geneID is the intron's gene (the
    # intended value: MAGE's collate step wrote the intron ID there).
    assoc = frames["sQTL_finemapping.allAssociations"]
    assert (assoc["geneID"] == assoc["intronID"].map(group_s)).all()
    assert set(assoc["geneID"]) <= set(cis.loc[cis["qval"] <= FDR, "group_id"])


def test_gene_level_sets_are_merged_until_disjoint(demo_run):
    finemapping = sqtl_mage(demo_run) / "sQTL_finemapping_results" / "sQTL_finemapping"
    merged = pd.read_csv(f"{finemapping}.geneMerged.significantAssociations.{TAG}.txt.gz",
                         sep="\t")
    leads = pd.read_csv(f"{finemapping}.geneMerged.leadVariant.{TAG}.txt.gz", sep="\t")
    significant = pd.read_csv(f"{finemapping}.significantAssociations.{TAG}.txt.gz", sep="\t")
    assert len(merged) and len(leads)
    # Within a gene no variant is in two merged sets, and every intron-level set of the gene
    # lies inside exactly one merged set.
    assert not merged.duplicated(["geneID", "variantID"]).any()
    where = merged.set_index(["geneID", "variantID"])["mergedCredibleSet"]
    for (gene, intron, cs), rows in significant.groupby(["geneID", "intronID",
                                                         "variantCredibleSet"]):
        homes = {where[(gene, v)] for v in rows["variantID"]}
        assert len(homes) == 1, (gene, intron, cs, homes)
    # One lead per merged set, and it is one of the set's variants.
    assert not leads.duplicated(["geneID", "mergedCredibleSet"]).any()
    pairs = set(zip(merged["geneID"], merged["mergedCredibleSet"], merged["variantID"]))
    assert all((g, m, v) in pairs for g, m, v in
               zip(leads["geneID"], leads["mergedCredibleSet"], leads["variantID"]))
    assert set(zip(leads["geneID"], leads["mergedCredibleSet"])) == set(
        zip(merged["geneID"], merged["mergedCredibleSet"]))


@pytest.fixture(scope="module")
def both_mappers(demo_run):
    """Both mappers' grouped tables (the demo runs only eqtl.mapper's)."""
    rel = Path("results") / CONFIG["cohort"] / "sqtl"
    targets = [str(rel / m / "cis_genes.tsv.gz") for m in MAPPERS]
    snakemake(*targets, "--cores", os.environ.get("KGPEX_TEST_CORES", "2"))
    return {m: cis_genes(demo_run, m) for m in MAPPERS}


def test_mappers_agree_on_sgenes_and_top_variants(both_mappers):
    tq, fq = (both_mappers[m].rename(columns={"phenotype_id": "intron"})
              .rename(columns={"group_id": "phenotype_id"}) for m in MAPPERS)
    assert set(tq["phenotype_id"]) == set(fq["phenotype_id"])
    sgenes = {m: set(t.loc[t["qval"] <= FDR, "phenotype_id"]) for m, t in zip(MAPPERS, (tq, fq))}
    union = sgenes["tensorqtl"] | sgenes["fastqtl"]
    jaccard = len(sgenes["tensorqtl"] & sgenes["fastqtl"]) / len(union)
    on_sgenes = compare_top_variants(tq, fq, sorted(sgenes["tensorqtl"]))
    everywhere = compare_top_variants(tq, fq)
    same_intron = (tq.set_index("phenotype_id").loc[sorted(sgenes["tensorqtl"]), "intron"]
                   == fq.set_index("phenotype_id").loc[sorted(sgenes["tensorqtl"]), "intron"])
    print(f"\nsGenes tensorQTL {len(sgenes['tensorqtl'])}, FastQTL {len(sgenes['fastqtl'])}, "
          f"Jaccard {jaccard:.3f}; on tensorQTL's sGenes {on_sgenes}, same best intron "
          f"{same_intron.mean():.3f}; all genes {everywhere}")
    assert jaccard >= 0.9
    assert on_sgenes["same_top_variant"] >= 0.9
    assert same_intron.mean() >= 0.9
    assert everywhere["pearson_log10_pval_beta"] >= 0.98
