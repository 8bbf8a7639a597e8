"""kgpex.eqtl.permutation_kernel against tensorQTL's own calculate_cis_permutations: the same
values from the kernel, and the same gene table from map_cis, on random inputs with a variant
of no variance among them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")
tensorqtl = pytest.importorskip("tensorqtl")

from tensorqtl import cis, core

from kgpex.eqtl import permutation_kernel

ORIGINAL = cis.calculate_cis_permutations


def kernel_inputs(seed: int, n_samples=120, n_variants=300, n_perm=2000, constant_rows=(7,)):
    gen = torch.Generator().manual_seed(seed)
    genotypes = torch.randint(0, 3, (n_variants, n_samples), generator=gen).float()
    for row in constant_rows:
        genotypes[row] = 1.0  # no variance: NaN correlations, dropped
    phenotype = torch.randn(n_samples, generator=gen) + 0.4 * genotypes[11]
    perm_ix = torch.stack([torch.randperm(n_samples, generator=gen) for _ in range(n_perm)])
    covariates = torch.randn(n_samples, 6, generator=gen)
    return genotypes, phenotype, perm_ix, core.Residualizer(covariates)


@pytest.mark.parametrize("with_covariates", [True, False])
@pytest.mark.parametrize("constant_rows", [(7,), ()])
def test_the_kernel_returns_what_tensorqtl_returns(with_covariates, constant_rows):
    genotypes, phenotype, perm_ix, residualizer = kernel_inputs(3, constant_rows=constant_rows)
    residualizer = residualizer if with_covariates else None
    theirs = ORIGINAL(genotypes, phenotype, perm_ix, residualizer=residualizer)
    ours = permutation_kernel.calculate_cis_permutations(
        genotypes, phenotype, perm_ix, residualizer=residualizer
    )
    assert int(ours[2]) == int(theirs[2]) == 11  # the top variant: the planted one
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-9)
    assert ours[3].shape == (perm_ix.shape[0],)


def test_a_phenotype_without_variance_fails_as_in_tensorqtl():
    genotypes, _, perm_ix, _ = kernel_inputs(4)
    flat = torch.zeros(genotypes.shape[1])
    with pytest.raises(ValueError, match="All correlations resulted in NaN"):
        ORIGINAL(genotypes, flat, perm_ix)
    with pytest.raises(ValueError, match="All correlations resulted in NaN"):
        permutation_kernel.calculate_cis_permutations(genotypes, flat, perm_ix)


def test_random_tiebreak_picks_among_the_tied_top_variants():
    genotypes, phenotype, perm_ix, _ = kernel_inputs(5, constant_rows=())
    genotypes[40] = genotypes[11]  # a copy of the top variant
    torch.manual_seed(0)
    picks = {
        int(permutation_kernel.calculate_cis_permutations(
            genotypes, phenotype, perm_ix[:50], random_tiebreak=True)[2])
        for _ in range(30)
    }
    assert picks == {11, 40}


def synthetic_cis_set(seed: int, n_samples=150, n_genes=4, n_variants=400):
    rng = np.random.default_rng(seed)
    samples = [f"S{i:03d}" for i in range(n_samples)]
    pos = np.sort(rng.choice(np.arange(1, 3_000_000), n_variants, replace=False))
    ids = [f"chr1_{p}" for p in pos]
    dosages = rng.binomial(2, rng.uniform(0.2, 0.5, (n_variants, 1)), (n_variants, n_samples))
    dosages[5] = 0  # monomorphic: tensorQTL's MAF filter drops it
    genotype_df = pd.DataFrame(dosages.astype(np.float32), index=ids, columns=samples)
    variant_df = pd.DataFrame({"chrom": "chr1", "pos": pos}, index=ids)
    tss = np.linspace(500_000, 2_500_000, n_genes).astype(int)
    genes = [f"G{i}" for i in range(n_genes)]
    pheno = rng.normal(size=(n_genes, n_samples))
    pheno[0] += 1.0 * (dosages[np.searchsorted(pos, tss[0])] - 1)  # one eGene
    phenotype_df = pd.DataFrame(pheno, index=genes, columns=samples)
    pos_df = pd.DataFrame({"chr": "chr1", "pos": tss}, index=genes)
    covariates_df = pd.DataFrame(rng.normal(size=(n_samples, 3)), index=samples,
                                 columns=["PC1", "PC2", "PC3"])
    return genotype_df, variant_df, phenotype_df, pos_df, covariates_df


class _Quiet:
    def write(self, message: str) -> None:
        pass


def test_map_cis_writes_the_same_gene_table_with_either_kernel():
    genotype_df, variant_df, phenotype_df, pos_df, covariates_df = synthetic_cis_set(6)

    def run():
        return cis.map_cis(genotype_df, variant_df, phenotype_df, pos_df,
                           covariates_df=covariates_df, nperm=1000, window=1_000_000, seed=9,
                           logger=_Quiet(), verbose=False, warn_monomorphic=False)

    theirs = run()
    with permutation_kernel.fast_permutations():
        assert cis.calculate_cis_permutations is permutation_kernel.calculate_cis_permutations
        ours = run()
    assert cis.calculate_cis_permutations is ORIGINAL  # restored
    assert list(ours["variant_id"]) == list(theirs["variant_id"])
    pd.testing.assert_frame_equal(ours, theirs, rtol=1e-5, check_dtype=False)
    assert theirs.loc["G0", "pval_beta"] < 1e-3  # the planted eGene (1,000 permutations)


def test_another_tensorqtl_release_keeps_its_own_kernel(monkeypatch):
    monkeypatch.setattr(tensorqtl, "__version__", "1.0.11")
    with permutation_kernel.fast_permutations():
        assert cis.calculate_cis_permutations is ORIGINAL
