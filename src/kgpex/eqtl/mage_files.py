"""MAGE's released eQTL files written from the per-chromosome tables: bgzip + tabix, sorted by
position, one chromosome in memory at a time."""

from __future__ import annotations

import io
import logging
import os
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from kgpex.common.errors import KgpexError
from kgpex.common.genome import chrom_rank
from kgpex.common.io import atomic_path, write_bgzip_indexed, write_table
from kgpex.eqtl.mage_format import (
    NOMINAL_COLUMNS,
    credible_set_table,
    finemapping_table,
    lead_variant_table,
    nominal_table,
    significant_pairs,
    summary_table,
)

log = logging.getLogger(__name__)


def write_position_indexed(df: pd.DataFrame, dest, chrom_col: str, pos_col: str) -> None:
    """bgzip + tabix (1-based position column as start and end), atomically."""
    columns = list(df.columns)
    seq, pos = columns.index(chrom_col), columns.index(pos_col)
    write_bgzip_indexed(df, dest, seq_col=seq, start_col=pos, end_col=pos)


def write_position_indexed_chunks(chunks: Iterable[pd.DataFrame], columns: list[str], dest,
                                  chrom_col: str, pos_col: str) -> int:
    """Stream sorted chunks (one per chromosome, in order) into one bgzip + tabix file.

    For tables too large to hold at once (all nominal pairs of a genome). Returns the row count.
    """
    from pysam import libcbgzf, tabix_index

    dest = Path(dest)
    seq, pos = columns.index(chrom_col), columns.index(pos_col)
    rows = 0
    with atomic_path(dest.with_name(dest.name + ".tbi")) as tmp_tbi, \
            atomic_path(dest, suffix=".gz") as tmp_gz:
        with libcbgzf.BGZFile(str(tmp_gz), "wb") as out:
            out.write(("\t".join(columns) + "\n").encode())
            for chunk in chunks:
                if list(chunk.columns) != columns:
                    raise KgpexError(f"{dest}: chunk columns {list(chunk.columns)} differ")
                # Slices keep the text buffer small on chromosomes with millions of pairs.
                for start in range(0, len(chunk), 500_000):
                    buf = io.StringIO()
                    chunk.iloc[start:start + 500_000].to_csv(buf, sep="\t", header=False,
                                                             index=False, na_rep="NA")
                    out.write(buf.getvalue().encode())
                rows += len(chunk)
        tabix_index(str(tmp_gz), seq_col=seq, start_col=pos, end_col=pos, line_skip=1,
                    force=True, index=str(tmp_gz) + ".tbi")
        os.replace(str(tmp_gz) + ".tbi", tmp_tbi)
    return rows


def by_chromosome(paths) -> list[Path]:
    """Per-chromosome files (``<chrom>.<ext>``) in natural chromosome order."""
    paths = [Path(p) for p in paths]
    chroms = pd.Series([p.name.split(".")[0] for p in paths])
    return [paths[i] for i in np.argsort(chrom_rank(chroms).to_numpy(), kind="stable")]


def _check_chromosome(variant_ids: pd.Series, path: Path) -> None:
    chrom = path.name.split(".")[0]
    other = variant_ids[~variant_ids.str.startswith(chrom + ":")]
    if len(other):
        raise KgpexError(f"{path}: variant {other.iloc[0]} is not on {chrom}")


def write_nominal_tables(pair_paths, cis_genes: pd.DataFrame, genes: pd.DataFrame,
                         rsids: pd.Series | None, fdr: float, all_dest, significant_dest) -> None:
    """allAssociations streamed chromosome by chromosome; significantAssociations from it."""
    from kgpex.eqtl.tables import NOMINAL_COLUMNS as PAIR_COLUMNS

    significant = []

    def chunks():
        for path in by_chromosome(pair_paths):
            pairs = pd.read_parquet(path)
            missing = [c for c in PAIR_COLUMNS if c not in pairs.columns]
            if missing:
                raise KgpexError(f"{path}: column '{missing[0]}' missing")
            _check_chromosome(pairs["variant_id"], path)
            if pairs.empty:
                continue
            significant.append(nominal_table(significant_pairs(pairs, cis_genes, fdr), genes,
                                             rsids))
            yield nominal_table(pairs, genes, rsids)

    n_all = write_position_indexed_chunks(chunks(), NOMINAL_COLUMNS, all_dest, "variantChrom",
                                          "variantPosition")
    sig = pd.concat(significant, ignore_index=True) if significant else \
        pd.DataFrame(columns=NOMINAL_COLUMNS)
    write_position_indexed(sig, significant_dest, "variantChrom", "variantPosition")
    log.info("nominal pairs: %d in all, %d significant (eGenes at FDR %g, p < gene threshold)",
             n_all, len(sig), fdr)


def write_finemapping_tables(pip_paths, credible_set_paths, genes: pd.DataFrame,
                             rsids: pd.Series | None, credible_sets_dest, all_dest,
                             significant_dest) -> None:
    """credibleSet_summary (gzip), allAssociations and significantAssociations (bgzip + tabix)."""
    from kgpex.common.io import write_table
    from kgpex.eqtl.tables import CREDIBLE_SET_COLUMNS as CS_COLUMNS
    from kgpex.eqtl.tables import PIP_COLUMNS

    pips = pd.concat([pd.read_parquet(p) for p in pip_paths], ignore_index=True)
    missing = [c for c in PIP_COLUMNS if c not in pips.columns]
    if missing:
        raise KgpexError(f"fine-mapping PIPs: column '{missing[0]}' missing")
    sets = pd.concat([pd.read_csv(p, sep="\t", dtype={"phenotype_id": str, "cs_id": str})
                      for p in credible_set_paths], ignore_index=True)
    missing = [c for c in CS_COLUMNS if c not in sets.columns]
    if missing:
        raise KgpexError(f"credible sets: column '{missing[0]}' missing")
    members = (pips.dropna(subset=["cs_id"]).assign(cs_id=lambda d: d["cs_id"].str.split(","))
               .explode("cs_id"))
    in_pips = set(zip(members["phenotype_id"], members["cs_id"]))
    orphan = [(g, c) for g, c in zip(sets["phenotype_id"], sets["cs_id"]) if (g, c) not in in_pips]
    if orphan:
        raise KgpexError(f"credible set {orphan[0][1]} of {orphan[0][0]} has no variant in the "
                         "PIP tables")
    write_table(credible_set_table(sets, genes), credible_sets_dest, index=False)
    table = finemapping_table(pips, genes, rsids)
    write_position_indexed(table, all_dest, "variantChrom", "variantPosition")
    write_position_indexed(table[table["variantCredibleSet"] != "NA"].reset_index(drop=True),
                           significant_dest, "variantChrom", "variantPosition")
    log.info("fine-mapping: %d variants of %d genes, %d credible sets", len(table),
             pips["phenotype_id"].nunique(), len(sets))


def summary_from_files(phenotype_bed, genes: pd.DataFrame, cis_genes: pd.DataFrame,
                       significant_pairs_path, credible_sets_path, fdr: float) -> pd.DataFrame:
    """eQTL_summary from the phenotype BED's genes and the MAGE tables already written."""
    filtered = pd.read_csv(phenotype_bed, sep="\t", usecols=[3], dtype=str).iloc[:, 0]
    significant = pd.read_csv(significant_pairs_path, sep="\t", usecols=["ensemblID"],
                              dtype=str)["ensemblID"]
    sets = pd.read_csv(credible_sets_path, sep="\t", usecols=["ensemblID"], dtype=str)
    return summary_table(filtered, genes, cis_genes, significant.value_counts(),
                         sets["ensemblID"].value_counts(), fdr)


def write_lead_variant_table(significant_path, dest) -> pd.DataFrame:
    """MAGE's lead hits (``lead_variant_table``) from the fine-mapping significantAssociations
    file, written to ``dest``; returns the table."""
    significant = pd.read_csv(significant_path, sep="\t",
                              dtype={"variantChrom": str, "variantCredibleSet": str},
                              keep_default_na=False, na_values=[""])
    lead = lead_variant_table(significant)
    write_table(lead, dest, index=False, na_rep="NA")
    return lead
