"""rsIDs for variant IDs from a local dbSNP VCF (config eqtl.dbsnp), cached as a two-column table."""

from __future__ import annotations

import gzip
import logging
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from kgpex.common.errors import KgpexError
from kgpex.eqtl.mage_format import split_variant_ids

log = logging.getLogger(__name__)


def read_dbsnp(path, variant_ids: Iterable[str], chunksize: int = 2_000_000) -> pd.Series:
    """rsIDs (index: chrom:pos:ref:alt) of ``variant_ids`` from a dbSNP table.

    The table is tab-separated ``chrom pos ref alt rsID`` (plain or gzipped, ``#`` comments and
    an optional header line). Chromosomes without ``chr`` get it. The file is streamed and only
    rows at wanted positions are kept, so a whole-genome dbSNP fits in memory.
    Several rsIDs for one variant are joined with ','.
    """
    path = Path(path)
    if not path.exists():
        raise KgpexError(f"{path}: dbSNP file not found (config eqtl.dbsnp)")
    wanted = pd.Index(pd.unique(pd.Series(list(variant_ids), dtype=object)))
    parts = split_variant_ids(pd.Series(wanted))
    positions = {c: np.unique(g["pos"].to_numpy()) for c, g in parts.groupby("chrom")}
    opener = gzip.open if _is_gzip(path) else open
    with opener(path, "rt") as fh:
        first = fh.readline()
        while first.startswith("#"):
            first = fh.readline()
    fields = first.rstrip("\n").split("\t")
    if len(fields) < 5:
        raise KgpexError(f"{path}: expected 5 tab-separated fields chrom pos ref alt rsID, "
                         f"found {len(fields)}")
    header = 0 if not fields[1].isdigit() else None
    found = []
    reader = pd.read_csv(path, sep="\t", comment="#", header=header, usecols=range(5),
                         names=["chrom", "pos", "ref", "alt", "rsid"], dtype=str,
                         chunksize=chunksize, compression="gzip" if _is_gzip(path) else None)
    for chunk in reader:
        chrom = chunk["chrom"].where(chunk["chrom"].str.startswith("chr"), "chr" + chunk["chrom"])
        pos = pd.to_numeric(chunk["pos"], errors="coerce")
        keep = np.zeros(len(chunk), dtype=bool)
        for c, wanted_pos in positions.items():
            on = (chrom == c).to_numpy()
            keep[on] = np.isin(pos[on].to_numpy(), wanted_pos)
        if keep.any():
            sub = chunk[keep]
            ids = (chrom[keep] + ":" + pos[keep].astype(np.int64).astype(str) + ":" + sub["ref"]
                   + ":" + sub["alt"])
            found.append(pd.DataFrame({"variant_id": ids.to_numpy(),
                                       "rsid": sub["rsid"].to_numpy()}))
    if not found:
        log.warning("%s: none of %d variants has an rsID", path, len(wanted))
        return pd.Series(dtype=object, name="rsid")
    table = pd.concat(found, ignore_index=True)
    table = table[table["variant_id"].isin(wanted)].drop_duplicates()
    rsids = table.groupby("variant_id", sort=False)["rsid"].agg(",".join)
    log.info("%s: rsIDs for %d of %d variants", path, len(rsids), len(wanted))
    return rsids.rename("rsid")


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def read_rsid_table(path) -> pd.Series | None:
    """The ``variant_id rsid`` table written by the annotate_rsids rule (None: no path)."""
    if not path:
        return None
    table = pd.read_csv(path, sep="\t", dtype=str)
    return table.set_index("variant_id")["rsid"]
