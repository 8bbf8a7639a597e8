"""rsIDs of the cohort's variants from the configured dbSNP table (variant_id, rsid)."""

import _bootstrap  # noqa: F401

from kgpex.common.rulescript import run


def main(snakemake):
    import pandas as pd

    from kgpex.common.io import write_table
    from kgpex.eqtl import rsids as eqtl_rsids

    variant_ids = []
    for pvar in snakemake.input.pvars:
        ids = pd.read_csv(pvar, sep="\t", comment="#", header=None, usecols=[2], dtype=str)[2]
        variant_ids.extend(ids)
    rsids = eqtl_rsids.read_dbsnp(snakemake.input.dbsnp[0], variant_ids)
    write_table(rsids.rename_axis("variant_id").reset_index(), snakemake.output.rsids,
                index=False)


run(main, snakemake)  # noqa: F821
