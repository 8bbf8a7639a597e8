"""MAGE's fine-mapping lead hits (cs_lead_hit.py): one row per credible set, its highest-PIP
variant, from the significantAssociations table (kgpex.eqtl.mage_files)."""

import _bootstrap  # noqa: F401

from kgpex.common.rulescript import run
from kgpex.eqtl.mage_files import write_lead_variant_table


def main(snakemake):
    write_lead_variant_table(snakemake.input.significant_variants, snakemake.output.lead_variants)


run(main, snakemake)  # noqa: F821
