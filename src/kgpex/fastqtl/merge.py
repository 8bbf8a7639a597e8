"""FastQTL's text output -> the eqtl stage's tables: permutation chunks to the permutation table,
nominal chunks to a parquet of pairs (columns and dtypes of kgpex.eqtl.tables).

Grouped permutation pass (``--grp``, MAGE's sQTLs: LeafCutter introns grouped by gene): one row
per group, in the layout of the GTEx fork's later releases (FASTQTL_GROUP_PERMUTATION_COLUMNS:
the 17 columns, then ``group_id``, ``group_size``), which kgpex.fastqtl.run.run_chunk writes
whichever FastQTL ran (it completes the shorter output of Debian's 2.184+v7, see there). Its
table is GROUPED_CIS_COLUMNS: CIS_COLUMNS, then ``group_id``, ``group_size``.
"""

from __future__ import annotations

import gzip
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from kgpex.common.errors import KgpexError
from kgpex.common.io import atomic_path, gzip_text_writer
from kgpex.eqtl.tables import (
    CIS_COLUMNS,
    GROUPED_CIS_COLUMNS,
    INT_COLUMNS,
    NOMINAL_COLUMNS,
    empty_table,
)

log = logging.getLogger(__name__)


# FastQTL's output columns, as the GTEx fork (Debian 2.184+v7) writes them, without a header.
FASTQTL_PERMUTATION_COLUMNS = [
    "phenotype_id", "num_var", "beta_shape1", "beta_shape2", "true_df", "pval_true_df",
    "variant_id", "tss_distance", "ma_samples", "ma_count", "maf", "ref_factor",
    "pval_nominal", "slope", "slope_se", "pval_perm", "pval_beta",
]  # fmt: skip

# --grp with --permute: the group's best phenotype, then the group (GTEx fork from 2018 on; the
# column names of its python/merge_chunks.py).
FASTQTL_GROUP_PERMUTATION_COLUMNS = FASTQTL_PERMUTATION_COLUMNS + ["group_id", "group_size"]

# --grp with --permute in Debian's 2.184+v7 (tag v7 of the GTEx fork, 2017): space-separated,
# 12 fields; no pval_true_df, ma_samples, ma_count, maf, ref_factor, slope or slope_se.
FASTQTL_V7_GROUP_PERMUTATION_COLUMNS = [
    "phenotype_id", "num_var", "beta_shape1", "beta_shape2", "true_df", "variant_id",
    "tss_distance", "pval_nominal", "pval_perm", "pval_beta", "group_id", "group_size",
]  # fmt: skip

FASTQTL_NOMINAL_COLUMNS = [
    "phenotype_id", "variant_id", "tss_distance", "ma_samples", "ma_count", "maf",
    "pval_nominal", "slope", "slope_se",
]  # fmt: skip

# tensorQTL's dtypes for the nominal pairs (cis.map_nominal), kept so both backends match.
NOMINAL_ARROW_TYPES = {
    "phenotype_id": "string", "variant_id": "string", "start_distance": "int32",
    "af": "float32", "ma_samples": "int32", "ma_count": "int32", "pval_nominal": "float64",
    "slope": "float32", "slope_se": "float32",
}  # fmt: skip

NOMINAL_READ_ROWS = 2_000_000  # rows of FastQTL text converted at a time


def _read_fastqtl_text(path: str | Path, columns: list[str], **kwargs):
    """Read FastQTL's headerless output; an empty file (empty chunk) gives an empty table."""
    path = Path(path)
    if not path.exists():
        raise KgpexError(f"{path}: FastQTL output not found")
    with gzip.open(path, "rt") as fh:
        first = fh.readline()
    if not first.strip():
        frame = empty_table(columns)
        return iter([frame]) if kwargs.get("chunksize") else frame
    n_fields = len(first.rstrip("\n").split("\t"))
    if n_fields != len(columns):
        raise KgpexError(f"{path} line 1: {n_fields} fields, FastQTL's table has {len(columns)}")
    return pd.read_csv(
        path, sep="\t", header=None, names=columns, na_values=["NA", "nan", "-nan"],
        dtype={"phenotype_id": str, "variant_id": str, "group_id": str}, **kwargs,
    )  # fmt: skip


def group_sizes(groups: pd.Series, phenotype_ids: list[str], source: str) -> dict[str, int]:
    """Groups of a BED's phenotypes -> their sizes, in BED order; checks FastQTL's assumptions.

    FastQTL (--grp) makes a group of each run of consecutive BED lines with the same group:
    every phenotype needs a group, and a group's phenotypes must be consecutive in the BED.
    """
    missing = [p for p in phenotype_ids if p not in groups.index]
    if missing:
        raise KgpexError(
            f"{source}: phenotype {missing[0]} has no group ({len(missing)} without one)"
        )
    sizes: dict[str, int] = {}
    previous = None
    for pid in phenotype_ids:
        grp = groups[pid]
        if grp != previous and grp in sizes:
            raise KgpexError(
                f"{source}: the phenotypes of group {grp} are not consecutive in the BED "
                f"({pid} comes after another group's); FastQTL would split the group"
            )
        sizes[grp] = sizes.get(grp, 0) + 1
        previous = grp
    return sizes


def _read_permutation_chunk(path: str | Path, grouped: bool) -> pd.DataFrame:
    columns = FASTQTL_GROUP_PERMUTATION_COLUMNS if grouped else FASTQTL_PERMUTATION_COLUMNS
    path = Path(path)
    if path.exists():
        with gzip.open(path, "rt") as fh:
            first = fh.readline().rstrip("\n")
        n_fields = len(first.split("\t")) if first.strip() else 0
        if n_fields == len(FASTQTL_GROUP_PERMUTATION_COLUMNS) and not grouped:
            raise KgpexError(f"{path}: FastQTL's grouped output (--grp): pass the phenotype groups")
        if n_fields == len(FASTQTL_PERMUTATION_COLUMNS) and grouped:
            raise KgpexError(f"{path}: FastQTL output without groups, but groups were given")
        if len(first.split()) == len(FASTQTL_V7_GROUP_PERMUTATION_COLUMNS) and n_fields == 1:
            raise KgpexError(
                f"{path}: FastQTL 2.184+v7's grouped output (12 space-separated fields); "
                "kgpex.fastqtl.run.run_chunk converts it"
            )
    return _read_fastqtl_text(path, columns)


def permutations_to_table(
    chunks: list[str | Path],
    phenotype_ids: list[str],
    source: str,
    groups: pd.Series | None = None,
) -> pd.DataFrame:
    """Merge a chromosome's permutation chunks into the shared cis table (CIS_COLUMNS).

    ``phenotype_ids`` are the chromosome's genes (its BED): each must appear in the chunks.
    A gene that two chunks share (equal TSS on a chunk boundary) keeps its first result.

    With ``groups`` (phenotype -> group, read_phenotype_groups), the chunks are a grouped pass
    (FASTQTL_GROUP_PERMUTATION_COLUMNS) and the table is GROUPED_CIS_COLUMNS, one row per group
    (its best phenotype), in BED order of the groups. A group that two chunks share keeps its
    first result; its ``group_size`` must be the group's number of phenotypes in the BED (a
    group cut by a chunk boundary would have fewer). FastQTL writes a group without a variant
    in its cis window as a row of NA, its group unnamed: such groups are left out, and the
    groups missing from the chunks may not outnumber those rows.
    """
    grouped = groups is not None
    columns = FASTQTL_GROUP_PERMUTATION_COLUMNS if grouped else FASTQTL_PERMUTATION_COLUMNS
    parts = []
    for i, path in enumerate(chunks):
        part = _read_permutation_chunk(path, grouped)
        parts.append(part.assign(_chunk=i))
    raw = pd.concat(parts, ignore_index=True) if parts else empty_table(columns)
    if grouped:
        sizes = group_sizes(groups, phenotype_ids, source)
        return _grouped_table(raw, phenotype_ids, groups, sizes, source)
    twice = raw["phenotype_id"].duplicated()
    if twice.any():
        names = ", ".join(raw.loc[twice, "phenotype_id"][:5])
        log.info("%s: %d genes in two chunks (equal TSS at a boundary), first kept: %s",
                 source, int(twice.sum()), names)  # fmt: skip
        raw = raw[~twice]
    unknown = sorted(set(raw["phenotype_id"]) - set(phenotype_ids))
    if unknown:
        raise KgpexError(
            f"{source}: FastQTL reported gene {unknown[0]}, which is not in the phenotype BED"
        )
    missing = [p for p in phenotype_ids if p not in set(raw["phenotype_id"])]
    if missing:
        raise KgpexError(
            f"{source}: no FastQTL result for gene {missing[0]} ({len(missing)} missing)"
        )
    untested = (raw["num_var"] == 0) | raw["variant_id"].isna()
    if untested.any():
        names = ", ".join(raw.loc[untested, "phenotype_id"][:5])
        log.warning("%s: %d of %d genes have no variant in their cis window, left out: %s",
                    source, int(untested.sum()), len(raw), names)  # fmt: skip
        raw = raw[~untested]
    order = {p: i for i, p in enumerate(phenotype_ids)}
    return _to_cis(raw, raw["phenotype_id"].map(order), CIS_COLUMNS, source)


def _to_cis(raw: pd.DataFrame, order: pd.Series, columns: list[str], source: str) -> pd.DataFrame:
    bad = ~raw["ref_factor"].isin([1, -1])
    if bad.any():
        first = raw[bad].iloc[0]
        raise KgpexError(
            f"{source}: gene {first['phenotype_id']} has ref_factor {first['ref_factor']}"
        )
    raw = raw.assign(
        af=np.where(raw["ref_factor"] == 1, raw["maf"], 1.0 - raw["maf"]), _order=order
    ).sort_values("_order")
    table = raw.rename(columns={"tss_distance": "start_distance"})[columns]
    for col in INT_COLUMNS & set(columns):
        table[col] = table[col].astype("int64")
    return table.reset_index(drop=True)


def _grouped_table(
    raw: pd.DataFrame,
    phenotype_ids: list[str],
    groups: pd.Series,
    sizes: dict[str, int],
    source: str,
) -> pd.DataFrame:
    untested = (raw["num_var"] == 0) | raw["variant_id"].isna() | raw["group_id"].isna()
    n_untested = int(untested.sum())
    raw = raw[~untested]
    unknown = sorted(set(raw["group_id"]) - set(sizes))
    if unknown:
        raise KgpexError(f"{source}: FastQTL reported group {unknown[0]}, not a group of the BED")
    stray = raw[~raw["phenotype_id"].isin(phenotype_ids)]
    if len(stray):
        raise KgpexError(
            f"{source}: FastQTL reported phenotype {stray['phenotype_id'].iloc[0]}, "
            "which is not in the phenotype BED"
        )
    wrong = raw[raw["phenotype_id"].map(groups) != raw["group_id"]]
    if len(wrong):
        first = wrong.iloc[0]
        raise KgpexError(
            f"{source}: FastQTL put phenotype {first['phenotype_id']} in group "
            f"{first['group_id']}, the groups file in {groups[first['phenotype_id']]}"
        )
    expected = raw["group_id"].map(sizes)
    partial = raw[raw["group_size"] != expected]
    if len(partial):
        first = partial.iloc[0]
        raise KgpexError(
            f"{source}: FastQTL tested {int(first['group_size'])} of the "
            f"{sizes[first['group_id']]} phenotypes of group {first['group_id']} (a chunk "
            "boundary cut the group: its phenotypes must share the group's start, the gene's TSS)"
        )
    twice = raw["group_id"].duplicated()
    if twice.any():
        names = ", ".join(raw.loc[twice, "group_id"][:5])
        log.info("%s: %d groups in two chunks (a chunk boundary in the group), first kept: %s",
                 source, int(twice.sum()), names)  # fmt: skip
        raw = raw[~twice]
    missing = [g for g in sizes if g not in set(raw["group_id"])]
    if len(missing) > n_untested:
        raise KgpexError(
            f"{source}: no FastQTL result for group {missing[0]} ({len(missing)} missing, "
            f"{n_untested} untested rows)"
        )
    if missing:
        log.warning("%s: %d of %d groups have no variant in their cis window, left out: %s",
                    source, len(missing), len(sizes), ", ".join(missing[:5]))  # fmt: skip
    order = {g: i for i, g in enumerate(sizes)}
    return _to_cis(raw, raw["group_id"].map(order), GROUPED_CIS_COLUMNS, source)


def write_permutation_table(table: pd.DataFrame, dest: str | Path) -> None:
    with atomic_path(dest) as tmp, gzip_text_writer(tmp) as fh:
        table.to_csv(fh, sep="\t", index=False, float_format="%.10g")


def nominal_to_parquet(
    chunks: list[str | Path],
    alt_frequencies: pd.Series,
    phenotype_ids: list[str],
    dest: str | Path,
    source: str,
    read_rows: int = NOMINAL_READ_ROWS,
) -> int:
    """Convert a chromosome's nominal chunks to one parquet (NOMINAL_COLUMNS), streaming.

    ``af`` comes from ``alt_frequencies`` (variant ID -> in-sample ALT frequency); a variant
    missing there is an error. Genes of a chunk that an earlier chunk already reported are
    skipped. Returns the number of pairs written.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([(c, NOMINAL_ARROW_TYPES[c]) for c in NOMINAL_COLUMNS])
    known = set(phenotype_ids)
    earlier: set[str] = set()
    n_rows = 0
    with (
        atomic_path(dest, suffix=".parquet") as tmp,
        pq.ParquetWriter(str(tmp), schema) as writer,
    ):
        for path in chunks:
            this_chunk: set[str] = set()
            for part in _read_fastqtl_text(path, FASTQTL_NOMINAL_COLUMNS, chunksize=read_rows):
                if part.empty:
                    continue
                unknown = set(part["phenotype_id"].unique()) - known
                if unknown:
                    raise KgpexError(
                        f"{path}: gene {min(unknown)} is not in the phenotype BED"
                    )
                genes = set(part["phenotype_id"].unique())
                this_chunk |= genes
                repeated = genes & earlier
                if repeated:
                    log.info(
                        "%s: genes already in an earlier chunk skipped: %s",
                        path,
                        ", ".join(sorted(repeated)),
                    )
                    part = part[~part["phenotype_id"].isin(repeated)]
                af = alt_frequencies.reindex(part["variant_id"].to_numpy()).to_numpy()
                if np.isnan(af).any():
                    variant = part["variant_id"].to_numpy()[np.isnan(af)][0]
                    raise KgpexError(f"{path}: variant {variant} has no allele frequency")
                out = part.rename(columns={"tss_distance": "start_distance"}).assign(af=af)[
                    NOMINAL_COLUMNS
                ]
                writer.write_table(
                    pa.Table.from_pandas(out, schema=schema, preserve_index=False)
                )
                n_rows += len(out)
            earlier |= this_chunk
    log.info("%s: %d variant-gene pairs for %d genes -> %s", source, n_rows, len(earlier), dest)
    return n_rows
