"""tensorQTL nominal pass for one chromosome -> every cis variant-gene pair (parquet)."""

import _bootstrap  # noqa: F401

from kgpex.common.rulescript import run


def main(snakemake):
    from kgpex.common.io import write_parquet
    from kgpex.eqtl import cis as eqtl_cis
    from kgpex.eqtl import inputs as eqtl_inputs

    eqtl_inputs.configure_torch(snakemake.threads)
    p = snakemake.params
    inputs = eqtl_inputs.load_inputs(snakemake.input.phenotypes, snakemake.input.covariates,
                             eqtl_inputs.pgen_prefix(snakemake.input.pgen), snakemake.wildcards.chrom)
    pairs = eqtl_cis.map_nominal(inputs, p.window, p.maf)
    write_parquet(pairs, snakemake.output.pairs)


run(main, snakemake)  # noqa: F821
