"""eqtl.finemapping.method susier_rss (MAGE's run_susie.R): susieR::susie_rss on the nominal
pass's z-scores and the in-sample LD, on a small synthetic cohort with LD blocks and planted
effects; checked against individual-level susie() and against R run directly on the same
inputs the way run_susie.R does it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from eqtl_synthetic import write_pgen

from kgpex.common.errors import KgpexError
from kgpex.eqtl import cis, tables
from kgpex.eqtl import finemapping as eqtl_finemapping
from kgpex.eqtl import inputs as eqtl_inputs
from kgpex.eqtl.mage_format import FINEMAPPING_COLUMNS, lead_variant_table

CHROM, WINDOW, MAF, SEED = "chr22", 100_000, 0.01, 5
N_SAMPLES, N_BLOCKS, BLOCK = 300, 20, 6
GENES = ["ENSG00000000001.1", "ENSG00000000002.1", "ENSG00000000003.1"]


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    """Blocks of 6 variants in LD (each a noisy copy of the block's haplotypes). Gene 1 has two
    causal variants in different blocks, gene 2 one, gene 3 none."""
    root = tmp_path_factory.mktemp("rss")
    rng = np.random.default_rng(SEED)
    samples = [f"HG{i:05d}" for i in range(N_SAMPLES)]
    haps = []
    for _ in range(N_BLOCKS):
        base = rng.random((2, N_SAMPLES)) < rng.uniform(0.1, 0.5)
        for _ in range(BLOCK):
            flip = rng.random((2, N_SAMPLES)) < 0.04
            haps.append(base ^ flip)
    dosages = np.array([h.sum(0) for h in haps], dtype=np.int8)
    n = len(dosages)
    positions = 20_000 + 500 * np.arange(n)
    ids = write_pgen(root / CHROM, CHROM, positions, ["A"] * n, ["G"] * n, samples, dosages)
    covar = pd.DataFrame({"PC1": rng.normal(size=N_SAMPLES), "PC2": rng.normal(size=N_SAMPLES),
                          "sex": rng.integers(1, 3, N_SAMPLES).astype(float)}, index=samples)
    causal = {GENES[0]: [15, 64], GENES[1]: [40], GENES[2]: []}
    expr = rng.normal(size=(3, N_SAMPLES)) + 0.4 * covar["PC1"].to_numpy()
    for k, gene in enumerate(GENES):
        for j in causal[gene]:
            g = dosages[j] - dosages[j].mean()
            expr[k] += 0.45 * g / g.std()
    tss = np.array([positions[60]] * 3)
    bed = pd.DataFrame({"#Chr": CHROM, "start": tss - 1, "end": tss, "ID": GENES})
    bed = pd.concat([bed, pd.DataFrame(expr, columns=samples)], axis=1)
    bed.to_csv(root / "phenotypes.bed.gz", sep="\t", index=False, compression="gzip")
    covar.T.rename_axis("id").reset_index().to_csv(root / "covariates.tab.gz", sep="\t",
                                                   index=False, compression="gzip")
    inputs = eqtl_inputs.load_inputs(root / "phenotypes.bed.gz", root / "covariates.tab.gz",
                                     root / CHROM, CHROM)
    nominal = cis.map_nominal(inputs, WINDOW, MAF)
    nominal.to_parquet(root / "nominal.parquet")
    z = eqtl_finemapping.read_nominal_z(root / "nominal.parquet", GENES)
    return {"inputs": inputs, "z": z, "dosages": dosages, "ids": ids, "covar": covar,
            "expr": expr, "causal": {g: [ids[j] for j in v] for g, v in causal.items()},
            "root": root}


def finemap(cohort, method, **kw):
    return eqtl_finemapping.finemap_susie(cohort["inputs"], GENES, WINDOW, MAF, L=10,
                                          coverage=0.95, min_abs_corr=0.5, seed=SEED,
                                          method=method, **kw)


@pytest.fixture(scope="module")
def rss(cohort):
    return finemap(cohort, "susier_rss", nominal=cohort["z"])


@pytest.fixture(scope="module")
def individual(cohort):
    return finemap(cohort, "susier")


def members(pips):
    m = pips.dropna(subset=["cs_id"])
    m = m.assign(cs_id=m["cs_id"].str.split(",")).explode("cs_id")
    return {(g, c): frozenset(d["variant_id"]) for (g, c), d in m.groupby(["phenotype_id", "cs_id"])}


def test_read_nominal_z_keeps_the_genes_asked_for(cohort):
    z = eqtl_finemapping.read_nominal_z(cohort["root"] / "nominal.parquet", GENES[:1])
    assert list(z.columns) == ["phenotype_id", "variant_id", "z"]
    assert set(z["phenotype_id"]) == {GENES[0]} and len(z) == len(cohort["ids"])
    assert eqtl_finemapping.read_nominal_z(cohort["root"] / "nominal.parquet", []).empty


def test_susie_rss_sets_hold_the_planted_variants(cohort, rss):
    pips, sets = rss
    assert list(pips.columns) == tables.PIP_COLUMNS
    assert list(sets.columns) == tables.CREDIBLE_SET_COLUMNS
    assert set(pips["phenotype_id"]) == set(GENES) and pips["converged"].all()
    found = members(pips)
    for gene, variants in cohort["causal"].items():
        gene_sets = [v for (g, _), v in found.items() if g == gene]
        assert len(gene_sets) == len(variants)  # one set per planted effect, none for gene 3
        assert all(any(v in s for s in gene_sets) for v in variants)
    assert (sets["coverage"] >= 0.95).all() and (sets["min_abs_corr"] >= 0.5).all()


def test_susie_rss_agrees_with_individual_level_susie(rss, individual):
    (p_rss, s_rss), (p_ind, s_ind) = rss, individual
    merged = p_rss.merge(p_ind, on=["phenotype_id", "variant_id"], suffixes=("_rss", "_ind"))
    assert len(merged) == len(p_rss) == len(p_ind)
    r = np.corrcoef(merged["pip_rss"], merged["pip_ind"])[0, 1]
    diff = (merged["pip_rss"] - merged["pip_ind"]).abs().max()
    print(f"PIP correlation susie_rss vs susie: {r:.5f}, max |difference| {diff:.4f}")
    assert r > 0.99 and diff < 0.05
    assert set(members(p_rss).values()) == set(members(p_ind).values())
    assert len(s_rss) == len(s_ind)


def test_susie_rss_matches_r_run_as_mage_ran_it(cohort, rss):
    """The same inputs through R alone, as run_susie.R: covariates (with an intercept) regressed
    out of X and y, R = cor(X), z reordered to the genotype order, susie_rss(...) seed 1."""
    import rpy2.robjects as ro

    run_susie = ro.r("""
    function(X, Z, y, z) {
      Z <- cbind(1, Z)
      b <- solve(crossprod(Z), t(Z) %*% cbind(y, X))
      r <- cbind(y, X) - Z %*% b
      y <- r[, 1]; X <- r[, -1, drop = FALSE]
      set.seed(1)
      fit <- suppressMessages(susieR::susie_rss(z = z, n = length(y), R = cor(X), var_y = var(y),
                                                L = 10, coverage = 0.95, min_abs_corr = 0.5,
                                                estimate_residual_variance = TRUE))
      list(pip = fit$pip, cs = lapply(fit$sets$cs, function(i) i - 1))
    }""")
    pips, _ = rss
    samples = list(cohort["inputs"].phenotype_df.columns)
    covar = cohort["covar"].loc[samples].to_numpy(float)
    worst = 0.0
    for k, gene in enumerate(GENES):
        z = cohort["z"][cohort["z"]["phenotype_id"] == gene].set_index("variant_id")["z"]
        ours = pips[pips["phenotype_id"] == gene].set_index("variant_id")
        X = cohort["dosages"][[cohort["ids"].index(v) for v in ours.index]].T.astype(float)
        out = run_susie(eqtl_finemapping._r_matrix(ro, X), eqtl_finemapping._r_matrix(ro, covar),
                        ro.FloatVector(cohort["expr"][k]), ro.FloatVector(z.loc[ours.index]))
        r_pip = np.array(out.rx2("pip"))
        worst = max(worst, float(np.abs(r_pip - ours["pip"].to_numpy()).max()))
        r_sets = {frozenset(ours.index[np.array(s, dtype=int)]) for s in out.rx2("cs")}
        assert r_sets == {v for (g, _), v in members(pips).items() if g == gene}
    print(f"max |PIP difference| kgpex susie_rss vs R run as run_susie.R: {worst:.2e}")
    assert worst < 1e-4


def test_susie_rss_needs_z_scores_and_leaves_out_variants_without_one(cohort, caplog):
    with pytest.raises(KgpexError, match="susier_rss needs the nominal pass"):
        finemap(cohort, "susier_rss")
    z = cohort["z"]
    dropped = z["variant_id"].iloc[0]
    pips, _ = finemap(cohort, "susier_rss", nominal=z[z["variant_id"] != dropped])
    assert dropped not in set(pips["variant_id"])
    assert "have no nominal z-score" in caplog.text


def test_lead_variant_table_is_mages_cs_lead_hit():
    sig = pd.DataFrame({
        "variantChrom": "chr1", "variantPosition": [10, 20, 30, 40, 50],
        "variantRef": "A", "variantAlt": "G",
        "variant_kgpID": [f"chr1:{p}:A:G" for p in (10, 20, 30, 40, 50)], "variant_rsID": "NA",
        "ensemblID": ["G2", "G1", "G1", "G1", "G1"], "geneSymbol": "S",
        "variantPIP": [0.9, 0.4, 0.6, 0.6, 0.3], "variantCredibleSet": ["L1", "L2", "L2", "L10", "L2,L10"],
    })
    lead = lead_variant_table(sig)
    assert list(lead.columns) == FINEMAPPING_COLUMNS
    # By gene, set name as text (L10 before L2), PIP descending; ties: the first by position.
    assert lead[["ensemblID", "variantCredibleSet", "variantPosition"]].values.tolist() == [
        ["G1", "L10", 40], ["G1", "L2", 30], ["G2", "L1", 10]]
    assert lead_variant_table(sig.iloc[:0]).empty


def test_lead_variant_file_is_the_table_of_the_significant_file(tmp_path):
    # The rule's path: significantAssociations as written (gzip, "NA" rsIDs) -> lead hits file.
    from kgpex.common.io import write_table
    from kgpex.eqtl.mage_files import write_lead_variant_table

    sig = pd.DataFrame({
        "variantChrom": "chr22", "variantPosition": [10, 20, 30],
        "variantRef": "A", "variantAlt": "G",
        "variant_kgpID": [f"chr22:{p}:A:G" for p in (10, 20, 30)], "variant_rsID": "NA",
        "ensemblID": ["G1", "G1", "G2"], "geneSymbol": "S",
        "variantPIP": [0.3, 0.7, 0.9], "variantCredibleSet": ["L1", "L1", "L1"],
    })
    src, dest = tmp_path / "significant.txt.gz", tmp_path / "lead.txt.gz"
    write_table(sig, src, index=False, na_rep="NA")
    lead = write_lead_variant_table(src, dest)
    assert lead["variantPosition"].tolist() == [20, 30]
    written = pd.read_csv(dest, sep="\t", dtype=str, keep_default_na=False)
    assert list(written.columns) == FINEMAPPING_COLUMNS
    assert written["variant_kgpID"].tolist() == ["chr22:20:A:G", "chr22:30:A:G"]
    assert written["variant_rsID"].tolist() == ["NA", "NA"]
