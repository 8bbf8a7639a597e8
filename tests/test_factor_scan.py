"""kgpex.eqtl.factor_scan: eGenes of one chromosome against the number of hidden factors."""

from __future__ import annotations

import gzip
import logging

import numpy as np
import pandas as pd
import pytest
from eqtl_synthetic import write_pgen

from kgpex.common.errors import KgpexError
from kgpex.eqtl import factor_scan

N_SAMPLES = 120
N_CHROM_GENES = 130  # on chr21, the scanned chromosome
N_OTHER_GENES = 20  # on chr22: they shape the factors but are not scanned
N_GENOTYPE_PCS = 5
WINDOW = 50_000
# 120 samples - 3 - (5 genotype PCs + sex): the most hidden factors that leave one residual dof.
LIMIT = N_SAMPLES - 3 - (N_GENOTYPE_PCS + 1)


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    """Expression = noise + planted cis effects (every other chr21 gene) + 3 strong hidden
    factors loading on every gene, so the factors hide the cis signal until they are covariates."""
    root = tmp_path_factory.mktemp("factor_scan")
    rng = np.random.default_rng(11)
    samples = [f"HG{i:05d}" for i in range(100, 100 + N_SAMPLES)]
    tss = 200_000 + np.arange(N_CHROM_GENES) * 4 * WINDOW
    # Four variants in each gene's window, none shared.
    positions = (tss[:, None] + np.array([-20_000, -5_000, 5_000, 20_000])).ravel()
    n_variants = len(positions)
    dosages = rng.binomial(2, rng.uniform(0.15, 0.5, n_variants)[:, None],
                           size=(n_variants, N_SAMPLES))
    refs = np.array(["A"] * n_variants)
    alts = np.array(["G"] * n_variants)
    write_pgen(root / "chr21", "chr21", positions, refs, alts, samples, dosages)

    n_genes = N_CHROM_GENES + N_OTHER_GENES
    hidden = rng.normal(size=(3, N_SAMPLES))
    loadings = rng.normal(scale=2.0, size=(n_genes, 3))
    expr = rng.normal(size=(n_genes, N_SAMPLES)) + loadings @ hidden
    for k in range(0, N_CHROM_GENES, 2):
        g = dosages[4 * k + 1].astype(float)
        expr[k] += 0.6 * (g - g.mean()) / g.std()
    chroms = ["chr21"] * N_CHROM_GENES + ["chr22"] * N_OTHER_GENES
    ends = np.concatenate([tss, 200_000 + np.arange(N_OTHER_GENES) * 100_000])
    bed = pd.DataFrame({"#Chr": chroms, "start": ends - 1, "end": ends,
                        "ID": [f"ENSG{i:011d}.1" for i in range(n_genes)]})
    bed = pd.concat([bed, pd.DataFrame(expr, columns=samples)], axis=1)
    bed.to_csv(root / "expression.bed.gz", sep="\t", index=False, compression="gzip")

    pcs = pd.DataFrame(rng.normal(size=(N_SAMPLES, N_GENOTYPE_PCS)), index=samples,
                       columns=[f"PC{i}" for i in range(1, N_GENOTYPE_PCS + 1)])
    pcs.rename_axis("sample_id").to_csv(root / "genotype_pcs.tsv", sep="\t")
    individuals = {s: {"individual": s, "sex": ("male", "female")[i % 2]}
                   for i, s in enumerate(samples)}
    return root, individuals


def scan(cohort, counts, nperm=100, qvalue_lambda=None):
    root, individuals = cohort
    return factor_scan.scan_hidden_factor_counts(
        root / "expression.bed.gz", str(root / "chr21"), "chr21", root / "genotype_pcs.tsv",
        N_GENOTYPE_PCS, individuals, "individuals.tsv", counts, window=WINDOW, maf=0.01,
        nperm=nperm, seed=1, fdr=0.05, qvalue_lambda=qvalue_lambda)


@pytest.fixture(scope="module")
def table(cohort):
    # A fixed lambda (config eqtl.qvalue_lambda): qvalue's default smoother puts pi0 anywhere
    # from 0.16 to 0.4 for these 130 genes, half of them planted, and the counts with it.
    return scan(cohort, [8, 0, 3, 1, LIMIT + 1, 3], qvalue_lambda=0.5)


def test_egenes_rise_to_the_planted_factors_then_stay_flat(table):
    egenes = table.set_index("n_factors")["egenes"]
    # Without the factors, their variance hides most planted effects.
    assert egenes[0] < 0.5 * egenes[3]
    assert egenes[1] < egenes[3]
    # 65 planted eGenes on chr21: nearly all are found once the 3 factors are covariates, and
    # more factors (noise PCs) neither add nor lose many.
    assert egenes[3] >= 55
    assert abs(egenes[8] - egenes[3]) <= 6


def test_table_has_the_allowed_counts_sorted_and_one_chromosome(table):
    assert list(table.columns) == ["n_factors", "genes_tested", "egenes"]
    assert table["n_factors"].tolist() == [0, 1, 3, 8]
    # Every chr21 gene has variants in its window; chr22's genes are not scanned.
    assert (table["genes_tested"] == N_CHROM_GENES).all()


# One residual dof at LIMIT: tensorQTL's beta fit warns, and still gives p-values.
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_count_beyond_the_residual_dof_is_skipped_with_a_log_line(cohort, caplog):
    with caplog.at_level(logging.WARNING, logger="kgpex.eqtl.factor_scan"):
        out = scan(cohort, [LIMIT, LIMIT + 1, LIMIT + 5], nperm=100)
    assert out["n_factors"].tolist() == [LIMIT]
    assert any(f"{LIMIT + 1} hidden factors skipped" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("bad", [[], [-1], [2.5], [True]])
def test_bad_counts_named(bad):
    with pytest.raises(KgpexError, match="factor_scan.counts"):
        factor_scan.check_counts(bad)


def test_chromosome_without_genes_is_an_error(cohort):
    root, individuals = cohort
    with pytest.raises(KgpexError, match="no gene on chr1,"):
        factor_scan.scan_hidden_factor_counts(
            root / "expression.bed.gz", str(root / "chr21"), "chr1", root / "genotype_pcs.tsv",
            N_GENOTYPE_PCS, individuals, "individuals.tsv", [0], window=WINDOW, maf=0.01,
            nperm=100, seed=1, fdr=0.05)


def test_few_pvalues_fall_back_to_benjamini_hochberg(caplog):
    # Three p-values: qvalue cannot estimate pi0 with its default lambda grid.
    with caplog.at_level(logging.WARNING, logger="kgpex.eqtl.factor_scan"):
        assert factor_scan.count_egenes([1e-6, 0.5, 0.9], 0.05) == 1
    assert any("lambda=0" in r.getMessage() for r in caplog.records)
    assert factor_scan.count_egenes([], 0.05) == 0


def test_used_count_read_from_the_covariates_table(tmp_path):
    path = tmp_path / "eQTL_covariates.tab.gz"
    with gzip.open(path, "wt") as fh:
        fh.write("id\tA\tB\nPC1\t1\t2\nInvNorm_PC1\t1\t2\nInvNorm_PC2\t3\t1\nsex\t1\t2\n")
    assert factor_scan.used_factor_count(path) == 2
    with gzip.open(path, "wt") as fh:
        fh.write("id\tA\tB\nPC1\t1\t2\nsex\t1\t2\n")
    assert factor_scan.used_factor_count(path) == 0


def test_table_and_plot_written(table, tmp_path):
    factor_scan.write_factor_scan(table, tmp_path / "scan.tsv")
    back = pd.read_csv(tmp_path / "scan.tsv", sep="\t")
    pd.testing.assert_frame_equal(back, table)
    factor_scan.plot_factor_scan(table, 3, 0.05, "chr21", 100, tmp_path / "plots" / "scan.png")
    assert (tmp_path / "plots" / "scan.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in (tmp_path / "plots").iterdir()] == ["scan.png"]
