"""import_covariates: the user's covariates (covariates.input) for the BED's samples, collinear
ones dropped, in MAGE's layout (kgpex.covariates.user)."""

import _bootstrap  # noqa: F401

from kgpex.common.rulescript import run
from kgpex.covariates.user import import_covariates


def main(snakemake):
    import_covariates(
        snakemake.input.expression,
        snakemake.input.covariates,
        snakemake.output.covariates,
        label=snakemake.params.source,
    )


run(main, snakemake)  # noqa: F821
