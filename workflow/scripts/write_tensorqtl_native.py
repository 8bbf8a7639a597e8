"""Rule write_tensorqtl_native: the eqtl stage's results as tensorQTL writes them, for users of
tensorQTL and the GTEx pipeline (kgpex.eqtl.native_files names the files and their columns).

- input.cis_genes: the q-value table of config eqtl.mapper (compute_qvalues);
- input.nominal: its nominal pairs, one parquet per chromosome (the chromosome is the stem);
- input.independent: the conditionally independent eQTLs, one table per chromosome;
- output.egenes, output.pairs (one per input.nominal, same order), output.signif_pairs,
  output.independent: {prefix}.cis_qtl.txt.gz, {prefix}.cis_qtl_pairs.{chrom}.parquet,
  {prefix}.cis_qtl.signif_pairs.parquet, {prefix}.cis_independent_qtl.txt.gz.
"""

import _bootstrap  # noqa: F401

from kgpex.common.rulescript import run


def main(snakemake):
    from kgpex.eqtl import native_files

    out = snakemake.output
    native_files.write_native_files(
        snakemake.input.cis_genes,
        list(snakemake.input.nominal),
        list(snakemake.input.independent),
        snakemake.params.fdr,
        {
            "egenes": out.egenes,
            "pairs": list(out.pairs),
            "signif_pairs": out.signif_pairs,
            "independent": out.independent,
        },
    )


run(main, snakemake)  # noqa: F821
