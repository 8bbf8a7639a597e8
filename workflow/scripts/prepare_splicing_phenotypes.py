"""Rule prepare_splicing_phenotypes: MAGE's filter_quants.py on LeafCutter's per-library counts
(kgpex.splicing.phenotypes): the kept library of each individual (select_libraries), MAGE's
filters, LeafCutter's normalisation, introns mapped to genes -> the intron phenotype BED at each
gene's TSS, the intron -> gene groups, and the filtered raw counts."""

import logging

import _bootstrap  # noqa: F401

from kgpex.common.rulescript import run
from kgpex.expression.libraries import read_library_choice
from kgpex.reference.genes import read_genes
from kgpex.splicing.clusters import library_name
from kgpex.splicing.phenotypes import splicing_phenotypes

log = logging.getLogger("kgpex")


def main(snakemake):
    inputs, out = snakemake.input, snakemake.output
    choice = read_library_choice(inputs.choice)
    # perind columns are named after the junction files: {library}.Aligned.sortedByCoord.out.bam
    libraries = {
        library_name(f"{library}.Aligned.sortedByCoord.out.bam.junc"): individual
        for individual, library in zip(choice["individual"], choice["library"])
    }
    summary = splicing_phenotypes(inputs.counts, libraries, inputs.gtf, read_genes(inputs.genes),
                                  out.bed, out.groups, out.filtered_counts,
                                  snakemake.params.pct_cutoff)
    log.info("splicing phenotypes: %s", ", ".join(f"{k} {v}" for k, v in summary.items()))


run(main, snakemake)  # noqa: F821
