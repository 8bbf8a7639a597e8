"""Rule hidden_factors: PCs of the inverse-normal expression matrix (the PEER substitute)."""

import _bootstrap  # noqa: F401

from kgpex.common.rulescript import run
from kgpex.covariates.hidden_factors import hidden_factors


def main(snakemake):
    hidden_factors(
        snakemake.input.expression,
        snakemake.params.setting,
        snakemake.params.n_other_covariates,
        snakemake.output.factors,
        snakemake.output.variance,
        snakemake.output.plot,
    )


run(main, snakemake)  # noqa: F821
