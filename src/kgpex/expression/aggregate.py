"""salmon transcripts -> gene-level counts and TPM per run (tximport's countsFromAbundance="no")."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from kgpex.common.errors import KgpexError

log = logging.getLogger(__name__)


QUANT_COLUMNS = ["Name", "Length", "EffectiveLength", "TPM", "NumReads"]


def read_tx2gene(path: str | Path) -> pd.Series:
    """tx2gene.tsv (transcript_id gene_id) as a Series transcript -> gene."""
    df = pd.read_csv(path, sep="\t", dtype=str)
    if list(df.columns[:2]) != ["transcript_id", "gene_id"]:
        raise KgpexError(f"{path}: header must start with transcript_id, gene_id")
    if df["transcript_id"].isna().any() or df["gene_id"].isna().any():
        line = int(np.flatnonzero(df[["transcript_id", "gene_id"]].isna().any(axis=1))[0]) + 2
        raise KgpexError(f"{path} line {line}: empty transcript_id or gene_id")
    dup = df["transcript_id"].duplicated()
    if dup.any():
        line = int(np.flatnonzero(dup)[0]) + 2
        raise KgpexError(f"{path} line {line}: transcript {df['transcript_id'][dup].iloc[0]} listed twice")
    return pd.Series(df["gene_id"].to_numpy(), index=df["transcript_id"].to_numpy(), name="gene_id")


def read_quant(path: str | Path) -> pd.DataFrame:
    """salmon quant.sf: transcripts (index Name) with TPM and NumReads as float64."""
    path = Path(path)
    try:
        df = pd.read_csv(
            path, sep="\t", dtype={"Name": str, "TPM": np.float64, "NumReads": np.float64},
            usecols=lambda c: c in QUANT_COLUMNS,
        )
    except FileNotFoundError:
        raise KgpexError(f"{path}: salmon quant.sf not found") from None
    except ValueError as err:
        raise KgpexError(f"{path}: unreadable quant.sf ({err})") from None
    missing = [c for c in QUANT_COLUMNS if c not in df.columns]
    if missing:
        raise KgpexError(f"{path}: columns missing: {', '.join(missing)}")
    for col in ("TPM", "NumReads"):
        bad = ~np.isfinite(df[col].to_numpy()) | (df[col].to_numpy() < 0)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise KgpexError(f"{path} line {i + 2}: {col} is not a non-negative number")
    return df.set_index("Name")[["TPM", "NumReads"]]


def aggregate_genes(
    quant_paths: dict[str, str | Path], tx2gene: pd.Series
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Gene x run matrices of counts (summed NumReads) and TPM (summed TPM), as tximport does.

    Genes are those with at least one transcript in quant.sf, sorted by ID (tximport's rowsum
    order). Every quant.sf must list the same transcripts (one salmon index); a transcript that
    tx2gene does not know is an error, not a silent drop.
    """
    runs = sorted(quant_paths)
    if not runs:
        raise KgpexError("aggregate_genes: no salmon quantifications given")
    first_path = quant_paths[runs[0]]
    first = read_quant(first_path)
    transcripts = first.index
    if transcripts.duplicated().any():
        raise KgpexError(f"{first_path}: transcript {transcripts[transcripts.duplicated()][0]} listed twice")
    unknown = ~transcripts.isin(tx2gene.index)
    if unknown.any():
        names = transcripts[unknown]
        raise KgpexError(
            f"{first_path}: transcript {names[0]} is not in tx2gene"
            + (f" ({unknown.sum()} transcripts unknown)" if unknown.sum() > 1 else "")
        )
    transcript_genes = tx2gene.reindex(transcripts).to_numpy()
    genes, gene_index = np.unique(transcript_genes, return_inverse=True)
    counts = np.empty((genes.size, len(runs)))
    tpm = np.empty((genes.size, len(runs)))
    for j, run in enumerate(runs):
        quant = first if j == 0 else read_quant(quant_paths[run])
        if not quant.index.equals(transcripts):
            raise KgpexError(
                f"{quant_paths[run]}: transcripts differ from {first_path} "
                "(quantified against another salmon index?)"
            )
        counts[:, j] = np.bincount(gene_index, weights=quant["NumReads"].to_numpy(), minlength=genes.size)
        tpm[:, j] = np.bincount(gene_index, weights=quant["TPM"].to_numpy(), minlength=genes.size)
    index = pd.Index(genes, name="gene_id")
    columns = pd.Index(runs, name="library")
    log.info("aggregated %d transcripts into %d genes for %d libraries", transcripts.size, genes.size, len(runs))
    return (
        pd.DataFrame(counts, index=index, columns=columns),
        pd.DataFrame(tpm, index=index, columns=columns),
    )
