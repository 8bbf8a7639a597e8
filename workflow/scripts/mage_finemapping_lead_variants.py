"""MAGE's fine-mapping lead hits (cs_lead_hit.py): one row per credible set, its highest-PIP
variant, from the significantAssociations table."""

import _bootstrap  # noqa: F401

from kgpex.common.rulescript import run


def main(snakemake):
    import pandas as pd

    from kgpex.common.io import write_table
    from kgpex.eqtl.mage_format import lead_variant_table

    significant = pd.read_csv(snakemake.input.significant_variants, sep="\t",
                              dtype={"variantChrom": str, "variantCredibleSet": str},
                              keep_default_na=False, na_values=[""])
    write_table(lead_variant_table(significant), snakemake.output.lead_variants, index=False,
                na_rep="NA")


run(main, snakemake)  # noqa: F821
