"""Rule aggregate_genes: salmon transcripts -> gene counts and TPM (tximport, countsFromAbundance="no")."""

import _bootstrap  # noqa: F401

from kgpex.common.io import write_parquet
from kgpex.common.rulescript import run
from kgpex.expression.aggregate import aggregate_genes, read_tx2gene
from kgpex.samples.resolve import read_resolved_runs


def main(snakemake):
    # per_library's order: the sorted library IDs of runs.tsv.
    libraries = sorted({row["library"] for row in read_resolved_runs(snakemake.input.runs).values()})
    quants = dict(zip(libraries, snakemake.input.quant))
    counts, tpm = aggregate_genes(quants, read_tx2gene(snakemake.input.tx2gene))
    write_parquet(counts, snakemake.output.counts)
    write_parquet(tpm, snakemake.output.tpm)


run(main, snakemake)  # noqa: F821
