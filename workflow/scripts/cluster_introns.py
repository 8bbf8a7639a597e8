"""Rule cluster_introns: LeafCutter's clustering of every library's junctions
(kgpex.splicing.clusters), as MAGE ran leafcutter_cluster_regtools.py -m 50 -l 500000."""

import logging

import _bootstrap  # noqa: F401

from kgpex.common.rulescript import run
from kgpex.splicing.clusters import cluster_introns

log = logging.getLogger("kgpex")


def main(snakemake):
    p = snakemake.params
    summary = cluster_introns(list(snakemake.input.junctions), snakemake.output.counts,
                              p.min_reads, p.max_intron, p.min_ratio)
    log.info("%(libraries)d libraries: %(pooled_introns)d pooled introns, %(initial_clusters)d "
             "initial clusters, %(clusters)d clusters of %(introns)d introns", summary)


run(main, snakemake)  # noqa: F821
