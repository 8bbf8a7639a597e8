"""Covariates stage on the demo cohort: MAGE's layout, joined by sample ID, sex from the sheet."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from kgpex.covariates.hidden_factors import gtex_hidden_factor_count
from kgpex.samples.sheets import read_tsv

ROOT = Path(__file__).resolve().parents[2]
CONFIG = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
TAG = f"{CONFIG['cohort']}.{CONFIG['release']}"

pytestmark = pytest.mark.e2e


def test_covariates_file_is_joined_by_sample_id(demo_run):
    quants = demo_run / "QTL_results" / "eQTL_results" / "expression_quants"
    path = quants / "eQTL_covariates.tab.gz"
    with gzip.open(path, "rt") as fh:
        header = fh.readline().rstrip("\n").split("\t")
    with gzip.open(quants / f"inverse_normal_TMM.filtered.TSS.{TAG}.bed.gz", "rt") as fh:
        samples = fh.readline().rstrip("\n").split("\t")[4:]
    assert header == ["id"] + sorted(samples)
    cov = pd.read_csv(path, sep="\t", index_col=0)
    n_pcs = CONFIG["genotypes"]["pca"]["n_covariate_pcs"]
    setting = CONFIG["covariates"]["hidden_factors"]
    n_factors = gtex_hidden_factor_count(len(samples)) if setting == "auto" else setting
    factors = [f"InvNorm_PC{i}" for i in range(1, n_factors + 1)]
    assert list(cov.index) == [f"PC{i}" for i in range(1, n_pcs + 1)] + factors + ["sex"]
    # Values follow the sample IDs of each source, whatever their row order.
    pcs = pd.read_csv(demo_run / "covariates" / "genotype_pcs.tsv", sep="\t", index_col="sample_id")
    assert np.allclose(cov.loc["PC2", sorted(samples)], pcs.loc[sorted(samples), "PC2"], rtol=1e-8)
    sheet = {row["individual"]: row["sex"] for row in read_tsv(ROOT / CONFIG["samples"]["individuals"])}
    expected_sex = [1 if sheet[s] == "male" else 2 for s in sorted(samples)]
    assert cov.loc["sex"].tolist() == expected_sex
    factor_table = pd.read_csv(
        demo_run / "covariates" / "hidden_factors.tsv", sep="\t", index_col=0
    )
    assert np.allclose(
        cov.loc[factors, sorted(samples)].T, factor_table.loc[sorted(samples), factors]
    )
    variance = pd.read_csv(demo_run / "covariates" / "hidden_factors.variance.tsv", sep="\t")
    assert variance["used"].sum() == n_factors
