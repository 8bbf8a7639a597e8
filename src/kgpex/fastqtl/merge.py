"""FastQTL's text output -> the eqtl stage's tables: permutation chunks to the permutation table,
nominal chunks to a parquet of pairs (columns and dtypes of kgpex.eqtl.tables)."""

from __future__ import annotations

import gzip
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from kgpex.common.errors import KgpexError
from kgpex.common.io import atomic_path, gzip_text_writer
from kgpex.eqtl.tables import CIS_COLUMNS, INT_COLUMNS, NOMINAL_COLUMNS, empty_table

log = logging.getLogger(__name__)


# FastQTL's output columns, as the GTEx fork (Debian 2.184+v7) writes them, without a header.
FASTQTL_PERMUTATION_COLUMNS = [
    "phenotype_id", "num_var", "beta_shape1", "beta_shape2", "true_df", "pval_true_df",
    "variant_id", "tss_distance", "ma_samples", "ma_count", "maf", "ref_factor",
    "pval_nominal", "slope", "slope_se", "pval_perm", "pval_beta",
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
        dtype={"phenotype_id": str, "variant_id": str}, **kwargs,
    )  # fmt: skip


def permutations_to_table(
    chunks: list[str | Path], phenotype_ids: list[str], source: str
) -> pd.DataFrame:
    """Merge a chromosome's permutation chunks into the shared cis table (CIS_COLUMNS).

    ``phenotype_ids`` are the chromosome's genes (its BED): each must appear in the chunks.
    A gene that two chunks share (equal TSS on a chunk boundary) keeps its first result.
    """
    parts = []
    for i, path in enumerate(chunks):
        part = _read_fastqtl_text(path, FASTQTL_PERMUTATION_COLUMNS)
        parts.append(part.assign(_chunk=i))
    raw = pd.concat(parts, ignore_index=True) if parts else empty_table(FASTQTL_PERMUTATION_COLUMNS)
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
    bad = ~raw["ref_factor"].isin([1, -1])
    if bad.any():
        first = raw[bad].iloc[0]
        raise KgpexError(
            f"{source}: gene {first['phenotype_id']} has ref_factor {first['ref_factor']}"
        )
    order = {p: i for i, p in enumerate(phenotype_ids)}
    raw = raw.assign(
        af=np.where(raw["ref_factor"] == 1, raw["maf"], 1.0 - raw["maf"]),
        _order=raw["phenotype_id"].map(order),
    ).sort_values("_order")
    table = raw.rename(columns={"tss_distance": "start_distance"})[CIS_COLUMNS]
    for col in INT_COLUMNS & set(CIS_COLUMNS):
        table[col] = table[col].astype("int64")
    return table.reset_index(drop=True)


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
    with atomic_path(dest, suffix=".parquet") as tmp:
        with pq.ParquetWriter(str(tmp), schema) as writer:
            for path in chunks:
                this_chunk: set[str] = set()
                for part in _read_fastqtl_text(path, FASTQTL_NOMINAL_COLUMNS, chunksize=read_rows):
                    if part.empty:
                        continue
                    unknown = set(part["phenotype_id"].unique()) - known
                    if unknown:
                        raise KgpexError(
                            f"{path}: gene {sorted(unknown)[0]} is not in the phenotype BED"
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
