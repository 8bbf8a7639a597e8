"""tensorQTL nominal pass for one chromosome -> every cis variant-gene pair (parquet)."""

import _bootstrap  # noqa: F401

from kgpex.rulescript import run


def main(snakemake):
    from kgpex import qtl
    from kgpex.io import write_parquet

    qtl.configure_torch(snakemake.threads)
    p = snakemake.params
    inputs = qtl.load_inputs(snakemake.input.phenotypes, snakemake.input.covariates,
                             qtl.pgen_prefix(snakemake.input.pgen), snakemake.wildcards.chrom)
    pairs = qtl.map_nominal(inputs, p.window, p.maf)
    write_parquet(pairs, snakemake.output.pairs)


run(main, snakemake)  # noqa: F821
