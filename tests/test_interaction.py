"""kgpex.effect_sizes.interaction: MAGE's genotype x continental-group interaction test.

The F-test is checked against R's anova(lm, lm) (Rscript), its power and calibration on planted
data, MAGE's group-MAF filter, the multi-variant model's conditioning, and the file-level run on
a pgen that plink2 builds from a VCF written here.
"""

from __future__ import annotations

import gzip
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
import scipy.stats
from conftest import CLEAN_ENV

from kgpex.common.errors import KgpexError
from kgpex.effect_sizes import interaction

GROUPS = ["AFR", "AMR", "EAS", "EUR", "SAS"]


def r_anova(tmp_path, cases) -> list[float]:
    """R's anova(lm(base), lm(full))$`Pr(>F)`[2] for each (data, base formula, full formula)."""
    if shutil.which("Rscript") is None:
        pytest.skip("Rscript is not installed")
    jobs = []
    for k, (data, base, full) in enumerate(cases):
        path = tmp_path / f"case{k}.tsv"
        data.to_csv(path, sep="\t", index=False)
        jobs.append(f"{path}\t{base}\t{full}")
    (tmp_path / "jobs.tsv").write_text("\n".join(jobs) + "\n")
    script = (
        "jobs <- read.delim(commandArgs(TRUE)[1], header = FALSE, stringsAsFactors = FALSE)\n"
        "for (i in seq_len(nrow(jobs))) {\n"
        "  d <- read.delim(jobs[i, 1], stringsAsFactors = TRUE)\n"
        "  a <- anova(lm(as.formula(jobs[i, 2]), d), lm(as.formula(jobs[i, 3]), d))\n"
        "  cat(sprintf('%.17g', a[['Pr(>F)']][2]), '\\n')\n"
        "}\n"
    )
    (tmp_path / "anova.R").write_text(script)
    proc = subprocess.run(["Rscript", str(tmp_path / "anova.R"), str(tmp_path / "jobs.tsv")],
                          env=CLEAN_ENV, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    return [float(x) for x in proc.stdout.split()]


def dummies(groups) -> np.ndarray:
    levels = sorted(set(groups))
    return np.column_stack([np.asarray(groups) == lev for lev in levels[1:]]).astype(float)


def samples(n: int) -> list[str]:
    return [f"S{i:04d}" for i in range(n)]


def lead_table(rows) -> pd.DataFrame:
    """Lead-table rows from (gene, variant ID, chrom, pos)."""
    return pd.DataFrame({
        "variantChrom": [r[2] for r in rows], "variantPosition": [r[3] for r in rows],
        "variantRef": "A", "variantAlt": "G", "variant_kgpID": [r[1] for r in rows],
        "variant_rsID": "NA", "ensemblID": [r[0] for r in rows], "geneSymbol": "X",
        "variantPIP": 0.9, "variantCredibleSet": "L1",
    })


# (a) ---------------------------------------------------------------------------------------------


def test_nested_f_test_equals_r_anova_lm(tmp_path):
    rng = np.random.default_rng(11)
    cases, ours = [], []
    for n_groups, n in ((3, 120), (4, 150), (5, 200)):
        group = rng.choice(GROUPS[:n_groups], n)
        g = rng.binomial(2, 0.3, n).astype(float)
        cov = rng.normal(size=(n, 3))
        y = 0.4 * g + cov @ [0.5, -0.2, 0.1] + rng.normal(size=n) + 0.3 * g * (group == "AFR")
        D = dummies(group)
        base = np.column_stack([np.ones(n), g, D, cov])
        ours.append(interaction.nested_f_test(y, base, np.column_stack([base, g[:, None] * D])))
        data = pd.DataFrame({"y": y, "g": g, "group": group, "c1": cov[:, 0], "c2": cov[:, 1],
                             "c3": cov[:, 2]})
        cases.append((data, "y ~ g + group + c1 + c2 + c3", "y ~ g * group + c1 + c2 + c3"))
    # Rank-deficient: a one-sample group, a constant covariate and a covariate that copies
    # another; lm drops the aliased columns, and so must we, in both models.
    n = 100
    group = np.array(rng.choice(GROUPS[:3], n - 1).tolist() + ["SAS"])
    g = rng.binomial(2, 0.4, n).astype(float)
    cov = np.column_stack([rng.normal(size=n), np.ones(n), np.zeros(n)])
    cov[:, 2] = 2 * cov[:, 0]
    y = rng.normal(size=n) + 0.5 * g * (group == "AFR")
    D = dummies(group)
    base = np.column_stack([np.ones(n), g, D, cov])
    ours.append(interaction.nested_f_test(y, base, np.column_stack([base, g[:, None] * D])))
    data = pd.DataFrame({"y": y, "g": g, "group": group, "c1": cov[:, 0], "c2": cov[:, 1],
                         "c3": cov[:, 2]})
    cases.append((data, "y ~ g + group + c1 + c2 + c3", "y ~ g * group + c1 + c2 + c3"))

    expected = r_anova(tmp_path, cases)
    assert len(expected) == len(ours)
    np.testing.assert_allclose(ours, expected, rtol=1e-10, atol=1e-12)
    assert all(0 < p < 1 for p in ours)


def test_nested_f_test_without_added_columns_is_na_and_rejects_unnested():
    rng = np.random.default_rng(2)
    X = np.column_stack([np.ones(30), rng.normal(size=30)])
    y = rng.normal(size=30)
    # The "full" model's extra column is a copy of a base column: no numerator df.
    assert np.isnan(interaction.nested_f_test(y, X, np.column_stack([X, 3 * X[:, 1]])))
    with pytest.raises(ValueError, match="not nested"):
        interaction.nested_f_test(y, X, np.column_stack([np.ones(30), rng.normal(size=30)]))


# (b) (c) ---------------------------------------------------------------------------------------


def simulate(rng, n, effects, freqs, n_cov=2):
    """Samples, groups, covariates, genotype and phenotype with a per-group genetic effect."""
    names = samples(n)
    group = rng.choice(list(effects), n)
    p = np.array([freqs[k] for k in group])
    g = rng.binomial(2, p).astype(float)
    cov = rng.normal(size=(n, n_cov))
    shift = {k: i * 0.3 for i, k in enumerate(effects)}  # group main effects
    y = (np.array([effects[k] for k in group]) * g + np.array([shift[k] for k in group])
         + cov @ np.linspace(0.3, -0.3, n_cov) + rng.normal(size=n))
    return (names, pd.Series(group, index=names), pd.DataFrame(cov, index=names,
            columns=[f"PC{i + 1}" for i in range(n_cov)]), g, y)


def test_planted_heterogeneous_effect_is_found():
    rng = np.random.default_rng(5)
    names, groups, cov, g, y = simulate(rng, 300, {"AFR": 0.0, "EAS": 1.0, "EUR": 1.0},
                                        {"AFR": 0.3, "EAS": 0.3, "EUR": 0.3})
    leads = lead_table([("G1", "v1", "chr1", 100)])
    pheno = pd.DataFrame([y], index=["G1"], columns=names)
    geno = pd.DataFrame([g], index=["v1"], columns=names)
    res = interaction.interaction_tests(leads, pheno, geno, groups, cov, multivariant=False)
    assert list(res.columns) == interaction.OUTPUT_COLUMNS
    assert res["interaction_pval"].iloc[0] < 1e-6
    # The same genotypes with one shared effect: no interaction.
    y_same = y - np.where(groups == "AFR", 0, 1.0) * g + 1.0 * g
    pheno_same = pd.DataFrame([y_same], index=["G1"], columns=names)
    res = interaction.interaction_tests(leads, pheno_same, {"v1": pd.Series(g, index=names)},
                                        groups, cov, multivariant=False)
    assert res["interaction_pval"].iloc[0] > 1e-3


def test_homogeneous_effect_under_permuted_groups_gives_uniform_pvalues():
    rng = np.random.default_rng(20240601)
    n, n_tests = 200, 200
    names = samples(n)
    true_group = rng.choice(GROUPS[:4], n)
    freqs = {"AFR": 0.4, "AMR": 0.25, "EAS": 0.15, "EUR": 0.3}
    p = np.array([freqs[k] for k in true_group])
    cov = pd.DataFrame(rng.normal(size=(n, 3)), index=names, columns=["PC1", "PC2", "sex"])
    geno, pheno = {}, {}
    for t in range(n_tests):
        g = rng.binomial(2, p).astype(float)
        geno[f"v{t}"] = pd.Series(g, index=names)
        pheno[f"G{t}"] = 0.5 * g + cov.to_numpy() @ [0.2, 0.1, 0.3] + rng.normal(size=n)
    leads = lead_table([(f"G{t}", f"v{t}", "chr2", 1000 + t) for t in range(n_tests)])
    groups = pd.Series(rng.permutation(true_group), index=names)
    res = interaction.interaction_tests(leads, pd.DataFrame(pheno).T.set_axis(names, axis=1),
                                        geno, groups, cov, multivariant=False)
    pvals = res["interaction_pval"].to_numpy()
    assert np.isfinite(pvals).sum() >= 190
    assert scipy.stats.kstest(pvals[np.isfinite(pvals)], "uniform").pvalue > 0.01


# (d) ---------------------------------------------------------------------------------------------


def test_group_maf_filter_leaves_one_group_polymorphism_untested(monkeypatch):
    rng = np.random.default_rng(3)
    names, groups, cov, _, _ = simulate(rng, 240, {"AFR": 0, "EAS": 0, "EUR": 0},
                                        {"AFR": 0.3, "EAS": 0.3, "EUR": 0.3})
    afr = (groups == "AFR").to_numpy()
    g_one = np.where(afr, rng.binomial(2, 0.4, len(names)), 0).astype(float)
    g_two = np.where(groups == "EUR", 0, rng.binomial(2, 0.4, len(names))).astype(float)
    # A strong interaction that would be significant if it were tested.
    y1 = 2.0 * g_one + rng.normal(size=len(names))
    y2 = 2.0 * g_two * afr + rng.normal(size=len(names))
    assert interaction.group_mafs(g_one, groups)[["EAS", "EUR"]].tolist() == [0.0, 0.0]
    assert not interaction.testable(g_one, groups)
    assert interaction.testable(g_two, groups)

    calls = []
    real = interaction._f_pvalue
    monkeypatch.setattr(interaction, "_f_pvalue", lambda *a: calls.append(1) or real(*a))
    leads = lead_table([("G1", "v1", "chr3", 10), ("G2", "v2", "chr3", 20)])
    res = interaction.interaction_tests(
        leads, pd.DataFrame([y1, y2], index=["G1", "G2"], columns=names),
        pd.DataFrame([g_one, g_two], index=["v1", "v2"], columns=names), groups, cov,
        multivariant=False)
    assert np.isnan(res["interaction_pval"].iloc[0])
    assert res["interaction_pval"].iloc[1] < 1e-6
    assert len(calls) == 1


def test_group_maf_threshold_is_inclusive_and_ignores_missing():
    groups = pd.Series(["A"] * 10 + ["B"] * 10 + ["C"] * 10)
    # One minor allele in 10 samples of A and of B: MAF exactly 0.05 in two groups.
    d = np.zeros(30)
    d[0] = d[10] = 1
    assert interaction.group_mafs(d, groups).tolist() == [0.05, 0.05, 0.0]
    assert interaction.testable(d, groups, 0.05)
    assert not interaction.testable(d, groups, 0.051)
    d[11] = -9  # missing (pgen's code): B's MAF is 1 / 18, not 1 / 20
    assert interaction.group_mafs(d, groups)["B"] == pytest.approx(1 / 18)


# (e) ---------------------------------------------------------------------------------------------


def test_multivariant_model_conditions_on_the_genes_other_leads(tmp_path):
    rng = np.random.default_rng(8)
    n = 250
    names = samples(n)
    group = rng.choice(["AFR", "EAS", "EUR"], n)
    v1 = rng.binomial(2, 0.35, n).astype(float)
    # v2 is v1 outside AFR and independent of it in AFR: LD that differs between groups.
    afr = group == "AFR"
    v2 = np.where(afr, rng.binomial(2, 0.35, n), v1).astype(float)
    v3 = np.where(afr, rng.binomial(2, 0.2, n), 0).astype(float)  # polymorphic in AFR only
    cov = rng.normal(size=(n, 2))
    # One homogeneous causal effect (v2's): v1 alone looks group-specific through the LD.
    y = 1.5 * v2 + 0.5 * v3 + cov @ [0.4, 0.2] + rng.normal(size=n)
    assert np.corrcoef(v1, v2)[0, 1] > 0.6

    leads = lead_table([("G1", "v1", "chr4", 10), ("G1", "v2", "chr4", 20),
                        ("G1", "v3", "chr4", 30)])
    pheno = pd.DataFrame([y], index=["G1"], columns=names)
    geno = pd.DataFrame([v1, v2, v3], index=["v1", "v2", "v3"], columns=names)
    groups = pd.Series(group, index=names)
    covs = pd.DataFrame(cov, index=names, columns=["c1", "c2"])
    multi = interaction.interaction_tests(leads, pheno, geno, groups, covs, multivariant=True)
    single = interaction.interaction_tests(leads, pheno, geno, groups, covs, multivariant=False)

    data = pd.DataFrame({"y": y, "v1": v1, "v2": v2, "v3": v3, "group": group,
                         "c1": cov[:, 0], "c2": cov[:, 1]})
    base = "y ~ group + v1 + v2 + v3 + c1 + c2"
    expected = r_anova(tmp_path, [
        (data, base, base + " + v1:group"),
        (data, base, base + " + v2:group"),
        (data, "y ~ v1 + group + c1 + c2", "y ~ v1 * group + c1 + c2"),
    ])
    np.testing.assert_allclose(multi["interaction_pval"].iloc[:2], expected[:2], rtol=1e-9)
    np.testing.assert_allclose(single["interaction_pval"].iloc[0], expected[2], rtol=1e-9)
    # v3 is polymorphic in one group: untested itself, but conditioned on above.
    assert np.isnan(multi["interaction_pval"].iloc[2])
    # Conditioning on v2 removes v1's LD-driven interaction.
    assert single["interaction_pval"].iloc[0] < 1e-5
    assert multi["interaction_pval"].iloc[0] > 1e-3


# (f) (g) ---------------------------------------------------------------------------------------


def write_cohort(root, rng, n_per_group=40):
    """VCF -> pgen (plink2) per chromosome, phenotype BED, covariates, individuals, lead table.

    Returns the file paths and the truth (genotypes with NaN missing, phenotypes, covariates)."""
    if shutil.which("plink2") is None:
        pytest.skip("plink2 is not installed")
    root.mkdir(parents=True, exist_ok=True)
    groups = np.repeat(["AFR", "EAS", "EUR"], n_per_group)
    n = len(groups)
    names = [f"HG{i:05d}" for i in range(n)]
    variants = [  # id, chrom, pos, per-group ALT frequencies
        ("chr21:1000:A:G", "chr21", 1000, (0.3, 0.3, 0.3)),
        ("chr21:2000:C:T", "chr21", 2000, (0.4, 0.2, 0.3)),
        ("chr21:3000:G:A", "chr21", 3000, (0.3, 0.4, 0.2)),
        ("chr22:5000:T:C", "chr22", 5000, (0.3, 0.0, 0.0)),
    ]
    gidx = np.searchsorted(["AFR", "EAS", "EUR"], groups)
    haps = {}
    for vid, _, _, f in variants:
        p = np.array(f)[gidx]
        haps[vid] = rng.binomial(1, p[:, None], size=(n, 2))
    # The second lead of gene 1 follows the first on one haplotype: correlated leads.
    haps["chr21:2000:C:T"][:, 0] = haps["chr21:1000:A:G"][:, 0]
    dosage = {v: h.sum(1).astype(float) for v, h in haps.items()}
    dosage["chr21:1000:A:G"][5] = np.nan  # one missing call
    for chrom in ("chr21", "chr22"):
        lines = ["##fileformat=VCFv4.2", f"##contig=<ID={chrom},length=100000>",
                 '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
                 "\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO",
                            "FORMAT", *names])]
        for vid, c, pos, _ in variants:
            if c != chrom:
                continue
            calls = [f"{a}|{b}" for a, b in haps[vid]]
            if vid == "chr21:1000:A:G":
                calls[5] = ".|."
            ref, alt = vid.split(":")[2:]
            lines.append("\t".join([c, str(pos), vid, ref, alt, ".", "PASS", ".", "GT", *calls]))
        (root / f"{chrom}.vcf").write_text("\n".join(lines) + "\n")
        subprocess.run(["plink2", "--vcf", str(root / f"{chrom}.vcf"), "--make-pgen",
                        "--output-chr", "chrM", "--threads", "1", "--memory", "1000",
                        "--out", str(root / chrom)], check=True, capture_output=True, env=CLEAN_ENV)

    cov = np.round(rng.normal(size=(n, 2)), 4)
    sex = rng.integers(1, 3, n).astype(float)
    afr = groups == "AFR"
    d = {k: np.nan_to_num(v) for k, v in dosage.items()}
    expr = {
        "ENSG01.1": 0.4 * d["chr21:1000:A:G"] + 0.9 * d["chr21:2000:C:T"] * ~afr,
        "ENSG02.1": 2.0 * d["chr21:3000:G:A"] * afr,
        "ENSG03.1": 0.5 * d["chr22:5000:T:C"],
        "ENSG04.1": np.zeros(n),  # not a lead gene
    }
    expr = {k: np.round(v + cov @ [0.3, -0.2] + rng.normal(size=n), 4) for k, v in expr.items()}
    bed = pd.DataFrame([[c, p - 1, p, gene] for gene, c, p in
                        (("ENSG01.1", "chr21", 1500), ("ENSG02.1", "chr21", 2500),
                         ("ENSG03.1", "chr22", 5500), ("ENSG04.1", "chr22", 9000))],
                       columns=["#Chr", "start", "end", "ID"])
    bed = pd.concat([bed, pd.DataFrame(expr).T.reset_index(drop=True).set_axis(names, axis=1)],
                    axis=1)
    bed.to_csv(root / "pheno.bed.gz", sep="\t", index=False)
    covs = pd.DataFrame(np.column_stack([cov, sex]).T, index=["PC1", "PC2", "sex"], columns=names)
    covs.rename_axis("id").reset_index().to_csv(root / "cov.tab.gz", sep="\t", index=False)
    pd.DataFrame({"individual": names, "population": "X", "continental_group": groups,
                  "sex": "female"}).to_csv(root / "individuals.tsv", sep="\t", index=False)
    leads = lead_table([("ENSG01.1", "chr21:1000:A:G", "chr21", 1000),
                        ("ENSG01.1", "chr21:2000:C:T", "chr21", 2000),
                        ("ENSG02.1", "chr21:3000:G:A", "chr21", 3000),
                        ("ENSG03.1", "chr22:5000:T:C", "chr22", 5000)])
    with gzip.open(root / "leads.txt.gz", "wt") as fh:
        leads.to_csv(fh, sep="\t", index=False)
    truth = {"dosage": dosage, "expr": expr, "cov": np.column_stack([cov, sex]),
             "groups": groups}
    return root, truth


def expected_pvalue(truth, gene, tested, in_model):
    """The interaction p-value computed directly from the simulated values."""
    G = np.column_stack([truth["dosage"][v] for v in in_model])
    keep = ~np.isnan(G).any(axis=1)
    g = truth["dosage"][tested][keep]
    D = dummies(truth["groups"][keep])
    base = np.column_stack([np.ones(keep.sum()), G[keep], D, truth["cov"][keep]])
    return interaction.nested_f_test(truth["expr"][gene][keep], base,
                                     np.column_stack([base, g[:, None] * D]))


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    return write_cohort(tmp_path_factory.mktemp("cohort"), np.random.default_rng(99))


def run_files(root, individuals=None):
    return interaction.run_interaction_tests(
        root / "leads.txt.gz", root / "pheno.bed.gz", root / "cov.tab.gz",
        {"chr21": root / "chr21", "chr22": root / "chr22"}, individuals or root / "individuals.tsv")


def test_file_level_run_on_a_plink2_pgen(cohort, tmp_path):
    root, truth = cohort
    single, multi = run_files(root)
    assert list(single.columns) == interaction.OUTPUT_COLUMNS + ["qval"]
    assert single["variant_id"].tolist() == ["chr21:1000:A:G", "chr21:2000:C:T",
                                             "chr21:3000:G:A", "chr22:5000:T:C"]
    assert single["variant_pos"].tolist() == [1000, 2000, 3000, 5000]
    g1 = ["chr21:1000:A:G", "chr21:2000:C:T"]
    want_single = [expected_pvalue(truth, "ENSG01.1", v, [v]) for v in g1]
    want_single.append(expected_pvalue(truth, "ENSG02.1", "chr21:3000:G:A", ["chr21:3000:G:A"]))
    want_multi = [expected_pvalue(truth, "ENSG01.1", v, g1) for v in g1]
    want_multi.append(want_single[2])
    # Phenotypes and covariates pass through float32 in the readers (4 decimals written).
    np.testing.assert_allclose(single["interaction_pval"].iloc[:3], want_single, rtol=1e-4)
    np.testing.assert_allclose(multi["interaction_pval"].iloc[:3], want_multi, rtol=1e-4)
    assert single["interaction_pval"].iloc[2] < 1e-5  # planted AFR-only effect
    assert single["interaction_pval"].iloc[:3].nunique() == 3
    for table in (single, multi):
        assert np.isnan(table["interaction_pval"].iloc[3])  # AFR-only variant
        assert np.isnan(table["qval"].iloc[3])
        assert (table["qval"].iloc[:3] >= table["interaction_pval"].iloc[:3]).all()

    out = tmp_path / "out" / "single.txt.gz"
    interaction.write_interaction_results(single, out)
    with gzip.open(out, "rt") as fh:
        lines = fh.read().splitlines()
    assert lines[0].split("\t") == interaction.OUTPUT_COLUMNS + ["qval"]
    assert lines[4].split("\t")[4:] == ["NA", "NA"]
    back = pd.read_csv(out, sep="\t")
    np.testing.assert_allclose(back["interaction_pval"], single["interaction_pval"], rtol=1e-12)
    assert not list(out.parent.glob(".*partial*"))


def test_sample_missing_from_individuals_is_one_line(cohort, tmp_path):
    root, _ = cohort
    table = pd.read_csv(root / "individuals.tsv", sep="\t")
    short = tmp_path / "individuals.tsv"
    table.drop(index=7).to_csv(short, sep="\t", index=False)
    with pytest.raises(KgpexError) as err:
        run_files(root, individuals=short)
    message = str(err.value)
    assert "\n" not in message
    assert str(short) in message and table["individual"][7] in message


def test_missing_group_in_memory_is_one_line():
    names = samples(20)
    groups = pd.Series(["AFR"] * 10 + ["EUR"] * 9, index=names[:19])
    with pytest.raises(KgpexError, match=f"sample {names[19]} has no group"):
        interaction.interaction_tests(
            lead_table([("G1", "v1", "chr1", 1)]), pd.DataFrame([np.zeros(20)], index=["G1"],
                                                               columns=names),
            {"v1": pd.Series(np.ones(20), index=names)}, groups,
            pd.DataFrame(index=names), multivariant=False)
