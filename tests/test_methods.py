"""kgpex.common.methods: `methods: mage` sets MAGE's published settings over the config in one
switch; `methods: default` leaves the config as written."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from kgpex.common.config import validate_config
from kgpex.common.errors import KgpexError
from kgpex.common.methods import MAGE_METHODS, apply_methods

ROOT = Path(__file__).resolve().parents[1]


def demo_config(**top) -> dict:
    config = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    config.update(top)
    return validate_config(config)


def test_default_methods_leave_the_config_as_written():
    config = demo_config()
    assert config["methods"] == "default"
    before = copy.deepcopy(config)
    assert apply_methods(config) == before


def test_mage_methods_set_mages_settings_over_the_config():
    config = demo_config(methods="mage")
    assert config["covariates"]["hidden_factors"] == 10  # the demo's own value ...
    apply_methods(config)
    assert config["covariates"]["hidden_factors"] == 60  # ... replaced by MAGE's
    assert config["salmon"]["settings"] == "mage"  # salmon -l IU
    assert config["reference"]["decoys"] is False
    assert config["genotypes"]["pca"]["n_pcs"] == 20
    assert config["genotypes"]["pca"]["maf"] == 0.01
    assert config["genotypes"]["pca"]["n_covariate_pcs"] == 5
    assert config["genotypes"]["pca"]["indep_pairwise"] is None  # plink --pca, no LD pruning
    assert config["eqtl"]["mapper"] == "fastqtl"
    assert config["eqtl"]["fastqtl"]["permute"] == [1000, 10000]
    assert config["eqtl"]["fdr"] == 0.05
    assert (config["eqtl"]["window"], config["eqtl"]["maf"]) == (1_000_000, 0.01)
    # run_susie.R: susie_rss on the nominal z-scores and in-sample LD, L=10, 0.95, 0.5.
    assert config["eqtl"]["finemapping"] == {"method": "susier_rss", "L": 10, "coverage": 0.95,
                                             "min_abs_corr": 0.5}
    # Settings MAGE did not fix are left alone.
    assert config["eqtl"]["permutations"] == 10000 and config["cohort"] == "DEMO"


def test_mage_methods_give_a_config_the_schema_accepts():
    config = apply_methods(demo_config(methods="mage"))
    validate_config(config)
    # Lists are copied, so one config's edits cannot leak into the table or another config.
    config["eqtl"]["fastqtl"]["permute"].append(1)
    assert dict((k, v) for k, v in MAGE_METHODS)[("eqtl", "fastqtl", "permute")] == [1000, 10000]


def test_unknown_methods_are_rejected_by_the_schema_and_the_function():
    with pytest.raises(KgpexError, match="field 'methods': 'gtex' is not one of"):
        demo_config(methods="gtex")
    with pytest.raises(KgpexError, match="unknown methods 'gtex'"):
        apply_methods({"methods": "gtex"})
