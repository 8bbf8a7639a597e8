"""Rules fastqtl_permutations_chunk and fastqtl_nominal_chunk: one checked FastQTL chunk (and
their sQTL forms, fastqtl_sqtl_*_chunk: with input.groups the permutation pass is FastQTL --grp,
one test per gene over its introns)."""

import _bootstrap  # noqa: F401

from kgpex.common.rulescript import run
from kgpex.fastqtl.run import run_chunk


def main(snakemake):
    p = snakemake.params
    # Snakemake's scatter item "i-of-N" is FastQTL's --chunk i N.
    chunk, n_chunks = (int(part) for part in snakemake.wildcards.scatteritem.split("-of-"))
    run_chunk(
        p.mode,
        snakemake.input.vcf,
        snakemake.input.bed,
        snakemake.input.covariates,
        snakemake.output[0],
        snakemake.log.fastqtl,
        chunk=chunk,
        n_chunks=n_chunks,
        window=p.window,
        maf=p.maf,
        seed=p.seed,
        permute=p.permute,
        # Namedlist: `in` would test the values, not the names.
        groups=snakemake.input.groups if "groups" in snakemake.input.keys() else None,  # noqa: SIM118
    )


run(main, snakemake)  # noqa: F821
