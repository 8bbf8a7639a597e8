"""kgpex.eqtl (inputs, cis, finemapping) on a tiny synthetic cohort: input checks, tensorQTL
passes, SuSiE."""

from __future__ import annotations

import gzip
import shutil

import numpy as np
import pandas as pd
import pytest
from eqtl_synthetic import make_dataset

from kgpex.common.errors import KgpexError
from kgpex.eqtl import cis, qvalues, tables
from kgpex.eqtl import finemapping as eqtl_finemapping
from kgpex.eqtl import inputs as eqtl_inputs

WINDOW, MAF, NPERM, SEED = 100_000, 0.01, 200, 11
N_GENES = 30


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("eqtl"), n_genes=N_GENES, n_variants=500)


@pytest.fixture(scope="module")
def inputs(data):
    return eqtl_inputs.load_inputs(data.phenotype_bed, data.covariates, data.pgen_prefix, data.chrom)


@pytest.fixture(scope="module")
def mapped(inputs):
    perm = cis.map_permutations(inputs, WINDOW, MAF, NPERM, SEED)
    # Benjamini-Hochberg (lambda 0): qvalue's pi0 smoother is unreliable on 30 genes.
    return qvalues.annotate_qvalues(perm, fdr=0.05, lambda_=0)


@pytest.fixture(scope="module")
def nominal(inputs):
    return cis.map_nominal(inputs, WINDOW, MAF)


def dosages(data, variant_id):
    from tensorqtl import pgen

    reader = pgen.PgenReader(str(data.pgen_prefix))
    return reader.read(variant_id)


# --- input checks --------------------------------------------------------------------------


def rewrite_bed(src, dest, edit):
    df = pd.read_csv(src, sep="\t")
    edit(df)
    df.to_csv(dest, sep="\t", index=False)
    return dest


def test_bed_header_checked(data, tmp_path):
    bad = rewrite_bed(data.phenotype_bed, tmp_path / "bad.bed",
                      lambda df: df.rename(columns={"ID": "gene"}, inplace=True))
    with pytest.raises(KgpexError, match="#Chr start end ID"):
        eqtl_inputs.read_phenotype_bed(bad)


def test_bed_duplicate_gene_and_missing_value_named(data, tmp_path):
    def dup(df):
        df.loc[3, "ID"] = df.loc[2, "ID"]

    with pytest.raises(KgpexError, match="line 5: field ID"):
        eqtl_inputs.read_phenotype_bed(rewrite_bed(data.phenotype_bed, tmp_path / "dup.bed", dup))

    def hole(df):
        df.iloc[1, 6] = np.nan

    with pytest.raises(KgpexError, match="line 3: gene ENSG00000000002.1 has missing"):
        eqtl_inputs.read_phenotype_bed(rewrite_bed(data.phenotype_bed, tmp_path / "na.bed", hole))


def test_covariates_checked_and_constant_dropped(data, tmp_path):
    cov = pd.read_csv(data.covariates, sep="\t")
    missing = tmp_path / "missing.tab"
    cov.drop(columns=data.samples[4]).to_csv(missing, sep="\t", index=False)
    with pytest.raises(KgpexError, match=f"first {data.samples[4]}"):
        eqtl_inputs.read_covariates(missing, data.samples)
    constant = tmp_path / "constant.tab"
    cov.loc[cov["id"] == "sex", data.samples] = 1
    cov.to_csv(constant, sep="\t", index=False)
    out = eqtl_inputs.read_covariates(constant, list(reversed(data.samples)))
    assert list(out.columns) == ["PC1", "PC2"]
    assert list(out.index) == list(reversed(data.samples))  # rows follow the phenotype order
    text = tmp_path / "text.tab"
    cov[data.samples[0]] = cov[data.samples[0]].astype(object)
    cov.loc[cov["id"] == "PC1", data.samples[0]] = "male"
    cov.to_csv(text, sep="\t", index=False)
    with pytest.raises(KgpexError, match="'PC1' has missing or non-numeric"):
        eqtl_inputs.read_covariates(text, data.samples)


def test_sample_without_genotypes_named(data, tmp_path):
    prefix = tmp_path / "geno"
    for ext in (".pgen", ".pvar"):
        shutil.copy(f"{data.pgen_prefix}{ext}", f"{prefix}{ext}")
    psam = pd.read_csv(f"{data.pgen_prefix}.psam", sep="\t")
    psam.loc[0, "#IID"] = "NA99999"
    psam.to_csv(f"{prefix}.psam", sep="\t", index=False)
    with pytest.raises(KgpexError, match=f"geno.psam: no genotypes .* first {data.samples[0]}"):
        eqtl_inputs.load_inputs(data.phenotype_bed, data.covariates, prefix, data.chrom)


# --- permutation pass ----------------------------------------------------------------------


def test_permutation_table_layout_and_planted_genes(mapped, data):
    assert list(mapped.columns) == tables.CIS_COLUMNS + ["qval", "pval_nominal_threshold"]
    assert len(mapped) == N_GENES
    called = set(mapped.loc[mapped["qval"] <= 0.05, "phenotype_id"])
    assert set(data.causal) <= called
    # The monomorphic first variant is dropped, never the top variant.
    assert data.variant_ids[0] not in set(mapped["variant_id"])


def test_af_is_alt_allele_frequency_of_top_variant(mapped, data):
    row = mapped.iloc[0]
    g = dosages(data, row["variant_id"])
    assert row["af"] == pytest.approx(g.mean() / 2, abs=1e-6)
    maf = min(row["af"], 1 - row["af"])
    minor_carriers = (g > 0).sum() if row["af"] <= 0.5 else (g < 2).sum()
    assert row["ma_samples"] == minor_carriers and maf <= 0.5


def test_chromosome_without_genes_gives_empty_typed_table(data):
    inputs = eqtl_inputs.load_inputs(data.phenotype_bed, data.covariates, data.pgen_prefix, "chr22")
    out = cis.map_permutations(inputs, WINDOW, MAF, NPERM, SEED)
    assert out.empty and list(out.columns) == tables.CIS_COLUMNS


# --- nominal pass --------------------------------------------------------------------------


def test_nominal_pairs_match_permutation_pass(nominal, mapped):
    assert list(nominal.columns) == tables.NOMINAL_COLUMNS
    per_gene = nominal.groupby("phenotype_id").size()
    num_var = mapped.set_index("phenotype_id")["num_var"]
    pd.testing.assert_series_equal(per_gene.sort_index(), num_var.sort_index(),
                                   check_names=False, check_dtype=False)
    top = nominal.loc[nominal.groupby("phenotype_id")["pval_nominal"].idxmin()]
    top = top.set_index("phenotype_id").loc[mapped["phenotype_id"]]
    np.testing.assert_allclose(top["pval_nominal"], mapped["pval_nominal"], rtol=1e-3)


def test_samples_are_matched_by_id_not_position(data, nominal, tmp_path):
    bed = pd.read_csv(data.phenotype_bed, sep="\t")
    shuffled = list(bed.columns[:4]) + list(np.random.default_rng(0).permutation(data.samples))
    path = tmp_path / "shuffled.bed.gz"
    with gzip.open(path, "wt") as fh:
        bed[shuffled].to_csv(fh, sep="\t", index=False)
    inputs = eqtl_inputs.load_inputs(path, data.covariates, data.pgen_prefix, data.chrom)
    again = cis.map_nominal(inputs, WINDOW, MAF)
    np.testing.assert_allclose(again["pval_nominal"], nominal["pval_nominal"], rtol=1e-4)


# --- independent signals and fine-mapping ----------------------------------------------------


def test_independent_signals_of_two_variant_genes(inputs, mapped, data):
    res = cis.map_independent(inputs, mapped, 0.05, WINDOW, MAF, NPERM, SEED)
    assert list(res.columns) == tables.INDEPENDENT_COLUMNS
    assert set(res["phenotype_id"]) == set(mapped.loc[mapped["qval"] <= 0.05, "phenotype_id"])
    two = [g for g, v in data.causal.items() if len(v) == 2]
    found = res[res["phenotype_id"].isin(two)].groupby("phenotype_id")["variant_id"].apply(set)
    # Most genes with two planted variants show both as independent signals.
    hits = sum(len(found.get(g, set()) & set(data.causal[g])) == 2 for g in two)
    assert hits >= len(two) - 1


def test_independent_without_egenes_is_empty(inputs, mapped):
    none = mapped.assign(qval=1.0)
    out = cis.map_independent(inputs, none, 0.05, WINDOW, MAF, NPERM, SEED)
    assert out.empty and list(out.columns) == tables.INDEPENDENT_COLUMNS


def finemap(inputs, genes, method):
    return eqtl_finemapping.finemap_susie(inputs, genes, WINDOW, MAF, L=10, coverage=0.95, min_abs_corr=0.5,
                             seed=SEED, method=method)


def test_susier_credible_sets_hold_the_planted_variants(inputs, mapped, data):
    two = [g for g, v in data.causal.items() if len(v) == 2]
    unplanted = tables.egenes(mapped, 0.05).query("phenotype_id not in @data.causal")
    genes = two + list(unplanted["phenotype_id"][:2])
    pips, sets = finemap(inputs, genes, "susier")
    assert list(pips.columns) == tables.PIP_COLUMNS
    assert list(sets.columns) == tables.CREDIBLE_SET_COLUMNS
    assert set(pips["phenotype_id"]) == set(genes)  # PIPs kept for genes without a set too
    assert pips["pip"].between(0, 1).all()
    assert sets["cs_id"].str.fullmatch(r"L([1-9]|10)").all()
    assert (sets["coverage"] >= 0.95).all() and (sets["min_abs_corr"] >= 0.5).all()
    members = pips.dropna(subset=["cs_id"])
    in_sets = set(zip(members["phenotype_id"], members["variant_id"]))
    assert all((g, v) in in_sets for g in two for v in data.causal[g])
    # Set sizes agree with the membership recorded on the variants.
    sizes = members.assign(cs_id=members["cs_id"].str.split(",")).explode("cs_id")
    counted = sizes.groupby(["phenotype_id", "cs_id"]).size()
    recorded = sets.set_index(["phenotype_id", "cs_id"])["num_variants"]
    pd.testing.assert_series_equal(counted.sort_index(), recorded.sort_index(),
                                   check_names=False, check_dtype=False)


def test_tensorqtl_port_runs_and_names_sets_alike(inputs, data):
    genes = list(data.causal)[:3]
    pips, sets = finemap(inputs, genes, "tensorqtl")
    assert set(pips["phenotype_id"]) == set(genes)
    assert sets["cs_id"].str.fullmatch(r"L([1-9]|10)").all()
    assert (sets["coverage"] >= 0.95 - 1e-6).all()
    with pytest.raises(KgpexError, match="finemapping.method"):
        finemap(inputs, genes, "finemap")
