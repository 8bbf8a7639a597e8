"""Rules map_cis_permutations, map_cis_nominal, map_cis_independent and finemap_susie: one
tensorQTL pass (params.mode) over one chromosome's genotypes, phenotypes and covariates.

- permutations -> output.table: the shared cis table (no q-values yet);
- nominal -> output.pairs: every cis variant-gene pair (parquet);
- independent -> output.table: conditionally independent eQTLs of the chromosome's eGenes;
- finemapping -> output.pips, output.credible_sets: SuSiE of the chromosome's eGenes
  (method susier_rss also reads input.nominal, the nominal pass of config eqtl.mapper).

With input.groups (phenotype -> group: the sQTL rules of sqtl.smk, introns -> gene) the
permutation pass is grouped (one row per gene) and fine-mapping covers every phenotype of the
significant groups (each intron separately, as MAGE did); the nominal pass is per phenotype.
"""

import os

import _bootstrap  # noqa: F401

from kgpex.common.rulescript import run


def main(snakemake):
    # Before torch loads OpenMP: idle OpenMP threads spin, and on cores shared with other jobs
    # (two chromosomes mapped at once on 2 cores) they burn the time the others need.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    # Deferred: torch and tensorqtl load only in the job that maps.
    from kgpex.common.io import write_parquet, write_table
    from kgpex.eqtl import cis, finemapping, inputs, tables

    inputs.configure_torch(snakemake.threads)
    p, out = snakemake.params, snakemake.output
    # Namedlist: `in` would test the values, not the names.
    groups = (inputs.read_phenotype_groups(snakemake.input.groups)
              if "groups" in snakemake.input.keys() else None)  # noqa: SIM118
    mapping = inputs.load_inputs(snakemake.input.phenotypes, snakemake.input.covariates,
                                 inputs.pgen_prefix(snakemake.input.pgen), snakemake.wildcards.chrom)
    if p.mode == "permutations":
        table = cis.map_permutations(mapping, p.window, p.maf, p.permutations, p.seed,
                                     groups=groups)
        write_table(table, out.table, index=False, na_rep="NA")
    elif p.mode == "nominal":
        write_parquet(cis.map_nominal(mapping, p.window, p.maf), out.pairs)
    elif p.mode == "independent":
        cis_genes = tables.read_cis_genes(snakemake.input.cis_genes)
        table = cis.map_independent(mapping, cis_genes, p.fdr, p.window, p.maf, p.permutations,
                                    p.seed)
        write_table(table, out.table, index=False, na_rep="NA")
    elif p.mode == "finemapping":
        cis_genes = tables.read_cis_genes(snakemake.input.cis_genes, grouped=groups is not None)
        egenes = tables.significant_phenotypes(cis_genes, p.fdr, groups)
        # susie_rss (MAGE's fine-mapping) reads the z-scores of the nominal pass.
        nominal = (finemapping.read_nominal_z(snakemake.input.nominal, egenes)
                   if p.method == "susier_rss" else None)
        pips, credible_sets = finemapping.finemap_susie(
            mapping, egenes, p.window, p.maf, p.L, p.coverage, p.min_abs_corr, p.seed,
            method=p.method, nominal=nominal)
        write_parquet(pips, out.pips)
        write_table(credible_sets, out.credible_sets, index=False, na_rep="NA")
    else:
        raise ValueError(f"unknown tensorQTL pass {p.mode!r}")


run(main, snakemake)  # noqa: F821
