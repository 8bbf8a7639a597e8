"""tensorQTL-native result files, named and laid out as tensorQTL's command line writes them (and
GTEx's tensorqtl_cis_*.wdl collect them), for users of tensorQTL and the GTEx tools:

- ``{prefix}.cis_qtl.txt.gz``: the permutation pass of all genes with ``qval`` and
  ``pval_nominal_threshold`` (tensorqtl.py, mode cis; ``map_cis`` + ``post.calculate_qvalues``);
- ``{prefix}.cis_qtl_pairs.{chrom}.parquet``: the nominal pass, one file per chromosome
  (``cis.map_nominal``);
- ``{prefix}.cis_qtl.signif_pairs.parquet``: the nominal pairs of eGenes below their gene's
  threshold (tensorqtl.py, mode cis_nominal with --cis_output; ``post.get_significant_pairs``);
- ``{prefix}.cis_independent_qtl.txt.gz``: the conditionally independent eQTLs of all
  chromosomes (tensorqtl.py, mode cis_independent; ``cis.map_independent``).

The sources are the eqtl stage's tables (kgpex.eqtl.tables), which either mapper writes in
tensorQTL's own column names (FastQTL's maf/ref_factor and tss_distance are turned into af and
start_distance by kgpex.fastqtl.merge), so no column is renamed here. kgpex's phenotypes are TSS
BEDs: tensorQTL 1.0.10 then writes ``end_distance`` (= ``start_distance``) in the cis and
independent tables but not in the nominal pairs; the shared tables drop it, so it is put back.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from kgpex.common.errors import KgpexError
from kgpex.common.io import atomic_path, write_table
from kgpex.eqtl.tables import CIS_COLUMNS, INDEPENDENT_COLUMNS, NOMINAL_COLUMNS

log = logging.getLogger(__name__)

# tensorQTL's map_cis columns (phenotype_id is its index, written as the first column) plus
# calculate_qvalues' two; map_independent's are map_cis' plus rank.
EGENE_COLUMNS = [
    *CIS_COLUMNS[:8], "end_distance", *CIS_COLUMNS[8:], "qval", "pval_nominal_threshold",
]  # fmt: skip
INDEPENDENT_NATIVE_COLUMNS = [*INDEPENDENT_COLUMNS[:8], "end_distance", *INDEPENDENT_COLUMNS[8:]]
# map_nominal writes end_distance only for phenotypes with start != end (never for a TSS BED).
PAIRS_COLUMNS = NOMINAL_COLUMNS
# get_significant_pairs joins these gene-level columns (pval_nominal renamed) onto the pairs.
SIGNIF_GENE_COLUMNS = ["pval_nominal_threshold", "min_pval_nominal", "pval_beta"]

_ID_DTYPES = {"phenotype_id": str, "variant_id": str}
_READ_ROWS = 1_000_000  # nominal pairs held at a time while filtering significant pairs


def native_names(prefix: str, chroms: list[str]) -> dict:
    """The file names tensorQTL's command line gives its outputs for ``prefix`` (tensorqtl.py)."""
    return {
        "egenes": f"{prefix}.cis_qtl.txt.gz",
        "pairs": [f"{prefix}.cis_qtl_pairs.{c}.parquet" for c in chroms],
        "signif_pairs": f"{prefix}.cis_qtl.signif_pairs.parquet",
        "independent": f"{prefix}.cis_independent_qtl.txt.gz",
    }


def _read_text_table(path, columns: list[str], what: str) -> pd.DataFrame:
    """A tab-separated table with ``columns`` (end_distance optional), in tensorQTL's order."""
    try:
        df = pd.read_csv(path, sep="\t", dtype=_ID_DTYPES, float_precision="round_trip")
    except FileNotFoundError as err:
        raise KgpexError(f"{path}: {what} not found") from err
    except pd.errors.EmptyDataError as err:
        raise KgpexError(f"{path}: empty file, expected a {what} with a header") from err
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as err:
        raise KgpexError(f"{path}: cannot read {what} ({' '.join(str(err).split())})") from err
    required = [c for c in columns if c != "end_distance"]
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise KgpexError(
            f"{path}: column '{missing[0]}' missing from the {what} (expected {' '.join(required)})"
        )
    for column in required:
        if column in _ID_DTYPES or pd.api.types.is_numeric_dtype(df[column]):
            continue
        values = pd.to_numeric(df[column], errors="coerce")
        bad = np.flatnonzero(values.isna() & df[column].notna())
        if len(bad):
            raise KgpexError(f"{path} line {bad[0] + 2}: field '{column}' is not a number "
                             f"({df[column].iloc[bad[0]]!r})")
        df[column] = values  # a header-only table reads as text
    if "end_distance" not in df.columns:
        # A TSS phenotype has start == end: tensorQTL's end_distance equals start_distance.
        df["end_distance"] = df["start_distance"]
    return df[columns]


def read_egenes(cis_genes) -> pd.DataFrame:
    """The q-value table (compute_qvalues' cis_genes.tsv.gz) in tensorQTL's cis layout."""
    egenes = _read_text_table(cis_genes, EGENE_COLUMNS, "cis gene table")
    dup = egenes["phenotype_id"][egenes["phenotype_id"].duplicated()]
    if len(dup):
        raise KgpexError(f"{cis_genes}: gene '{dup.iloc[0]}' appears twice")
    return egenes


def write_egenes(cis_genes, dest) -> pd.DataFrame:
    """``{prefix}.cis_qtl.txt.gz`` from the q-value table; returns the table (read_egenes).

    Values keep the source's full precision (tensorQTL rounds to %.6g); a missing value is an
    empty field, as pandas' to_csv in tensorQTL writes it.
    """
    egenes = cis_genes if isinstance(cis_genes, pd.DataFrame) else read_egenes(cis_genes)
    write_table(egenes, dest, index=False, na_rep="")
    log.info("%d genes -> %s", len(egenes), dest)
    return egenes


def _parquet_schema(path, what: str):
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.read_schema(path)
    except FileNotFoundError as err:
        raise KgpexError(f"{path}: {what} not found") from err
    except (OSError, pa.ArrowException) as err:
        raise KgpexError(f"{path}: not a readable parquet {what} ({' '.join(str(err).split())})"
                         ) from err


def _pairs_columns(path, schema) -> list[str]:
    """The source's columns in tensorQTL's nominal layout; a missing one is a KgpexError."""
    missing = [c for c in PAIRS_COLUMNS if c not in schema.names]
    if missing:
        raise KgpexError(f"{path}: column '{missing[0]}' missing from the nominal pairs "
                         f"(expected {' '.join(PAIRS_COLUMNS)})")
    # end_distance goes after start_distance when the source has it (phenotypes with an end).
    columns = list(PAIRS_COLUMNS)
    if "end_distance" in schema.names:
        columns.insert(columns.index("start_distance") + 1, "end_distance")
    return columns


def write_pairs(nominal, dest) -> None:
    """``{prefix}.cis_qtl_pairs.{chrom}.parquet`` from the chromosome's nominal parquet.

    A source already in tensorQTL's layout is copied byte for byte to a temporary name, then
    renamed (a hard link would change if the source were rewritten); otherwise its columns are
    selected and written in tensorQTL's order, a row group at a time.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = _parquet_schema(nominal, "nominal pairs file")
    columns = _pairs_columns(nominal, schema)
    with atomic_path(dest, suffix=".parquet") as tmp:
        if schema.names == columns:
            shutil.copyfile(nominal, tmp)
        else:
            source = pq.ParquetFile(nominal)
            out_schema = pa.schema([schema.field(c).remove_metadata() for c in columns])
            with pq.ParquetWriter(str(tmp), out_schema) as writer:
                for i in range(source.num_row_groups):
                    writer.write_table(source.read_row_group(i, columns=columns).select(columns))
    log.info("%s -> %s", nominal, dest)


def significant_pairs_frame(pairs: pd.DataFrame, genes: pd.DataFrame) -> pd.DataFrame:
    """tensorqtl.post.get_significant_pairs for one block of pairs.

    ``genes`` is indexed by phenotype_id with SIGNIF_GENE_COLUMNS and holds eGenes only. As in
    tensorQTL, a pair is significant when pval_nominal < its gene's threshold (strictly).
    """
    threshold = pairs["phenotype_id"].map(genes["pval_nominal_threshold"])
    hits = pairs[threshold.notna().to_numpy() & (pairs["pval_nominal"] < threshold).to_numpy()]
    return hits.merge(genes, left_on="phenotype_id", right_index=True, how="inner")


def write_significant_pairs(egenes: pd.DataFrame, nominal: list, fdr: float, dest) -> int:
    """``{prefix}.cis_qtl.signif_pairs.parquet``: pairs of eGenes (qval <= fdr) below their gene's
    pval_nominal_threshold, with tensorQTL's gene columns joined; chromosomes in the order of
    ``nominal``, each read a batch at a time so memory stays flat. Returns the number of pairs."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    signif = egenes.loc[egenes["qval"] <= fdr]
    no_threshold = signif["pval_nominal_threshold"].isna()
    if no_threshold.any():
        raise KgpexError(f"cis gene table: eGene {signif.loc[no_threshold, 'phenotype_id'].iloc[0]} "
                         "has no pval_nominal_threshold")
    genes = signif.set_index("phenotype_id")[["pval_nominal_threshold", "pval_nominal",
                                              "pval_beta"]]
    genes = genes.rename(columns={"pval_nominal": "min_pval_nominal"}).astype("float64")
    n_pairs, schema, writer = 0, None, None
    with atomic_path(dest, suffix=".parquet") as tmp:
        try:
            for path in nominal:
                source_schema = _parquet_schema(path, "nominal pairs file")
                columns = _pairs_columns(path, source_schema)
                if schema is None:
                    # Pair columns keep the nominal pass's types (tensorQTL's int32/float32).
                    fields = [source_schema.field(c).remove_metadata() for c in columns]
                    fields += [pa.field(c, pa.float64()) for c in SIGNIF_GENE_COLUMNS]
                    schema = pa.schema(fields)
                    writer = pq.ParquetWriter(str(tmp), schema)
                elif columns != schema.names[: len(columns)]:
                    raise KgpexError(f"{path}: columns {' '.join(columns)} differ from those of "
                                     f"{nominal[0]} ({' '.join(schema.names[:-3])})")
                for batch in pq.ParquetFile(path).iter_batches(_READ_ROWS, columns=columns):
                    hits = significant_pairs_frame(batch.to_pandas(), genes)
                    if len(hits):
                        table = pa.Table.from_pandas(hits[schema.names], preserve_index=False)
                        writer.write_table(table.cast(schema))
                        n_pairs += len(hits)
            if writer is None:
                raise KgpexError("significant pairs: no nominal pairs file given")
            if n_pairs == 0:
                # An empty file still carries the columns (no eGene, or none below threshold).
                writer.write_table(schema.empty_table())
        finally:
            if writer is not None:
                writer.close()
    log.info("%d significant pairs of %d eGenes at FDR %g -> %s", n_pairs, len(genes), fdr, dest)
    return n_pairs


def read_independent(tables: list) -> pd.DataFrame:
    """The chromosomes' independent tables, concatenated in tensorQTL's map_independent layout.

    A gene in two chromosomes' tables is an error (each gene is mapped once, on its own
    chromosome).
    """
    frames, seen = [], {}
    for path in tables:
        df = _read_text_table(path, INDEPENDENT_NATIVE_COLUMNS, "independent eQTL table")
        for gene in pd.unique(df["phenotype_id"]):
            if gene in seen:
                raise KgpexError(f"{path}: gene '{gene}' is also in {seen[gene]}")
            seen[gene] = path
        frames.append(df)
    if not frames:
        raise KgpexError("independent eQTLs: no table given")
    # Empty chromosomes (no eGene) would turn integer columns into object or float.
    full = [f for f in frames if len(f)] or frames[:1]
    out = pd.concat(full, ignore_index=True)
    bad_rank = ~(out["rank"] >= 1)  # NA included
    if bad_rank.any():
        raise KgpexError(f"independent eQTL tables: gene {out.loc[bad_rank, 'phenotype_id'].iloc[0]}"
                         " has no positive field 'rank'")
    return out


def write_independent(tables, dest) -> int:
    """``{prefix}.cis_independent_qtl.txt.gz`` from the per-chromosome tables (or the table
    read_independent made of them). Returns the number of rows."""
    out = tables if isinstance(tables, pd.DataFrame) else read_independent(list(tables))
    write_table(out, dest, index=False, na_rep="")
    log.info("%d independent eQTLs of %d genes -> %s", len(out), out["phenotype_id"].nunique(),
             dest)
    return len(out)


def write_native_files(cis_genes, nominal: list, independent: list, fdr: float, outputs) -> None:
    """All four kinds of tensorQTL-native file; ``outputs`` has egenes, pairs (one per file of
    ``nominal``, same order), signif_pairs and independent. The chromosome of each nominal file is
    its stem, and each pairs output must end with ``.cis_qtl_pairs.{chrom}.parquet``."""
    pairs_out = list(outputs["pairs"])
    if len(pairs_out) != len(nominal):
        raise KgpexError(f"tensorQTL native files: {len(nominal)} nominal files but "
                         f"{len(pairs_out)} pairs outputs")
    for source, dest in zip(nominal, pairs_out):
        chrom = Path(source).name.removesuffix(".parquet")
        if not Path(dest).name.endswith(f".cis_qtl_pairs.{chrom}.parquet"):
            raise KgpexError(f"{dest}: pairs output for {source} must end with "
                             f".cis_qtl_pairs.{chrom}.parquet")
    # Every input is checked before the first output is written (the pairs by their schema).
    egenes = read_egenes(cis_genes)
    for source in nominal:
        _pairs_columns(source, _parquet_schema(source, "nominal pairs file"))
    signals = read_independent(list(independent))
    write_egenes(egenes, outputs["egenes"])
    for source, dest in zip(nominal, pairs_out):
        write_pairs(source, dest)
    write_significant_pairs(egenes, list(nominal), fdr, outputs["signif_pairs"])
    write_independent(signals, outputs["independent"])
