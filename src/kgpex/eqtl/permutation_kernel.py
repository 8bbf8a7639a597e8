"""A faster drop-in for tensorQTL 1.0.10's ``cis.calculate_cis_permutations``, the kernel of
its permutation pass (``map_cis``) and of ``map_independent``.

tensorQTL correlates a gene's V cis variants with its P permuted phenotypes as a V x P matrix,
then squares it, drops variants whose row holds a NaN, and takes the maximum over variants for
each permutation. On the CPU the passes after the product cost more than the product itself:
the square, the NaN test and the row selection each write a V x P copy, and the maximum runs
down the matrix's strided axis (500 samples, 5,000 variants, 10,000 permutations: 0.24 s for
the product, 0.45 s after it; benchmarks/mapper_speed.py).

Here the same correlations are computed as the P x V matrix (the same product, transposed), so
each permutation's variants lie contiguous, and the maximum r² is taken as the larger square of
the row's minimum and maximum (``torch.aminmax``), with no copy. A variant row is NaN exactly
when its residualised genotypes have no variance, and then NaN in every column; those columns
are dropped as tensorQTL drops the rows. The nominal part is tensorQTL's own code. Both return
the same values; ``tests/test_permutation_kernel.py`` holds this one to tensorQTL's.

Used only with the tensorQTL release it was checked against (``CHECKED_VERSION``); with any
other, tensorQTL's own function runs.
"""

from __future__ import annotations

import contextlib
import logging

log = logging.getLogger(__name__)

CHECKED_VERSION = "1.0.10"


def calculate_cis_permutations(genotypes_t, phenotype_t, permutation_ix_t, residualizer=None,
                               random_tiebreak=False):
    """tensorQTL's signature and return value: (r_nominal, std_ratio, index of the top variant,
    maximum r² of each permutation, the top variant's genotypes)."""
    import torch
    from tensorqtl import core

    permutations_t = phenotype_t[permutation_ix_t]
    # The nominal correlations, as tensorQTL computes them.
    r_nominal_t, genotype_var_t, phenotype_var_t = core.calculate_corr(
        genotypes_t, phenotype_t.reshape(1, -1), residualizer=residualizer, return_var=True
    )
    std_ratio_t = torch.sqrt(phenotype_var_t.reshape(1, -1) / genotype_var_t.reshape(-1, 1))
    r_nominal_t = r_nominal_t.squeeze(dim=-1)
    std_ratio_t = std_ratio_t.squeeze(dim=-1)

    # The permutation correlations, permutations x variants.
    if residualizer is not None:
        genotype_res_t = residualizer.transform(genotypes_t)
        permutation_res_t = residualizer.transform(permutations_t)
    else:
        genotype_res_t, permutation_res_t = genotypes_t, permutations_t
    corr_t = torch.mm(
        core.center_normalize(permutation_res_t, dim=1),
        core.center_normalize(genotype_res_t, dim=1).t(),
    )
    # NaN comes in whole variant columns (no residual variance) or everywhere (none in the
    # phenotype): the first permutation's row shows which.
    usable = ~torch.isnan(corr_t[0])
    if not bool(usable.all()):
        corr_t = corr_t[:, usable]
    if corr_t.shape[1] == 0:
        raise ValueError("All correlations resulted in NaN. Please check phenotype values.")
    low_t, high_t = torch.aminmax(corr_t, dim=1)
    r2_perm_t = torch.maximum(low_t * low_t, high_t * high_t)

    r2_nominal_t = r_nominal_t.pow(2)
    r2_nominal_t[torch.isnan(r2_nominal_t)] = -1  # as tensorQTL: nanargmax
    if not random_tiebreak:
        ix = r2_nominal_t.argmax()
    else:
        ix = torch.nonzero(r2_nominal_t == r2_nominal_t.max(), as_tuple=True)[0]
        ix = ix[torch.randint(0, len(ix), [1])[0]]
    return r_nominal_t[ix], std_ratio_t[ix], ix, r2_perm_t, genotypes_t[ix]


@contextlib.contextmanager
def fast_permutations():
    """Within the block, tensorQTL's cis passes use ``calculate_cis_permutations`` above
    (tensorQTL ``CHECKED_VERSION`` only); tensorQTL's own function is restored after."""
    import tensorqtl
    from tensorqtl import cis

    version = getattr(tensorqtl, "__version__", None)
    if version != CHECKED_VERSION:
        log.info("tensorQTL %s: its own permutation kernel (this one is checked against %s)",
                 version, CHECKED_VERSION)
        yield
        return
    original = cis.calculate_cis_permutations
    cis.calculate_cis_permutations = calculate_cis_permutations
    try:
        yield
    finally:
        cis.calculate_cis_permutations = original
