"""tensorQTL permutation pass for one chromosome -> the shared cis table (no q-values yet)."""

import _bootstrap  # noqa: F401

from kgpex.rulescript import run


def main(snakemake):
    from kgpex import qtl
    from kgpex.io import write_table

    qtl.configure_torch(snakemake.threads)
    p = snakemake.params
    inputs = qtl.load_inputs(snakemake.input.phenotypes, snakemake.input.covariates,
                             qtl.pgen_prefix(snakemake.input.pgen), snakemake.wildcards.chrom)
    table = qtl.map_permutations(inputs, p.window, p.maf, p.permutations, p.seed)
    write_table(table, snakemake.output.table, index=False, na_rep="NA")


run(main, snakemake)  # noqa: F821
