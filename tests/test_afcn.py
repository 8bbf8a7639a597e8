"""kgpex.effect_sizes: MAGE's covariate correction (against R's lm/confint), the aFC-n model on
planted and hand-computed data, and the estimate_afcn rule on a tiny plink2 fileset."""

from __future__ import annotations

import gzip
import logging
import math
import runpy
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from conftest import CLEAN_ENV, ROOT
from scipy import optimize, stats

from kgpex.common.errors import KgpexError
from kgpex.effect_sizes import afcn
from kgpex.effect_sizes.afcn import AfcnFitFailure, fit_afcn
from kgpex.effect_sizes.covariate_correction import (
    correct_covariates,
    covariate_design,
    ols_confint,
)


def model(h1, h2, s, c0):
    """E = log2(2^(h1 s) + 2^(h2 s)) + c0, written out as the definition."""
    return np.log2(2.0 ** (h1 @ s) + 2.0 ** (h2 @ s)) + c0


def haplotypes(rng, n, freqs):
    freqs = np.asarray(freqs)
    h1 = (rng.random((n, len(freqs))) < freqs).astype(float)
    h2 = (rng.random((n, len(freqs))) < freqs).astype(float)
    return h1, h2


# ---------------------------------------------------------------------------------------------
# aFC-n model


def test_interval_is_two_sigma_not_95():
    assert afcn.INTERVAL_PROB == pytest.approx(0.9545, abs=1e-4)
    assert afcn.XTOL == afcn.FTOL == 0.01 and afcn.BOUND == 6.64


def test_planted_effect_recovered_with_truth_inside_the_interval():
    rng = np.random.default_rng(11)
    h1, h2 = haplotypes(rng, 300, [0.35])
    s, c0 = np.array([1.3]), 6.0
    e = model(h1, h2, s, c0) + rng.normal(0, 0.1, 300)
    fit = fit_afcn(e, h1, h2)
    assert fit.n == 300 and not fit.ci_failed
    assert abs(fit.s[0] - 1.3) < 0.05 and abs(fit.c0 - 6.0) < 0.05
    assert 0 < fit.s_error[0] < 0.05
    lo, hi = fit.s_ci[0]
    assert lo < 1.3 < hi and lo < fit.s[0] < hi
    assert fit.c0_ci[0] < 6.0 < fit.c0_ci[1]
    # +-2 sigma, so about 4 standard errors wide.
    assert 3 < (hi - lo) / fit.s_error[0] < 5

    # The upper bound is where the profile F test reaches 0.9545: fix s there, refit c0.
    n, p = 300, 2
    chi_best = np.sum((model(h1, h2, fit.s, fit.c0) - e) ** 2)
    refit = optimize.least_squares(lambda c: model(h1, h2, np.array([hi]), c[0]) - e,
                                   [fit.c0], xtol=1e-12, ftol=1e-12)
    chi_fixed = 2 * refit.cost
    f = (chi_fixed / chi_best - 1) * (n - p)
    assert stats.f.cdf(f, 1, n - p) == pytest.approx(afcn.INTERVAL_PROB, abs=0.01)


def test_variant_without_effect_has_an_interval_covering_zero():
    rng = np.random.default_rng(2)
    h1, h2 = haplotypes(rng, 300, [0.3])
    e = model(h1, h2, np.array([0.0]), 4.0) + rng.normal(0, 0.2, 300)
    fit = fit_afcn(e, h1, h2)
    assert abs(fit.s[0]) < 0.1
    assert np.isfinite(fit.s_ci[0]).all() and fit.s_ci[0, 0] < 0 < fit.s_ci[0, 1]


@pytest.mark.parametrize("truth", [9.0, -8.0])
def test_effect_beyond_the_bound_stops_at_the_bound(truth):
    """The fit stops at +-6.64 (log2 of about 100-fold; to within xtol = 0.01, which lmfit
    applies to its internal sine-transformed parameter). lmfit's profile cannot go past the
    bound, so the interval's side towards it is infinite (lmfit's convention, kept by aFC-n) or
    the bound itself; in no case an interval that excludes the bound.

    (Far beyond the bound, e.g. -12, the bounded least-squares optimum moves back inside:
    c0 absorbs part of the misfit of the homozygotes. That is the model, not a defect.)"""
    rng = np.random.default_rng(13)
    h1, h2 = haplotypes(rng, 300, [0.3])
    e = model(h1, h2, np.array([truth]), 5.0) + rng.normal(0, 0.2, 300)
    fit = fit_afcn(e, h1, h2)
    sign = np.sign(truth)
    assert fit.s[0] == pytest.approx(sign * 6.64, abs=0.005)
    outer = fit.s_ci[0, 1] if sign > 0 else fit.s_ci[0, 0]
    assert not fit.ci_failed
    assert sign * outer == np.inf or sign * outer >= 6.64 - 0.005


def test_two_leads_each_recover_their_own_effect():
    rng = np.random.default_rng(14)
    n = 300
    h1, h2 = haplotypes(rng, n, [0.4, 0.3])
    # Linkage: variant 1 copies variant 0's allele on 60% of haplotypes.
    for h in (h1, h2):
        copy = rng.random(n) < 0.6
        h[copy, 1] = h[copy, 0]
    s = np.array([1.5, -0.8])
    e = model(h1, h2, s, 5.0) + rng.normal(0, 0.1, n)
    joint = fit_afcn(e, h1, h2)
    np.testing.assert_allclose(joint.s, s, atol=0.06)
    for k in range(2):
        assert joint.s_ci[k, 0] < s[k] < joint.s_ci[k, 1]
    # Alone, variant 0 picks up part of variant 1's effect: the joint fit is what conditions.
    alone = fit_afcn(e, h1[:, :1], h2[:, :1])
    assert abs(alone.s[0] - s[0]) > 0.2
    assert abs(joint.s[0] - s.sum()) > 0.5


def test_hand_computed_noise_free_case_is_recovered_exactly():
    # s = (1, -2), c0 = 3; E = log2(2^(h1.s) + 2^(h2.s)) + 3, by hand:
    h1 = np.array([[0, 0], [1, 0], [1, 0], [0, 1], [0, 1], [1, 1], [0, 0]], dtype=float)
    h2 = np.array([[0, 0], [0, 0], [1, 0], [0, 0], [0, 1], [0, 0], [1, 1]], dtype=float)
    e = np.array([
        4.0,                    # 1 + 1
        3 + math.log2(3),       # 2 + 1
        5.0,                    # 2 + 2
        3 + math.log2(1.25),    # 1/4 + 1
        2.0,                    # 1/4 + 1/4
        3 + math.log2(1.5),     # 1/2 + 1
        3 + math.log2(1.5),     # 1 + 1/2
    ])
    fit = fit_afcn(e, h1, h2, conf=False)
    np.testing.assert_allclose(fit.s, [1.0, -2.0], atol=1e-6)
    assert fit.c0 == pytest.approx(3.0, abs=1e-6)
    assert np.isnan(fit.s_ci).all() and not fit.ci_failed


def test_individuals_with_missing_haplotypes_are_dropped():
    rng = np.random.default_rng(15)
    h1, h2 = haplotypes(rng, 100, [0.4])
    e = model(h1, h2, np.array([1.0]), 5.0) + rng.normal(0, 0.1, 100)
    full = fit_afcn(e[10:], h1[10:], h2[10:], conf=False)
    h1[:10, 0] = np.nan
    e[:10] = 99.0  # would wreck the fit if those individuals were used
    fit = fit_afcn(e, h1, h2, conf=False)
    assert fit.n == 90 and fit.s[0] == pytest.approx(full.s[0], abs=1e-12)
    with pytest.raises(AfcnFitFailure, match="1 individuals"):
        fit_afcn(e[9:11], h1[9:11], h2[9:11])
    with pytest.raises(KgpexError, match=r"hap2\[3, 0\] is 2.0"):
        fit_afcn(e, h1, np.where(np.arange(100)[:, None] == 3, 2.0, h2))


# ---------------------------------------------------------------------------------------------
# Covariate correction


def covariate_data(n=200, seed=21):
    rng = np.random.default_rng(seed)
    covariates = pd.DataFrame({
        "pc1": rng.normal(size=n),
        "noise": rng.normal(size=n),
        "batch": rng.choice(["A", "B", "C"], size=n),
    }, index=[f"S{i}" for i in range(n)])
    g = rng.choice([0, 1, 2], size=n, p=[0.4, 0.45, 0.15]).astype(float)
    genotypes = pd.DataFrame({"v1": g}, index=covariates.index)
    y = (2.0 + 0.8 * covariates["pc1"] + 0.6 * (covariates["batch"] == "C")
         + np.select([g == 0, g == 2], [-0.7, 1.0], 0.0) + rng.normal(0, 0.3, n))
    return y.rename("gene"), covariates, genotypes


R_MAGE_CORRECTION = r"""
args <- commandArgs(trailingOnly = TRUE)
d <- read.delim(args[1], stringsAsFactors = TRUE)
covs <- model.matrix(~ pc1 + noise + batch, d)[, -1]
geno <- as.matrix(d[, c("hom_ref", "hom_alt")])
first <- lm(d$y ~ covs + geno)
ci <- confint(first, level = 0.95)
rownames(ci) <- sub("^(covs|geno)", "", rownames(ci))
write.table(data.frame(term = rownames(ci), coef = coef(first), lower = ci[, 1],
                       upper = ci[, 2]), args[2], sep = "\t", quote = FALSE, row.names = FALSE)
keep <- colnames(covs)[!(ci[colnames(covs), 1] <= 0 & ci[colnames(covs), 2] >= 0)]
kept <- covs[, keep, drop = FALSE]
second <- lm(d$y ~ kept + geno)
b <- coef(second)[paste0("kept", keep)]
corrected <- d$y - kept %*% b
writeLines(keep, args[3])
write.table(corrected, args[4], quote = FALSE, row.names = FALSE, col.names = FALSE)
"""


def test_covariate_correction_matches_r_lm_and_confint(tmp_path):
    y, covariates, genotypes = covariate_data()
    g = genotypes["v1"]
    data = covariates.assign(y=y, hom_ref=(g == 0).astype(int), hom_alt=(g == 2).astype(int))
    data.to_csv(tmp_path / "data.tsv", sep="\t", index=False)
    (tmp_path / "mage.R").write_text(R_MAGE_CORRECTION)
    outs = [tmp_path / name for name in ("first.tsv", "kept.txt", "corrected.txt")]
    proc = subprocess.run(["Rscript", str(tmp_path / "mage.R"), str(tmp_path / "data.tsv"),
                           *map(str, outs)], env=CLEAN_ENV, capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    r_first = pd.read_csv(outs[0], sep="\t").set_index("term")
    r_kept = outs[1].read_text().split()
    r_corrected = np.loadtxt(outs[2])

    design = pd.concat([pd.DataFrame({"Intercept": 1.0}, index=y.index),
                        covariate_design(covariates),
                        pd.DataFrame({"hom_ref": (g == 0) * 1.0, "hom_alt": (g == 2) * 1.0})],
                       axis=1)
    ours = ols_confint(design, y)
    ours.index = ["(Intercept)", "pc1", "noise", "batchB", "batchC", "hom_ref", "hom_alt"]
    pd.testing.assert_frame_equal(ours, r_first.loc[ours.index], check_exact=False,
                                  rtol=1e-9, atol=1e-12, check_names=False)

    corrected, kept = correct_covariates(y, covariates, genotypes)
    assert kept == [name.replace("batch", "batch_") for name in r_kept]
    # The planted covariates are removed, the pure-noise one is not (its CI holds 0).
    assert kept == ["pc1", "batch_C"]
    assert r_first.loc["noise", "lower"] < 0 < r_first.loc["noise", "upper"]
    np.testing.assert_allclose(corrected.to_numpy(), r_corrected, rtol=1e-10, atol=1e-10)
    assert corrected.index.equals(y.index)
    # pc1 and batch C are gone from the corrected values (refitting the kept model on them
    # gives 0), the intercept and the genotype effects are still in them.
    kept_design = design[["Intercept", "pc1", "batch_C", "hom_ref", "hom_alt"]]
    before, after = ols_confint(kept_design, y)["coef"], ols_confint(kept_design, corrected)["coef"]
    np.testing.assert_allclose(after[["pc1", "batch_C"]], 0, atol=1e-10)
    np.testing.assert_allclose(after[["Intercept", "hom_ref", "hom_alt"]],
                               before[["Intercept", "hom_ref", "hom_alt"]], rtol=1e-10)
    assert before["pc1"] == pytest.approx(0.8, abs=0.1)
    means = corrected.groupby(g.to_numpy()).mean()
    assert means[2.0] - means[1.0] == pytest.approx(1.0, abs=0.2)
    assert means[1.0] - means[0.0] == pytest.approx(0.7, abs=0.2)


def test_no_kept_covariate_leaves_expression_unchanged():
    rng = np.random.default_rng(22)
    covariates = pd.DataFrame({"noise": rng.normal(size=50)})
    y = rng.normal(size=50)
    corrected, kept = correct_covariates(y, covariates, None)
    assert kept == [] and np.array_equal(corrected, y)


def test_missing_genotype_left_out_of_the_fit_but_corrected():
    y, covariates, genotypes = covariate_data(n=120, seed=23)
    genotypes.iloc[5, 0] = np.nan
    corrected, kept = correct_covariates(y, covariates, genotypes)
    rest = np.arange(120) != 5
    sub, sub_kept = correct_covariates(y[rest], covariates[rest], genotypes[rest])
    assert kept == sub_kept
    np.testing.assert_allclose(corrected[rest], sub, rtol=1e-12)
    # Row 5 gets the coefficients fitted on the others.
    design = covariate_design(covariates)[kept]
    coef = np.linalg.lstsq(design[rest].to_numpy(), (y[rest] - sub).to_numpy(), rcond=None)[0]
    assert corrected.iloc[5] == pytest.approx(y.iloc[5] - design.iloc[5].to_numpy() @ coef)
    genotypes.iloc[7, 0] = 3
    with pytest.raises(KgpexError, match="genotype of 'v1' for sample 'S7' is '3.0'"):
        correct_covariates(y, covariates, genotypes)


# ---------------------------------------------------------------------------------------------
# The rule: estimate_afcn on a plink2 fileset


N_SAMPLES = 80
VARIANTS = [  # id, pos, ref, alt, gene, true log2 aFC, ALT frequency
    ("chr21:1000:A:G", 1000, "A", "G", "ENSG01", 1.2, 0.4),
    ("chr21:2000:C:T", 2000, "C", "T", "ENSG01", -0.9, 0.3),
    ("chr21:5000:G:A", 5000, "G", "A", "ENSG02", 0.7, 0.35),
]


def write_cohort(tmp_path: Path, unphased: tuple[int, int] | None = None):
    """Phased VCF -> pgen (plink2), a log2 expression BED made from the model plus a covariate
    effect, the covariates file, and the lead-variant table. ``unphased`` = (variant, sample)
    whose genotype is written as 0/1."""
    rng = np.random.default_rng(31)
    samples = [f"NA{i:05d}" for i in range(N_SAMPLES)]
    freqs = [v[6] for v in VARIANTS]
    h1, h2 = haplotypes(rng, N_SAMPLES, freqs)
    h1[3, 0] = h2[3, 0] = np.nan  # one missing call
    lines = ["##fileformat=VCFv4.2", "##contig=<ID=chr21,length=100000>",
             '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
             "\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT",
                        *samples])]
    for k, (vid, pos, ref, alt, *_rest) in enumerate(VARIANTS):
        calls = []
        for j in range(N_SAMPLES):
            if np.isnan(h1[j, k]):
                calls.append(".|.")
            elif unphased == (k, j):
                calls.append("0/1")
                h1[j, k], h2[j, k] = 1.0, 0.0
            else:
                calls.append(f"{int(h1[j, k])}|{int(h2[j, k])}")
        lines.append("\t".join(["chr21", str(pos), vid, ref, alt, ".", "PASS", ".", "GT",
                                *calls]))
    vcf = tmp_path / "chr21.vcf"
    vcf.write_text("\n".join(lines) + "\n")
    proc = subprocess.run(["plink2", "--vcf", str(vcf), "--make-pgen", "--output-chr", "chrM",
                           "--out", str(tmp_path / "chr21")], env=CLEAN_ENV,
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr

    pc1 = rng.normal(size=N_SAMPLES)
    sex = rng.choice([1, 2], size=N_SAMPLES)
    cov = pd.DataFrame([pc1, sex], index=["PC1", "sex"], columns=samples)
    cov.index.name = "id"
    cov.to_csv(tmp_path / "covariates.tab.gz", sep="\t")

    filled1, filled2 = np.nan_to_num(h1), np.nan_to_num(h2)
    s = np.array([v[5] for v in VARIANTS])
    gene1 = model(filled1[:, :2], filled2[:, :2], s[:2], 6.0)
    gene2 = model(filled1[:, 2:], filled2[:, 2:], s[2:], 4.0)
    rows = [gene1, gene2, rng.normal(5, 1, N_SAMPLES)]
    bed = pd.DataFrame([r + 0.5 * pc1 + rng.normal(0, 0.1, N_SAMPLES) for r in rows],
                       columns=samples)
    # One expression sample without genotypes: left out.
    bed["NA99999"] = 5.0
    bed.insert(0, "ID", ["ENSG01", "ENSG02", "ENSG03"])
    bed.insert(0, "end", [1001, 5001, 9001])
    bed.insert(0, "start", [1000, 5000, 9000])
    bed.insert(0, "#Chr", "chr21")
    bed.to_csv(tmp_path / "expression.bed.gz", sep="\t", index=False)

    lead = pd.DataFrame(
        [["chr21", str(pos), ref, alt, vid, "NA", gene, f"SYM{gene[-1]}", "0.9", "L1"]
         for vid, pos, ref, alt, gene, *_ in VARIANTS]
        # A lead of two credible sets (listed twice), and a gene the BED lacks.
        + [["chr21", "2000", "C", "T", "chr21:2000:C:T", "NA", "ENSG01", "SYM1", "0.5", "L2"],
           ["chr21", "5000", "G", "A", "chr21:5000:G:A", "NA", "ENSG09", "SYM9", "0.4", "L1"]],
        columns=afcn.LEAD_VARIANT_COLUMNS,
    )
    lead.to_csv(tmp_path / "lead.txt.gz", sep="\t", index=False)
    return s


@pytest.fixture
def root_logging():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)


def run_rule(tmp_path: Path, capsys, monkeypatch) -> Path:
    """workflow/scripts/estimate_afcn.py as Snakemake runs it; its error line -> KgpexError."""
    monkeypatch.syspath_prepend(str(ROOT / "workflow" / "scripts"))
    table = tmp_path / "out" / "leadVariant_aFCn.txt.gz"
    snakemake = SimpleNamespace(
        rule="estimate_afcn", log=[str(tmp_path / "afcn.log")], threads=1,
        input=SimpleNamespace(lead_variants=str(tmp_path / "lead.txt.gz"),
                              expression=str(tmp_path / "expression.bed.gz"),
                              covariates=str(tmp_path / "covariates.tab.gz"),
                              pgens=[str(tmp_path / "chr21.pgen")]),
        output=SimpleNamespace(table=str(table)), params=SimpleNamespace(bound=6.64),
    )
    try:
        runpy.run_path(str(ROOT / "workflow" / "scripts" / "estimate_afcn.py"),
                       init_globals={"snakemake": snakemake})
    except SystemExit as exit:
        lines = [line for line in capsys.readouterr().err.splitlines()
                 if line.startswith("kgpex error in rule estimate_afcn: ")]
        assert exit.code == 1 and len(lines) == 1, lines
        raise KgpexError(lines[0].split(": ", 1)[1]) from None
    return table


@pytest.mark.skipif(shutil.which("plink2") is None, reason="plink2 not installed")
def test_rule_writes_one_row_per_lead_variant(tmp_path, capsys, monkeypatch, root_logging):
    s = write_cohort(tmp_path)
    table = run_rule(tmp_path, capsys, monkeypatch)
    with gzip.open(table, "rt") as fh:
        header = fh.readline().rstrip("\n").split("\t")
    assert header == afcn.OUTPUT_COLUMNS and len(header) == 17
    out = pd.read_csv(table, sep="\t", dtype=str, keep_default_na=False)
    lead = pd.read_csv(tmp_path / "lead.txt.gz", sep="\t", dtype=str, keep_default_na=False)
    pd.testing.assert_frame_equal(out[afcn.LEAD_VARIANT_COLUMNS], lead)
    values = out[afcn.AFCN_COLUMNS].replace("NA", np.nan).astype(float)
    np.testing.assert_allclose(values["log2_aFC"][:3], s, atol=0.15)
    assert (values.loc[:2, "log2_aFC_min_95_interv"] < s).all()
    assert (values.loc[:2, "log2_aFC_max_95_interv"] > s).all()
    # c0 per gene on each of its rows; the twice-listed lead has one estimate.
    assert values["log2_aFC_c0"][0] == values["log2_aFC_c0"][1] == values["log2_aFC_c0"][3]
    assert values["log2_aFC_c0"][0] == pytest.approx(6.0, abs=0.15)
    assert values.iloc[3].equals(values.iloc[1])
    assert values.iloc[:4].notna().all().all()
    # The gene the BED lacks: NA, and the log says so.
    assert values.iloc[4].isna().all() and out.iloc[4]["log2_aFC"] == "NA"
    logged = (tmp_path / "afcn.log").read_text()
    assert "ENSG09: no aFC-n (gene not in" in logged
    assert "2 genes failed" not in logged and "1 genes failed" in logged
    assert "80 of 81 expression samples" in logged
    # Fitting in two processes gives the same numbers.
    pooled = afcn.estimate_lead_variant_afc(
        lead, tmp_path / "expression.bed.gz", tmp_path / "covariates.tab.gz",
        {"chr21": str(tmp_path / "chr21")}, threads=2)
    np.testing.assert_array_equal(pooled[afcn.AFCN_COLUMNS].to_numpy(dtype=float),
                                  values.to_numpy())


@pytest.mark.skipif(shutil.which("plink2") is None, reason="plink2 not installed")
def test_rule_stops_on_an_unphased_heterozygote(tmp_path, capsys, monkeypatch, root_logging):
    write_cohort(tmp_path, unphased=(1, 7))
    with pytest.raises(KgpexError) as err:
        run_rule(tmp_path, capsys, monkeypatch)
    message = str(err.value)
    assert "\n" not in message
    assert "chr21:2000:C:T" in message and "NA00007" in message and "phase" in message
    assert not (tmp_path / "out" / "leadVariant_aFCn.txt.gz").exists()


def test_lead_table_and_genotype_checks(tmp_path):
    lead = pd.DataFrame([["chr22", "1", "A", "G", "chr22:1:A:G", "NA", "G1", "S", "1", "L1"]],
                        columns=afcn.LEAD_VARIANT_COLUMNS)
    with pytest.raises(KgpexError, match="line 2: field variantChrom: no genotypes for "
                                         "chromosome 'chr22'"):
        afcn.estimate_lead_variant_afc(lead, tmp_path / "x.bed", tmp_path / "c.tab", {})
    with pytest.raises(KgpexError, match="column 'variantCredibleSet' missing"):
        afcn.check_lead_variants(lead.drop(columns="variantCredibleSet"))
    empty = afcn.estimate_lead_variant_afc(lead.iloc[:0], tmp_path / "x", tmp_path / "c", {})
    assert list(empty.columns) == afcn.OUTPUT_COLUMNS and empty.empty
