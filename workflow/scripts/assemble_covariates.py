"""Rule assemble_covariates: genotype PCs, hidden factors and sex -> eQTL_covariates.tab.gz."""

import _bootstrap  # noqa: F401

from kgpex.common.rulescript import run
from kgpex.covariates.assemble import assemble_covariates
from kgpex.samples.sheets import read_tsv


def main(snakemake):
    sheet = snakemake.input.individuals
    individuals = {row["individual"]: row for row in read_tsv(sheet)}
    assemble_covariates(
        snakemake.input.expression,
        snakemake.input.genotype_pcs,
        snakemake.params.n_genotype_pcs,
        snakemake.input.factors,
        individuals,
        sheet,
        snakemake.output.covariates,
    )


run(main, snakemake)  # noqa: F821
