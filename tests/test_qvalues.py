"""kgpex.eqtl.qvalues: Storey q-values through R qvalue, nominal thresholds, loud failures."""

from __future__ import annotations

import sys
import types

import numpy as np
import pandas as pd
import pytest
import scipy.stats

from kgpex.common.errors import KgpexError
from kgpex.eqtl import qvalues


def cis_table(pvals, shape1=1.0, shape2=50.0) -> pd.DataFrame:
    n = len(pvals)
    return pd.DataFrame({
        "phenotype_id": [f"ENSG{i:011d}.1" for i in range(n)],
        "pval_beta": pvals, "pval_perm": pvals,
        "beta_shape1": np.full(n, shape1), "beta_shape2": np.linspace(shape2, 2 * shape2, n),
    })


def mixed_pvalues(n=300, n_signal=60, seed=3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.uniform(size=n - n_signal), rng.beta(0.05, 20, size=n_signal)])


def test_lambda_zero_is_benjamini_hochberg():
    p = mixed_pvalues()
    q, pi0 = qvalues.storey_qvalues(p, lambda_=0)
    assert pi0 == pytest.approx(1.0)
    np.testing.assert_allclose(q, scipy.stats.false_discovery_control(p, method="bh"),
                               rtol=1e-12)


def test_default_pi0_below_one_with_signal_and_qvalues_monotone():
    p = mixed_pvalues()
    q, pi0 = qvalues.storey_qvalues(p)
    assert 0.5 < pi0 < 0.95  # 80% of the p-values are null
    order = np.argsort(p)
    assert np.all(np.diff(q[order]) >= -1e-15)
    assert np.all(q <= scipy.stats.false_discovery_control(p, method="bh") + 1e-12)


def test_annotate_adds_qval_and_gtex_thresholds():
    p = mixed_pvalues()
    out = qvalues.annotate_qvalues(cis_table(p), fdr=0.05)
    signif = out["qval"] <= 0.05
    assert 0 < signif.sum() < len(out)
    midpoint = (out.loc[signif, "pval_beta"].max() + out.loc[~signif, "pval_beta"].min()) / 2
    expected = scipy.stats.beta.ppf(midpoint, out["beta_shape1"], out["beta_shape2"])
    np.testing.assert_allclose(out["pval_nominal_threshold"], expected)


def test_gene_without_pval_beta_keeps_na_and_others_are_corrected():
    p = mixed_pvalues()
    table = cis_table(p)
    table.loc[5, "pval_beta"] = np.nan
    out = qvalues.annotate_qvalues(table, fdr=0.05)
    assert np.isnan(out.loc[5, "qval"]) and np.isnan(out.loc[5, "pval_nominal_threshold"])
    expected, _ = qvalues.storey_qvalues(np.delete(p, 5))
    np.testing.assert_allclose(out["qval"].drop(index=5), expected)


def test_no_egene_gives_na_thresholds_but_qvalues():
    p = np.random.default_rng(1).uniform(0.2, 1, size=200)
    out = qvalues.annotate_qvalues(cis_table(p), fdr=0.05)
    assert out["qval"].notna().all()
    assert out["pval_nominal_threshold"].isna().all()


def test_r_failure_is_one_line_naming_the_config_key():
    # Few p-values and none above 0.95: qvalue's pi0 smoother gets NA values and stops.
    with pytest.raises(KgpexError, match="eqtl.qvalue_lambda") as err:
        qvalues.storey_qvalues(np.linspace(0.001, 0.9, 10))
    assert "\n" not in str(err.value)


def test_missing_rpy2_raises_instead_of_dropping_qval(monkeypatch):
    monkeypatch.setitem(sys.modules, "rpy2.robjects", None)  # import now raises ImportError
    with pytest.raises(KgpexError, match="rpy2"):
        qvalues.annotate_qvalues(cis_table(mixed_pvalues()), fdr=0.05)


def test_missing_r_package_qvalue_raises(monkeypatch):
    import rpy2.robjects  # noqa: F401  (the real one; only the package lookup fails)

    def importr(name):
        raise RuntimeError(f"there is no package called '{name}'")

    fake = types.ModuleType("rpy2.robjects.packages")
    fake.importr = importr
    monkeypatch.setitem(sys.modules, "rpy2.robjects.packages", fake)
    with pytest.raises(KgpexError, match="R package qvalue"):
        qvalues.storey_qvalues(mixed_pvalues())


@pytest.mark.parametrize("bad", [[0.1, np.nan], [0.1, 1.5], []])
def test_invalid_pvalues_rejected(bad):
    with pytest.raises(KgpexError):
        qvalues.storey_qvalues(bad)


def test_missing_column_rejected():
    with pytest.raises(KgpexError, match="beta_shape2"):
        qvalues.annotate_qvalues(cis_table([0.1, 0.2]).drop(columns="beta_shape2"), 0.05)


def test_fallback_to_bh_where_pi0_cannot_be_estimated():
    """The demo's 31 sQTL genes (pval_beta of a run with 15 hidden factors): qvalue's smoother
    fails on them; with fallback_bh the q-values are Benjamini-Hochberg's, without it the
    one-line error stays."""
    import pandas as pd
    from scipy.stats import false_discovery_control

    from kgpex.common.errors import KgpexError
    from kgpex.eqtl.qvalues import annotate_qvalues

    p = np.array([1e-9, 0.00015, 0.052769, 0.060519, 0.069807, 0.093922, 0.111988, 0.127783,
                  0.162927, 0.208996, 0.254829, 0.30969, 0.358704, 0.370286, 0.37902, 0.428457,
                  0.456174, 0.513113, 0.538385, 0.577279, 0.579172, 0.621803, 0.663934,
                  0.671147, 0.721696, 0.743882, 0.825383, 0.835509, 0.870742, 0.921079,
                  0.935361])
    cis = pd.DataFrame({"phenotype_id": [f"G{k}" for k in range(len(p))], "pval_beta": p,
                        "beta_shape1": 1.0, "beta_shape2": 1.0})
    with pytest.raises(KgpexError, match="qvalue failed"):
        annotate_qvalues(cis, 0.05)
    out = annotate_qvalues(cis, 0.05, fallback_bh=True)
    np.testing.assert_allclose(out["qval"], false_discovery_control(p), rtol=1e-6)
