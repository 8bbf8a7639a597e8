"""genotype_pcs: PCs of common autosomal variants (LD-pruned unless genotypes.pca.indep_pairwise
is null), and the PC1/PC2 plot for the report."""

import _bootstrap  # noqa: F401

from kgpex.common.rulescript import run
from kgpex.genotypes.pca import genotype_pcs, plot_genotype_pcs
from kgpex.samples.resolve import read_resolved_individuals


def main(snakemake):
    individuals = read_resolved_individuals(snakemake.input.individuals)
    populations = {i: row["population"] for i, row in individuals.items()}
    # population -> continental group: the plot shades populations within their group's colour.
    groups = {row["population"]: row["continental_group"] for row in individuals.values()}
    table, eigenvalues = genotype_pcs(
        snakemake.params.prefixes,
        sorted(populations),
        snakemake.output.pcs,
        n_pcs=snakemake.params.n_pcs,
        maf=snakemake.params.maf,
        indep_pairwise=(None if snakemake.params.indep_pairwise is None
                        else tuple(snakemake.params.indep_pairwise)),
        threads=snakemake.threads,
        memory_mb=max(snakemake.resources.mem_mb - 500, 256),
    )
    plot_genotype_pcs(table, populations, snakemake.output.plot, eigenvalues, groups=groups)


run(main, snakemake)  # noqa: F821
