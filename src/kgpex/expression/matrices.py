"""MAGE-style expression matrices from the gene-level counts and TPM.

``normalize_expression``: the chosen libraries' columns, MAGE's gene filter, TMM-CPM and the
inverse normal transform (kgpex.expression.normalize), then the TSS BED matrices (``tss_bed``)
and the filtered-genes table. Library choice lives in kgpex.expression.libraries, gene
aggregation in kgpex.expression.aggregate.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from kgpex.common.errors import KgpexError
from kgpex.common.genome import sort_by_position
from kgpex.common.io import write_bgzip_indexed, write_table
from kgpex.expression import normalize

# Header of expression_filteredGenes.{TAG}.txt.gz: MAGE's confirmed column names (chrom,
# ensemblID, geneType) with the gene body as BED (0-based start, end) and the GTF gene_name.
FILTERED_GENES_COLUMNS = ["chrom", "start", "end", "ensemblID", "geneSymbol", "geneType"]

BED_ID_COLUMNS = ["#Chr", "start", "end", "ID"]


def tss_bed(matrix: pd.DataFrame, genes: pd.DataFrame) -> pd.DataFrame:
    """A gene x sample matrix as MAGE's TSS BED: ``#Chr start end ID <samples>``, one row per gene
    at its TSS (start = TSS - 1, end = TSS), sorted by chromosome and TSS; samples sorted."""
    annot = genes.loc[matrix.index]
    bed = pd.DataFrame(
        {
            "#Chr": annot["chrom"].to_numpy(),
            "start": annot["tss"].to_numpy() - 1,
            "end": annot["tss"].to_numpy(),
            "ID": matrix.index.to_numpy(),
        }
    )
    samples = sorted(matrix.columns)
    bed = pd.concat([bed, matrix[samples].reset_index(drop=True)], axis=1)
    return sort_by_position(bed, "#Chr", "start", then=["ID"])


def filtered_genes_table(gene_ids, genes: pd.DataFrame) -> pd.DataFrame:
    """expression_filteredGenes: ``chrom start end ensemblID geneSymbol geneType``, gene body
    as BED (start 0-based), sorted by chromosome and start."""
    annot = genes.loc[list(gene_ids)]
    table = pd.DataFrame(
        {
            "chrom": annot["chrom"].to_numpy(),
            "start": annot["start"].to_numpy() - 1,
            "end": annot["end"].to_numpy(),
            "ensemblID": annot.index.to_numpy(),
            "geneSymbol": annot["gene_name"].to_numpy(),
            "geneType": annot["gene_type"].to_numpy(),
        }
    )
    return sort_by_position(table, "chrom", "start", then=["ensemblID"])


@dataclass
class NormalizedExpression:
    """The matrices of ``normalize_expression`` (genes x individuals) and its bookkeeping."""

    raw_counts: pd.DataFrame  # filtered, summed NumReads
    tmm_cpm: pd.DataFrame  # filtered TMM-CPM
    inverse_normal: pd.DataFrame  # filtered, per-gene inverse normal transform of tmm_cpm
    factors: pd.DataFrame  # individual library lib_size tmm_factor effective_lib_size
    gene_filter: pd.DataFrame  # per input gene: n_samples_tpm n_samples_counts pass_* keep
    summary: dict


def selected_matrix(matrix: pd.DataFrame, choice: pd.DataFrame, label: str) -> pd.DataFrame:
    """The chosen library of each individual, columns renamed to individual IDs and sorted."""
    missing = [r for r in choice["library"] if r not in matrix.columns]
    if missing:
        raise KgpexError(f"{label}: chosen library {missing[0]} is not among its columns")
    runs = choice.sort_values("individual")
    out = matrix[list(runs["library"])].copy()
    out.columns = pd.Index(list(runs["individual"]), name="individual")
    return out


def normalize_expression(
    counts_all: pd.DataFrame,
    tpm_all: pd.DataFrame | None,
    choice: pd.DataFrame,
    genes: pd.DataFrame,
    min_tpm: float = 0.1,
    min_counts: float = 6,
    min_sample_fraction: float = 0.2,
    chromosomes: list[str] | None = None,
) -> NormalizedExpression:
    """MAGE's normalisation of the chosen libraries (see ``kgpex.normalize``). ``tpm_all`` None
    (a counts matrix without TPM, kgpex.matrix_input) filters on counts only."""
    counts = selected_matrix(counts_all, choice, "gene counts")
    tpm = None if tpm_all is None else selected_matrix(tpm_all, choice, "gene TPM")
    if tpm is not None and not counts.index.equals(tpm.index):
        raise KgpexError("gene counts and gene TPM matrices list different genes")
    unknown = counts.index[~counts.index.isin(genes.index)]
    if len(unknown):
        raise KgpexError(f"genes.tsv: gene {unknown[0]} of the quantifications is not annotated ({len(unknown)} genes)")

    lib_size = normalize.library_sizes(counts.to_numpy())
    factors = normalize.tmm_factors(counts)  # on ALL genes, before the filter (as MAGE)
    cpm = normalize.tmm_cpm(counts, factors, lib_size)

    gene_filter = normalize.expression_filter(tpm, counts, min_tpm, min_counts, min_sample_fraction)
    chrom = genes.loc[counts.index, "chrom"]
    gene_filter["on_chromosome"] = chrom.isin(chromosomes).to_numpy() if chromosomes is not None else True
    gene_filter["keep"] = gene_filter["keep"] & gene_filter["on_chromosome"]
    keep = gene_filter.index[gene_filter["keep"].to_numpy()]
    if len(keep) == 0:
        raise KgpexError("expression filter: no gene passes (check expression.min_tpm, min_counts, chromosomes)")

    tmm_filtered = cpm.loc[keep]
    choice_sorted = choice.sort_values("individual")
    factor_table = pd.DataFrame(
        {
            "individual": choice_sorted["individual"].to_numpy(),
            "library": choice_sorted["library"].to_numpy(),
            "lib_size": lib_size,
            "tmm_factor": factors,
            "effective_lib_size": lib_size * factors,
        }
    )
    need = normalize.min_samples_required(min_sample_fraction, counts.shape[1])
    summary = {
        "genes_in": int(counts.shape[0]),
        "samples": int(counts.shape[1]),
        "min_samples": need,
        "genes_pass_tpm": int(gene_filter["pass_tpm"].sum()),
        "genes_pass_counts": int(gene_filter["pass_counts"].sum()),
        "genes_pass_both": int((gene_filter["pass_tpm"] & gene_filter["pass_counts"]).sum()),
        "genes_on_chromosomes": int(gene_filter["on_chromosome"].sum()),
        "genes_kept": len(keep),
    }
    return NormalizedExpression(
        raw_counts=counts.loc[keep],
        tmm_cpm=tmm_filtered,
        inverse_normal=normalize.inverse_normal_transform(tmm_filtered),
        factors=factor_table,
        gene_filter=gene_filter,
        summary=summary,
    )


def write_tss_bed(matrix: pd.DataFrame, genes: pd.DataFrame, dest) -> None:
    """``matrix`` as MAGE's TSS BED (``tss_bed``), bgzipped and tabix-indexed."""
    write_bgzip_indexed(tss_bed(matrix, genes), dest, seq_col=0, start_col=1, end_col=2,
                        zerobased=True, header_prefix="#")


def write_filtered_genes(gene_ids, genes: pd.DataFrame, dest) -> None:
    """The filtered-genes table (``filtered_genes_table``), bgzipped and tabix-indexed."""
    write_bgzip_indexed(filtered_genes_table(gene_ids, genes), dest, seq_col=0, start_col=1,
                        end_col=2, zerobased=True)


def write_expression_outputs(result: NormalizedExpression, genes: pd.DataFrame, out) -> None:
    """rule normalize_expression's files (and normalize_matrix_counts', the same names): the
    inverse-normal, TMM and raw TSS BEDs, the filtered-genes table, TMM factors, gene filter."""
    write_tss_bed(result.inverse_normal, genes, out.inverse_normal)
    write_tss_bed(result.tmm_cpm, genes, out.tmm)
    write_tss_bed(result.raw_counts, genes, out.raw)
    write_filtered_genes(result.inverse_normal.index, genes, out.filtered_genes)
    write_table(result.factors, out.factors, index=False)
    write_table(result.gene_filter, out.gene_filter, index=True, index_label="gene_id")
