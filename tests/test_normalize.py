"""kgpex.expression.normalize: TMM (by hand and against R edgeR), TMM-CPM, inverse normal
transform, filter."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from kgpex.common.errors import KgpexError
from kgpex.expression.normalize import (
    expression_filter,
    inverse_normal_transform,
    min_samples_required,
    tmm_cpm,
    tmm_factors,
)

# ----------------------------------------------------------------------------- TMM by hand


def test_tmm_composition_example_by_hand():
    # B is A plus one gene soaking up 90% of B's reads; C is A sequenced twice as deep.
    # Genes 1-9 are not differentially expressed: TMM must give them equal CPM in A, B and C.
    a = [10.0] * 10
    b = [10.0] * 9 + [910.0]
    c = [20.0] * 10
    counts = pd.DataFrame({"A": a, "B": b, "C": c})
    # Reference: upper-quartile/lib size is 0.1, 0.01, 0.1 -> A (first of the two closest).
    # B vs A: M = log2((10/1000)/(10/100)) = log2(0.1) for genes 1-9 (ranks tied at 5, inside the
    # 30% trim [4, 7]); gene 10 (rank 10) is trimmed. C vs A: all M = 0 -> factor 1.
    raw = np.array([1.0, 0.1, 1.0])
    expected = raw / 0.1 ** (1 / 3)
    factors = tmm_factors(counts)
    np.testing.assert_allclose(factors, expected, rtol=1e-14)
    cpm = tmm_cpm(counts, factors, counts.sum())
    np.testing.assert_allclose(cpm.iloc[:9]["A"], cpm.iloc[:9]["B"], rtol=1e-14)
    np.testing.assert_allclose(cpm.iloc[:9]["A"], cpm.iloc[:9]["C"], rtol=1e-14)
    # Raw CPM would put gene 1 at 1e5 in A and 1e4 in B; TMM puts both at 1e6 * 10 / (100 * fA).
    assert cpm.iloc[0]["A"] == pytest.approx(1e6 * 10 / (100 * expected[0]), rel=1e-14)


def test_tmm_weighted_trimmed_mean_by_hand():
    # Two libraries of 100 reads, 4 genes, reference = column 0.
    ref = [40.0, 25.0, 20.0, 15.0]
    obs = [5.0, 30.0, 33.0, 32.0]
    # M values: log2(5/40) = -3, log2(30/25), log2(33/20), log2(32/15): ranks 1..4.
    # n = 4: keep ranks in [floor(4 * 0.3) + 1, 4 + 1 - 2] = [2, 3] -> genes 2 and 3;
    # A-trim keeps ranks [floor(4 * 0.05) + 1, 4] = all.
    m2, m3 = math.log2(30 / 25), math.log2(33 / 20)
    # Weights 1/v, v = (N_obs - obs)/N_obs/obs + (N_ref - ref)/N_ref/ref.
    v2 = 70 / 100 / 30 + 75 / 100 / 25
    v3 = 67 / 100 / 33 + 80 / 100 / 20
    m_bar = (m2 / v2 + m3 / v3) / (1 / v2 + 1 / v3)
    # Raw factors (1, 2^m_bar), scaled to geometric mean 1.
    expected = [2 ** (-m_bar / 2), 2 ** (m_bar / 2)]
    counts = pd.DataFrame({"ref": ref, "obs": obs})
    np.testing.assert_allclose(tmm_factors(counts, ref_column=0), expected, rtol=1e-13)
    # With two libraries the choice of reference does not matter.
    np.testing.assert_allclose(tmm_factors(counts), expected, rtol=1e-13)
    np.testing.assert_allclose(tmm_factors(counts, ref_column=1), expected, rtol=1e-13)
    # Without weighting: the plain mean of the kept M values.
    m_mean = (m2 + m3) / 2
    np.testing.assert_allclose(
        tmm_factors(counts, ref_column=0, do_weighting=False),
        [2 ** (-m_mean / 2), 2 ** (m_mean / 2)],
        rtol=1e-13,
    )


def test_tmm_rejects_empty_library_and_na():
    with pytest.raises(KgpexError, match="library S2 has no counts"):
        tmm_factors(pd.DataFrame({"S1": [1.0, 2.0], "S2": [0.0, 0.0]}))
    with pytest.raises(KgpexError, match="NA"):
        tmm_factors(pd.DataFrame({"S1": [1.0, np.nan], "S2": [1.0, 2.0]}))


# ----------------------------------------------------------------------------- TMM against edgeR


@pytest.fixture(scope="module")
def edger():
    """R edgeR through rpy2 (Debian r-bioc-edger; installed by `make setup`)."""
    ro = pytest.importorskip("rpy2.robjects")
    from rpy2.robjects import numpy2ri
    from rpy2.robjects.packages import importr

    r_edger = importr("edgeR")
    converter = ro.default_converter + numpy2ri.converter
    dgelist_cpm = ro.r("function(x, f) edgeR::cpm(edgeR::DGEList(counts = x, norm.factors = f))")

    class EdgeR:
        def calc_norm_factors(self, x, **kwargs):
            with converter.context():
                return np.asarray(r_edger.calcNormFactors(x, **kwargs), dtype=float)

        def cpm(self, x, norm_factors):
            with converter.context():
                return np.asarray(dgelist_cpm(x, norm_factors), dtype=float)

    return EdgeR()


def _nb_counts(rng, genes, samples, integer=True):
    mean = rng.lognormal(2.0, 2.0, size=genes)[:, None] * rng.lognormal(0, 0.4, size=samples)
    disp = 0.3
    x = rng.negative_binomial(1 / disp, 1 / (1 + mean * disp)).astype(float)
    if not integer:  # salmon's NumReads are fractional
        x = x + np.round(rng.random(x.shape), 3) * (x > 0)
    return x


@pytest.mark.parametrize("seed", range(6))
def test_tmm_matches_edger(edger, seed):
    rng = np.random.default_rng(seed)
    samples = [2, 3, 7, 12, 25, 40][seed]
    x = _nb_counts(rng, 600, samples, integer=seed % 2 == 0)
    x[:7] = 0  # all-zero genes, dropped by edgeR
    x[rng.integers(0, 600, 30), rng.integers(0, samples, 30)] = 0
    ours = tmm_factors(x)
    theirs = edger.calc_norm_factors(x)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)
    # cpm(DGEList): counts / (colSums * norm.factors) * 1e6
    np.testing.assert_allclose(
        tmm_cpm(x, ours, x.sum(axis=0)), edger.cpm(x, theirs), rtol=1e-12
    )


def test_tmm_matches_edger_options_and_degenerate_cases(edger):
    rng = np.random.default_rng(99)
    x = _nb_counts(rng, 300, 6)
    for kwargs, rkwargs in [
        ({"do_weighting": False}, {"doWeighting": False}),
        ({"logratio_trim": 0.2, "sum_trim": 0.1}, {"logratioTrim": 0.2, "sumTrim": 0.1}),
        ({"a_cutoff": -15.0}, {"Acutoff": -15.0}),
        ({"ref_column": 4}, {"refColumn": 5}),
    ]:
        np.testing.assert_allclose(
            tmm_factors(x, **kwargs), edger.calc_norm_factors(x, **rkwargs), rtol=1e-12
        )
    # Identical libraries; heavy ties in small counts; libraries sharing no expressed gene.
    same = np.repeat(_nb_counts(rng, 200, 1), 4, axis=1)
    ties = rng.integers(0, 4, size=(200, 5)).astype(float)
    disjoint = np.zeros((40, 3))
    disjoint[:20, 0] = disjoint[20:, 1] = rng.integers(1, 50, 20)
    disjoint[::2, 2] = rng.integers(1, 50, 20)
    # Upper quartiles all zero (mostly-zero libraries): edgeR's reference is then the library
    # with the largest sum of square-root counts, here the last one.
    sparse = np.zeros((120, 5))
    sparse[np.arange(120), np.arange(120) % 5] = rng.integers(1, 30, 120)
    sparse[:60, 4] += rng.integers(1, 30, 60)
    for m in (same, ties, disjoint, sparse):
        np.testing.assert_allclose(tmm_factors(m), edger.calc_norm_factors(m), rtol=1e-12)


def test_tmm_agrees_with_pyqtl_on_ordinary_data():
    qtl_norm = pytest.importorskip("qtl.norm")
    x = _nb_counts(np.random.default_rng(5), 500, 9)
    np.testing.assert_allclose(
        tmm_factors(x), qtl_norm.edger_calcnormfactors(pd.DataFrame(x)), rtol=1e-12
    )


# ----------------------------------------------------------------------------- inverse normal


def test_inverse_normal_transform_with_ties():
    df = pd.DataFrame(
        [[5.0, 1.0, 3.0, 3.0, 9.0], [2.0, 2.0, 2.0, 2.0, 2.0], [0.1, 0.4, 0.3, 0.2, 0.5]],
        index=["g1", "g2", "g3"],
        columns=list("ABCDE"),
    )
    out = inverse_normal_transform(df)
    for gene in df.index:
        ranks = stats.rankdata(df.loc[gene].to_numpy(), method="average")
        np.testing.assert_allclose(out.loc[gene], stats.norm.ppf(ranks / 6), rtol=0, atol=1e-15)
    # Ties share a value: C and D of g1; all of g2 (rank 3 of 5 -> qnorm(0.5) = 0).
    assert out.loc["g1", "C"] == out.loc["g1", "D"]
    np.testing.assert_array_equal(out.loc["g2"], 0.0)
    # qnorm(rank/(n+1)) by hand for g3: ranks 1, 4, 3, 2, 5.
    np.testing.assert_allclose(
        out.loc["g3"], stats.norm.ppf(np.array([1, 4, 3, 2, 5]) / 6), atol=1e-15
    )
    assert list(out.columns) == list("ABCDE") and list(out.index) == ["g1", "g2", "g3"]


# ----------------------------------------------------------------------------- gene filter


def test_min_samples_required():
    assert min_samples_required(0.2, 10) == 2
    assert min_samples_required(0.2, 15) == 3  # 3/15 is exactly 20%
    assert min_samples_required(0.2, 11) == 3
    assert min_samples_required(0.2, 731) == 147  # MAGE
    assert min_samples_required(0.0, 10) == 0
    assert min_samples_required(1.0, 10) == 10


def _filter_case(tpm_rows, count_rows):
    cols = [f"S{i}" for i in range(10)]
    idx = [f"g{i}" for i in range(len(tpm_rows))]
    return (
        pd.DataFrame(tpm_rows, index=idx, columns=cols, dtype=float),
        pd.DataFrame(count_rows, index=idx, columns=cols, dtype=float),
    )


def test_filter_at_its_thresholds():
    # 10 samples: a gene must reach the thresholds in >= 2 samples (20%).
    lo = [0.0] * 8
    tpm, counts = _filter_case(
        [
            [0.1, 0.1] + lo,  # g0: exactly 0.1 TPM and 6 counts in exactly 2 samples: kept
            [0.1] + [0.0] * 9,  # g1: only 1 sample (10%): dropped
            [0.1, 0.09999999] + lo,  # g2: second sample just under 0.1 TPM: dropped
            [0.1, 0.1] + lo,  # g3: second sample 5.999 counts: dropped
            [0.1, 0.1] + lo,  # g4: TPM in S0,S1; counts in S8,S9 (each in 20%): kept (MAGE/GTEx)
            [50.0] * 10,  # g5: high TPM, 5 counts everywhere: dropped
        ],
        [
            [6, 6] + lo,
            [6] * 10,
            [6, 6] + lo,
            [6, 5.999] + lo,
            lo + [6, 6],
            [5] * 10,
        ],
    )
    out = expression_filter(tpm, counts, 0.1, 6, 0.2)
    assert out["keep"].tolist() == [True, False, False, False, True, False]
    assert out["pass_tpm"].tolist() == [True, False, False, True, True, True]
    assert out["pass_counts"].tolist() == [True, True, True, False, True, False]
    assert out["n_samples_tpm"].tolist() == [2, 1, 1, 2, 2, 10]
    # A stricter fraction (30% -> 3 samples) drops g0.
    assert not expression_filter(tpm, counts, 0.1, 6, 0.3).loc["g0", "keep"]


def test_filter_rejects_mismatched_matrices():
    tpm, counts = _filter_case([[1.0] * 10], [[10.0] * 10])
    with pytest.raises(KgpexError, match="different genes or samples"):
        expression_filter(tpm, counts.rename(columns={"S0": "X"}))
