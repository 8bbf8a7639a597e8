"""The genes table, the contract between the reference stage and every stage after it.

``genes.tsv``: ``gene_id gene_name gene_type chrom start end strand tss``, one row per gene;
start, end and tss are 1-based GTF coordinates. rule annotate_genes writes it from the GTF, and
import_gene_annotation from a matrix's own annotation table; the expression, matrix and MAGE-table
rules read it with ``read_genes``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from kgpex.common.errors import KgpexError

GENES_COLUMNS = ["gene_id", "gene_name", "gene_type", "chrom", "start", "end", "strand", "tss"]
_TEXT_COLUMNS = {"gene_id": str, "gene_name": str, "gene_type": str, "chrom": str, "strand": str}


def read_genes(path: str | Path) -> pd.DataFrame:
    """genes.tsv, indexed by gene_id; one line naming the file and row on bad content."""
    try:
        df = pd.read_csv(path, sep="\t", dtype=_TEXT_COLUMNS)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise KgpexError(f"{path}: cannot read gene table ({err})") from err
    missing = [c for c in GENES_COLUMNS if c not in df.columns]
    if missing:
        raise KgpexError(f"{path}: columns missing: {', '.join(missing)}")
    dup = df["gene_id"].duplicated()
    if dup.any():
        raise KgpexError(
            f"{path} line {int(np.flatnonzero(dup)[0]) + 2}: gene {df['gene_id'][dup].iloc[0]} listed twice"
        )
    for col in ("start", "end", "tss"):
        if not pd.api.types.is_integer_dtype(df[col]) or (df[col] < 1).any():
            raise KgpexError(f"{path}: column {col} must hold 1-based positions")
    return df.set_index("gene_id")
