"""Rule mage_sqtl_tables: MAGE's sQTL tables (kgpex.sqtl.tables, kgpex.sqtl.gene_level) from the
grouped permutation pass with q-values, the per-intron nominal pairs (one parquet per
chromosome, of eqtl.mapper) and the per-intron SuSiE results:

- sQTL_FastQTL_results.permutation_pass: one row per gene (its best intron), FastQTL's grouped
  columns, after MAGE's make_bed.py prefix geneChrom geneStart geneEnd (tabix -p bed -S1);
- .nominal_pass.allAssociations / .significantAssociations: every intron x variant pair, and
  the pairs of sGenes below their gene's nominal threshold (get_sig_results.py), same prefix;
- sQTL_finemapping.credibleSet_summary, .allAssociations, .significantAssociations (MAGE's
  collate scripts, geneID from the phenotype groups), .geneMerged.significantAssociations and
  .geneMerged.leadVariant (the intended gene-level merge, get_gene_level_results.py).
"""

import logging

import _bootstrap  # noqa: F401

from kgpex.common.rulescript import run

log = logging.getLogger("kgpex")


def main(snakemake):
    import pandas as pd

    from kgpex.eqtl import tables as eqtl_tables
    from kgpex.eqtl.inputs import read_phenotype_groups
    from kgpex.eqtl.mage_files import by_chromosome, write_position_indexed_chunks
    from kgpex.sqtl import gene_level, tables

    inp, out, fdr = snakemake.input, snakemake.output, snakemake.params.fdr
    groups = read_phenotype_groups(inp.groups)
    positions = tables.read_phenotype_positions(inp.phenotypes)
    permutations = tables.permutation_table(eqtl_tables.read_cis_genes(inp.cis_genes,
                                                                       grouped=True))
    tables.write_bed_indexed(tables.with_bed_coordinates(permutations, positions),
                             out.permutations)
    sgenes = tables.significant_genes(permutations, fdr)
    log.info("%d genes tested, %d sGenes at FDR %s", len(permutations), len(sgenes), fdr)

    # One chromosome's pairs at a time: MAGE's intron x variant pairs do not fit at once.
    def nominal_chunks(significant: bool):
        for path in by_chromosome(inp.pairs):
            nominal = tables.nominal_table(pd.read_parquet(path))
            if significant:
                nominal = tables.significant_pairs(nominal, permutations, groups, fdr)
            yield tables.with_bed_coordinates(nominal, positions)

    columns = tables.BED_COLUMNS + tables.NOMINAL_COLUMNS
    n_all = write_position_indexed_chunks(nominal_chunks(False), columns, out.all_pairs,
                                          "geneChrom", "geneEnd")
    n_sig = write_position_indexed_chunks(nominal_chunks(True), columns, out.significant_pairs,
                                          "geneChrom", "geneEnd")
    log.info("nominal pass: %d intron-variant pairs, %d significant", n_all, n_sig)

    pips = pd.concat([pd.read_parquet(p) for p in inp.pips], ignore_index=True)
    credible_sets = pd.concat(
        [pd.read_csv(p, sep="\t", dtype={"phenotype_id": str, "cs_id": str})
         for p in inp.credible_sets],
        ignore_index=True,
    )
    summary = tables.credible_set_summary(credible_sets, groups)
    associations = tables.finemapping_associations(pips, groups, credible_sets)
    significant = tables.significant_associations(associations)
    merged, leads = gene_level.gene_merged_tables(significant, summary, groups)
    for df, dest in ((summary, out.credible_sets), (associations, out.all_variants),
                     (significant, out.significant_variants), (merged, out.gene_variants),
                     (leads, out.gene_leads)):
        tables.write_bgzipped(df, dest)
    log.info("fine-mapping: %d intron credible sets, %d gene-level sets in %d genes",
             len(summary), leads.shape[0], leads["geneID"].nunique() if len(leads) else 0)


run(main, snakemake)  # noqa: F821
