"""kgpex: reprocess 1000 Genomes RNA-seq into MAGE-style expression and cis-eQTL results.

The Snakemake workflow is glue; the logic lives here, one module per concern, each unit-tested.
"""

__version__ = "0.1.0"
