"""tensorQTL permutation pass for one chromosome -> the shared cis table (no q-values yet)."""

import _bootstrap  # noqa: F401

from kgpex.common.rulescript import run


def main(snakemake):
    from kgpex.common.io import write_table
    from kgpex.eqtl import cis as eqtl_cis
    from kgpex.eqtl import inputs as eqtl_inputs

    eqtl_inputs.configure_torch(snakemake.threads)
    p = snakemake.params
    inputs = eqtl_inputs.load_inputs(snakemake.input.phenotypes, snakemake.input.covariates,
                             eqtl_inputs.pgen_prefix(snakemake.input.pgen), snakemake.wildcards.chrom)
    table = eqtl_cis.map_permutations(inputs, p.window, p.maf, p.permutations, p.seed)
    write_table(table, snakemake.output.table, index=False, na_rep="NA")


run(main, snakemake)  # noqa: F821
