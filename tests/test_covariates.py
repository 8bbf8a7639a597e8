"""kgpex.covariates: GTEx factor rule, expression PCs, join by sample ID, collinearity, layout."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest

from kgpex.common.errors import KgpexError
from kgpex.covariates import assemble
from kgpex.covariates import hidden_factors as covariates_hidden_factors


@pytest.mark.parametrize(
    ("n", "expected"),
    [(1, 15), (149, 15), (150, 30), (249, 30), (250, 45), (349, 45), (350, 60), (731, 60)],
)
def test_gtex_rule_boundaries(n, expected):
    assert covariates_hidden_factors.gtex_hidden_factor_count(n) == expected


def test_hidden_factor_count_auto_integer_and_clamps():
    assert covariates_hidden_factors.hidden_factor_count("auto", 400, 20000, 6) == 60
    assert covariates_hidden_factors.hidden_factor_count(7, 400, 20000, 6) == 7
    assert covariates_hidden_factors.hidden_factor_count(0, 400, 20000, 6) == 0
    # 12 genes allow at most 12 PCs.
    assert covariates_hidden_factors.hidden_factor_count("auto", 100, 12, 6) == 12
    # 20 samples, 6 other covariates: 20 - 3 - 6 = 11 keeps one residual dof.
    assert covariates_hidden_factors.hidden_factor_count("auto", 20, 5000, 6) == 11
    assert covariates_hidden_factors.hidden_factor_count(50, 20, 5000, 0) == 17


@pytest.mark.parametrize("bad", ["many", -1, 2.5, True])
def test_hidden_factor_count_rejects_bad_setting(bad):
    with pytest.raises(KgpexError, match="hidden_factors"):
        covariates_hidden_factors.hidden_factor_count(bad, 100, 100, 6)


def _samples(n):
    return [f"HG{i:05d}" for i in range(n)]


def _expression(rng, n_genes=200, n_samples=40):
    samples = _samples(n_samples)
    factor = rng.normal(size=n_samples)
    x = rng.normal(size=(n_genes, n_samples)) + np.outer(rng.normal(size=n_genes) * 2, factor)
    genes = [f"ENSG{i:011d}.1" for i in range(n_genes)]
    return pd.DataFrame(x, index=genes, columns=samples), factor


def test_expression_pcs_recover_a_planted_factor_and_are_deterministic():
    rng = np.random.default_rng(1)
    expr, factor = _expression(rng)
    factors, explained = covariates_hidden_factors.expression_pcs(expr, 5)
    assert list(factors.columns) == [f"InvNorm_PC{i}" for i in range(1, 6)]
    assert list(factors.index) == list(expr.columns)
    assert abs(np.corrcoef(factors["InvNorm_PC1"], factor)[0, 1]) > 0.95
    assert explained.sum() == pytest.approx(1.0)
    assert (np.diff(explained.to_numpy()) <= 1e-12).all()
    # PC scores are uncorrelated, and a gene order change gives the same factors.
    c = np.corrcoef(factors.to_numpy().T)
    assert np.allclose(c - np.diag(np.diag(c)), 0, atol=1e-8)
    again, _ = covariates_hidden_factors.expression_pcs(expr.iloc[::-1], 5)
    pd.testing.assert_frame_equal(factors, again, atol=1e-8)


def test_join_by_sample_ignores_row_order():
    rng = np.random.default_rng(2)
    samples = _samples(10)
    pcs = pd.DataFrame(rng.normal(size=(10, 2)), index=samples, columns=["PC1", "PC2"])
    sex = pd.DataFrame({"sex": rng.integers(1, 3, 10).astype(float)}, index=samples)
    ordered = assemble.join_by_sample(samples, {"pcs": pcs, "sheet": sex})
    shuffled = assemble.join_by_sample(
        samples, {"pcs": pcs.sample(frac=1, random_state=3), "sheet": sex.iloc[::-1]}
    )
    pd.testing.assert_frame_equal(ordered, shuffled)
    assert ordered.loc["HG00004", "PC2"] == pcs.loc["HG00004", "PC2"]


def test_join_by_sample_names_the_missing_sample_and_source():
    samples = _samples(4)
    pcs = pd.DataFrame({"PC1": [1.0, 2.0, 3.0]}, index=samples[:2] + samples[3:])
    with pytest.raises(KgpexError, match="genotype_pcs.tsv: sample HG00002 missing"):
        assemble.join_by_sample(samples, {"genotype_pcs.tsv": pcs})


def test_drop_collinear_drops_combinations_and_constants_in_order():
    rng = np.random.default_rng(4)
    n = 30
    df = pd.DataFrame({"PC1": rng.normal(size=n), "PC2": rng.normal(size=n)})
    df["InvNorm_PC1"] = 2 * df["PC1"] - df["PC2"] + 5
    df["InvNorm_PC2"] = rng.normal(size=n)
    df["sex"] = 1.0
    kept, dropped = assemble.drop_collinear(df)
    assert dropped == ["InvNorm_PC1", "sex"]
    assert list(kept.columns) == ["PC1", "PC2", "InvNorm_PC2"]
    # Nearly but not exactly collinear stays.
    df2 = df[["PC1", "PC2"]].assign(x=df["PC1"] + 1e-3 * rng.normal(size=n))
    assert assemble.drop_collinear(df2)[1] == []


def test_drop_collinear_more_covariates_than_samples():
    rng = np.random.default_rng(5)
    df = pd.DataFrame(rng.normal(size=(4, 6)), columns=list("abcdef"))
    kept, dropped = assemble.drop_collinear(df)
    assert list(kept.columns) == ["a", "b", "c"]  # centred: rank n - 1
    assert dropped == ["d", "e", "f"]


def _write_bed(expr: pd.DataFrame, path):
    bed = expr.copy()
    bed.insert(0, "ID", bed.index)
    bed.insert(0, "end", np.arange(1, len(bed) + 1) * 1000)
    bed.insert(0, "start", bed["end"] - 1)
    bed.insert(0, "#Chr", "chr22")
    bed.to_csv(path, sep="\t", index=False, compression="gzip")


def test_rules_write_mage_layout_joined_by_id(tmp_path):
    rng = np.random.default_rng(6)
    expr, _ = _expression(rng, n_genes=50, n_samples=25)
    expr = expr[sorted(expr.columns, reverse=True)]  # the BED's column order must not matter
    bed = tmp_path / "int.bed.gz"
    _write_bed(expr, bed)
    factors = covariates_hidden_factors.hidden_factors(
        bed, 3, 6, tmp_path / "hf.tsv", tmp_path / "hf.var.tsv", tmp_path / "hf.png"
    )
    assert factors.shape == (25, 3)
    assert (tmp_path / "hf.png").stat().st_size > 0
    variance = pd.read_csv(tmp_path / "hf.var.tsv", sep="\t")
    assert variance["used"].sum() == 3 and list(variance.columns) == [
        "factor",
        "variance_explained",
        "used",
    ]

    samples = sorted(expr.columns)
    pcs = pd.DataFrame(rng.normal(size=(27, 20)), columns=[f"PC{i}" for i in range(1, 21)])
    pcs.insert(0, "sample_id", samples + ["NA00001", "NA00002"])  # extra genotyped samples
    pcs.sample(frac=1, random_state=1).to_csv(tmp_path / "pcs.tsv", sep="\t", index=False)
    individuals = {
        s: {"individual": s, "sex": "male" if i % 3 else "female"} for i, s in enumerate(samples)
    }
    out = tmp_path / "eQTL_covariates.tab.gz"
    assemble.assemble_covariates(
        bed, tmp_path / "pcs.tsv", 5, tmp_path / "hf.tsv", individuals, "ind.tsv", out
    )

    with gzip.open(out, "rt") as fh:
        header = fh.readline().rstrip("\n").split("\t")
    assert header == ["id"] + samples
    table = pd.read_csv(out, sep="\t", index_col=0)
    assert list(table.index) == [
        "PC1",
        "PC2",
        "PC3",
        "PC4",
        "PC5",
        "InvNorm_PC1",
        "InvNorm_PC2",
        "InvNorm_PC3",
        "sex",
    ]
    assert table.loc["sex", samples[0]] == 2 and table.loc["sex", samples[1]] == 1
    pc_table = pcs.set_index("sample_id")
    assert np.allclose(table.loc["PC3", samples], pc_table.loc[samples, "PC3"], rtol=1e-9)
    assert np.allclose(
        table.loc["InvNorm_PC2", samples], factors.loc[samples, "InvNorm_PC2"], rtol=1e-8
    )
    back = pd.read_csv(out, sep="\t", dtype={"id": str}).set_index("id").T
    assert list(back.index) == samples and back.shape == (25, 9)


def test_assemble_fails_on_sample_without_sex(tmp_path):
    rng = np.random.default_rng(7)
    expr, _ = _expression(rng, n_genes=20, n_samples=8)
    bed = tmp_path / "int.bed.gz"
    _write_bed(expr, bed)
    covariates_hidden_factors.hidden_factors(bed, 2, 1, tmp_path / "hf.tsv", tmp_path / "hf.var.tsv")
    pcs = pd.DataFrame({"sample_id": expr.columns, "PC1": rng.normal(size=8)})
    pcs.to_csv(tmp_path / "pcs.tsv", sep="\t", index=False)
    individuals = {s: {"sex": "female"} for s in expr.columns[1:]}
    with pytest.raises(KgpexError, match=f"individuals.tsv: sample {expr.columns[0]} missing"):
        assemble.assemble_covariates(
            bed,
            tmp_path / "pcs.tsv",
            1,
            tmp_path / "hf.tsv",
            individuals,
            "individuals.tsv",
            tmp_path / "c.tab.gz",
        )
    assert not (tmp_path / "c.tab.gz").exists()


def test_genotype_pcs_first_k_or_what_is_there(tmp_path):
    table = pd.DataFrame({"sample_id": ["HG00001", "HG00002"], "PC1": [0.1, 0.2], "PC2": [1, 2],
                          "PC3": [3, 4]})  # fmt: skip
    table.to_csv(tmp_path / "p.tsv", sep="\t", index=False)
    assert list(assemble.genotype_pc_covariates(tmp_path / "p.tsv", 2).columns) == ["PC1", "PC2"]
    assert list(assemble.genotype_pc_covariates(tmp_path / "p.tsv", 5).columns) == ["PC1", "PC2", "PC3"]
    table.drop(columns="PC1").to_csv(tmp_path / "gap.tsv", sep="\t", index=False)
    with pytest.raises(KgpexError, match="without gaps"):
        assemble.genotype_pc_covariates(tmp_path / "gap.tsv", 2)


def test_bad_sex_value_is_named():
    with pytest.raises(KgpexError, match="HG00001: sex must be male or female"):
        assemble.sex_covariate({"HG00001": {"sex": "unknown"}}, "ind.tsv")
