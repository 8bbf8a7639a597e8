"""Chromosome order, the one definition every table uses: chr1 .. chr22, chrX, chrY, chrM, then
any other contig by name. GENCODE's GTF and the NYGC VCFs use this order; tabix needs rows
sorted by it within a file, and every MAGE-style table lists chromosomes in it."""

from __future__ import annotations

import pandas as pd

_NAMED = {"X": 23, "Y": 24, "M": 25, "MT": 25}
_OTHER = 26


def chrom_sort_key(chrom: str) -> tuple[int, str]:
    """Sort key of a chromosome name, with or without the ``chr`` prefix."""
    name = chrom[3:] if chrom.startswith("chr") else chrom
    if name.isdigit():
        return (int(name), "")
    return (_NAMED.get(name, _OTHER), name)


def chrom_rank(chroms: pd.Series) -> pd.Series:
    """Each row's rank of its chromosome in the natural order (0 for the first)."""
    order = {c: i for i, c in enumerate(sorted(chroms.unique(), key=chrom_sort_key))}
    return chroms.map(order).astype(int)


def sort_by_position(df: pd.DataFrame, chrom_col: str, pos_col: str,
                     then: list[str] | None = None) -> pd.DataFrame:
    """Rows sorted by chromosome (natural order), position, then ``then``; stable."""
    keys = df.assign(_rank=chrom_rank(df[chrom_col]).to_numpy())
    return (keys.sort_values(["_rank", pos_col, *(then or [])], kind="mergesort")
            .drop(columns="_rank").reset_index(drop=True))
