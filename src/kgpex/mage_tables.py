"""MAGE-style cis-eQTL tables from the tensorQTL-native intermediates.

Names, columns and conventions follow MAGE's released files (docs: MAGE_FORMATS in the
reference notes, summarised in docs/architecture.md): gene and variant columns renamed,
chromosome, TSS, gene symbol and rsID added, tables bgzipped and tabix-indexed on their
chromosome/position columns. Variant IDs are ``chrom:pos:ref:alt``; rsIDs come from an optional
dbSNP table and are ``NA`` without one.
"""

from __future__ import annotations

import gzip
import io
import logging
import os
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from kgpex.errors import KgpexError
from kgpex.io import atomic_path, write_bgzip_indexed

log = logging.getLogger(__name__)

PERMUTATION_COLUMNS = [
    "geneChrom", "geneChromTSS", "ensemblID", "geneSymbol", "num_var", "beta_shape1",
    "beta_shape2", "true_df", "pval_true_df", "top_kgpID", "top_rsID", "tss_distance",
    "ma_samples", "ma_count", "maf", "ref_factor", "pval_nominal", "slope", "slope_se",
    "pval_perm", "pval_beta", "qval", "pval_nominal_threshold",
]
NOMINAL_COLUMNS = [
    "variantChrom", "variantPosition", "variantRef", "variantAlt", "variant_kgpID",
    "variant_rsID", "ensemblID", "geneSymbol", "tss_distance", "ma_samples", "ma_count", "maf",
    "pval_nominal", "slope", "slope_se",
]
SUMMARY_COLUMNS = [
    "ensemblID", "geneSymbol", "variantsTested", "significantAssocs", "is_eGene",
    "finemappedCredibleSets",
]
CREDIBLE_SET_COLUMNS = [
    "ensemblID", "geneSymbol", "credibleSet", "numVariants", "coverage", "minCorr", "meanCorr",
    "medianCorr",
]
FINEMAPPING_COLUMNS = [
    "variantChrom", "variantPosition", "variantRef", "variantAlt", "variant_kgpID",
    "variant_rsID", "ensemblID", "geneSymbol", "variantPIP", "variantCredibleSet",
]
GENES_COLUMNS = ["gene_id", "gene_name", "gene_type", "chrom", "start", "end", "strand", "tss"]

_CHROM_ORDER = {f"chr{i}": i for i in range(1, 23)} | {"chrX": 23, "chrY": 24, "chrM": 25}


def chrom_rank(chroms: pd.Series) -> pd.Series:
    """Natural chromosome order (chr1..chr22, chrX, chrY, chrM, then others by name)."""
    ranks = chroms.map(_CHROM_ORDER)
    if ranks.isna().any():
        others = sorted(set(chroms[ranks.isna()]))
        ranks = ranks.fillna(chroms.map({c: 100 + i for i, c in enumerate(others)}))
    return ranks.astype(int)


def sort_by_position(df: pd.DataFrame, chrom_col: str, pos_col: str,
                     then: list[str] | None = None) -> pd.DataFrame:
    """Rows sorted by chromosome (natural order), position, then ``then`` (tabix needs it)."""
    keys = df.assign(_rank=chrom_rank(df[chrom_col]))
    return (keys.sort_values(["_rank", pos_col, *(then or [])], kind="mergesort")
            .drop(columns="_rank").reset_index(drop=True))


def read_genes(path) -> pd.DataFrame:
    """The reference stage's genes.tsv, indexed by gene_id."""
    path = Path(path)
    try:
        genes = pd.read_csv(path, sep="\t", dtype={"gene_id": str, "gene_name": str,
                                                     "chrom": str})
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise KgpexError(f"{path}: cannot read gene table ({err})") from err
    missing = [c for c in GENES_COLUMNS if c not in genes.columns]
    if missing:
        raise KgpexError(f"{path}: column '{missing[0]}' missing")
    dup = genes["gene_id"][genes["gene_id"].duplicated()]
    if len(dup):
        raise KgpexError(f"{path} line {dup.index[0] + 2}: gene_id '{dup.iloc[0]}' repeats")
    return genes.set_index("gene_id")


def _gene_annotation(genes: pd.DataFrame, gene_ids: pd.Series, label: str) -> pd.DataFrame:
    unknown = pd.Index(gene_ids.unique()).difference(genes.index)
    if len(unknown):
        raise KgpexError(f"{label}: gene '{unknown[0]}' is not in the gene table "
                         f"({len(unknown)} unknown genes)")
    return genes.loc[gene_ids.to_numpy()]


def split_variant_ids(variant_ids: pd.Series) -> pd.DataFrame:
    """``chrom pos ref alt`` of ``chrom:pos:ref:alt`` IDs (each distinct ID parsed once)."""
    codes, uniques = pd.factorize(variant_ids)
    parts = pd.Series(uniques).str.split(":", expand=True, n=3)
    if parts.shape[1] != 4 or parts.isna().any().any():
        bad = uniques[int(np.where(parts.isna().any(axis=1))[0][0])] if parts.shape[1] == 4 \
            else uniques[0]
        raise KgpexError(f"variant ID '{bad}' is not chrom:pos:ref:alt")
    pos = pd.to_numeric(parts[1], errors="coerce")
    if pos.isna().any():
        raise KgpexError(f"variant ID '{uniques[int(np.where(pos.isna())[0][0])]}' "
                         "has a non-numeric position")
    out = pd.DataFrame({
        "chrom": parts[0].to_numpy()[codes], "pos": pos.astype(np.int64).to_numpy()[codes],
        "ref": parts[2].to_numpy()[codes], "alt": parts[3].to_numpy()[codes],
    })
    out.index = variant_ids.index
    return out


def minor_allele_frequency(af) -> np.ndarray:
    """min(af, 1 - af), in the input's float type (tensorQTL's af is float32)."""
    af = np.asarray(af)
    if not np.issubdtype(af.dtype, np.floating):
        af = af.astype(float)
    return np.minimum(af, af.dtype.type(1) - af)


def ref_factor(af) -> np.ndarray:
    """1 where ALT is the minor allele (af <= 0.5, as GTEx), else -1."""
    return np.where(np.asarray(af, dtype=float) <= 0.5, 1, -1)


def _rsid(variant_ids: pd.Series, rsids: pd.Series | None) -> pd.Series:
    if rsids is None:
        return pd.Series("NA", index=variant_ids.index)
    return variant_ids.map(rsids).fillna("NA")


# --- dbSNP ---------------------------------------------------------------------------------


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


# --- tables --------------------------------------------------------------------------------


def permutation_table(cis_genes: pd.DataFrame, genes: pd.DataFrame,
                      rsids: pd.Series | None = None) -> pd.DataFrame:
    """MAGE's permutation_pass table (23 columns), sorted by gene chromosome and TSS."""
    if "qval" not in cis_genes.columns or "pval_nominal_threshold" not in cis_genes.columns:
        raise KgpexError("permutation table: qval and pval_nominal_threshold are required")
    ann = _gene_annotation(genes, cis_genes["phenotype_id"], "permutation table")
    out = pd.DataFrame({
        "geneChrom": ann["chrom"].to_numpy(),
        "geneChromTSS": ann["tss"].astype(np.int64).to_numpy(),
        "ensemblID": cis_genes["phenotype_id"].to_numpy(),
        "geneSymbol": ann["gene_name"].to_numpy(),
    })
    for column in ("num_var", "beta_shape1", "beta_shape2", "true_df", "pval_true_df"):
        out[column] = cis_genes[column].to_numpy()
    out["top_kgpID"] = cis_genes["variant_id"].to_numpy()
    out["top_rsID"] = _rsid(out["top_kgpID"], rsids).to_numpy()
    out["tss_distance"] = cis_genes["start_distance"].to_numpy()
    out["ma_samples"] = cis_genes["ma_samples"].to_numpy()
    out["ma_count"] = cis_genes["ma_count"].to_numpy()
    out["maf"] = minor_allele_frequency(cis_genes["af"])
    out["ref_factor"] = ref_factor(cis_genes["af"])
    for column in ("pval_nominal", "slope", "slope_se", "pval_perm", "pval_beta", "qval",
                   "pval_nominal_threshold"):
        out[column] = cis_genes[column].to_numpy()
    return sort_by_position(out[PERMUTATION_COLUMNS], "geneChrom", "geneChromTSS",
                            then=["ensemblID"])


def significant_pairs(pairs: pd.DataFrame, cis_genes: pd.DataFrame, fdr: float) -> pd.DataFrame:
    """Nominal pairs of eGenes (qval <= fdr) with pval_nominal < their gene's threshold."""
    egene = cis_genes.loc[cis_genes["qval"] <= fdr]
    threshold = egene.set_index("phenotype_id")["pval_nominal_threshold"]
    gene_threshold = pairs["phenotype_id"].map(threshold)
    return pairs[gene_threshold.notna() & (pairs["pval_nominal"] < gene_threshold)]


def nominal_table(pairs: pd.DataFrame, genes: pd.DataFrame,
                  rsids: pd.Series | None = None) -> pd.DataFrame:
    """MAGE's nominal_pass table (15 columns), sorted by variant position then gene."""
    ann = _gene_annotation(genes, pairs["phenotype_id"], "nominal table")
    var = split_variant_ids(pairs["variant_id"].reset_index(drop=True))
    out = pd.DataFrame({
        "variantChrom": var["chrom"].to_numpy(), "variantPosition": var["pos"].to_numpy(),
        "variantRef": var["ref"].to_numpy(), "variantAlt": var["alt"].to_numpy(),
        "variant_kgpID": pairs["variant_id"].to_numpy(),
    })
    out["variant_rsID"] = _rsid(out["variant_kgpID"], rsids).to_numpy()
    out["ensemblID"] = pairs["phenotype_id"].to_numpy()
    out["geneSymbol"] = ann["gene_name"].to_numpy()
    out["tss_distance"] = pairs["start_distance"].to_numpy()
    out["ma_samples"] = pairs["ma_samples"].to_numpy()
    out["ma_count"] = pairs["ma_count"].to_numpy()
    out["maf"] = minor_allele_frequency(pairs["af"])
    for column in ("pval_nominal", "slope", "slope_se"):
        out[column] = pairs[column].to_numpy()
    return sort_by_position(out[NOMINAL_COLUMNS], "variantChrom", "variantPosition",
                            then=["ensemblID"])


def summary_table(filtered_gene_ids: Iterable[str], genes: pd.DataFrame,
                  cis_genes: pd.DataFrame, significant_counts: pd.Series,
                  credible_set_counts: pd.Series, fdr: float) -> pd.DataFrame:
    """One row per gene that passed the expression filter (MAGE's eQTL_summary).

    A gene the mapper did not test (no variant in its cis window) has variantsTested 0.
    """
    ids = pd.Series(list(filtered_gene_ids), dtype=object)
    ann = _gene_annotation(genes, ids, "eQTL summary")
    tested = cis_genes.set_index("phenotype_id")
    out = pd.DataFrame({
        "ensemblID": ids.to_numpy(), "geneSymbol": ann["gene_name"].to_numpy(),
        "variantsTested": ids.map(tested["num_var"]).fillna(0).astype(np.int64).to_numpy(),
        "significantAssocs": ids.map(significant_counts).fillna(0).astype(np.int64).to_numpy(),
        "is_eGene": np.where(ids.map(tested["qval"]).le(fdr).to_numpy(), "TRUE", "FALSE"),
        "finemappedCredibleSets": ids.map(credible_set_counts).fillna(0).astype(np.int64)
        .to_numpy(),
    })
    return out[SUMMARY_COLUMNS]


def credible_set_table(credible_sets: pd.DataFrame, genes: pd.DataFrame) -> pd.DataFrame:
    """MAGE's credibleSet_summary: one row per credible set (named L1..L{L})."""
    ann = _gene_annotation(genes, credible_sets["phenotype_id"], "credible sets")
    out = pd.DataFrame({
        "ensemblID": credible_sets["phenotype_id"].to_numpy(),
        "geneSymbol": ann["gene_name"].to_numpy(),
        "credibleSet": credible_sets["cs_id"].to_numpy(),
        "numVariants": credible_sets["num_variants"].astype(np.int64).to_numpy(),
        "coverage": credible_sets["coverage"].to_numpy(),
        "minCorr": credible_sets["min_abs_corr"].to_numpy(),
        "meanCorr": credible_sets["mean_abs_corr"].to_numpy(),
        "medianCorr": credible_sets["median_abs_corr"].to_numpy(),
    })
    order = out["credibleSet"].str[1:].astype(int) if len(out) else out["credibleSet"]
    return (out.assign(_n=order).sort_values(["ensemblID", "_n"], kind="mergesort")
            .drop(columns="_n").reset_index(drop=True)[CREDIBLE_SET_COLUMNS])


def finemapping_table(pips: pd.DataFrame, genes: pd.DataFrame,
                      rsids: pd.Series | None = None) -> pd.DataFrame:
    """MAGE's fine-mapping allAssociations: every variant's PIP; credible set or NA."""
    ann = _gene_annotation(genes, pips["phenotype_id"], "fine-mapping PIPs")
    var = split_variant_ids(pips["variant_id"].reset_index(drop=True))
    out = pd.DataFrame({
        "variantChrom": var["chrom"].to_numpy(), "variantPosition": var["pos"].to_numpy(),
        "variantRef": var["ref"].to_numpy(), "variantAlt": var["alt"].to_numpy(),
        "variant_kgpID": pips["variant_id"].to_numpy(),
    })
    out["variant_rsID"] = _rsid(out["variant_kgpID"], rsids).to_numpy()
    out["ensemblID"] = pips["phenotype_id"].to_numpy()
    out["geneSymbol"] = ann["gene_name"].to_numpy()
    out["variantPIP"] = pips["pip"].to_numpy()
    out["variantCredibleSet"] = pips["cs_id"].fillna("NA").to_numpy()
    return sort_by_position(out[FINEMAPPING_COLUMNS], "variantChrom", "variantPosition",
                            then=["ensemblID"])


# --- writing -------------------------------------------------------------------------------


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


# --- from the intermediate files -------------------------------------------------------------


def _by_chromosome(paths) -> list[Path]:
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
    from kgpex.qtl import NOMINAL_COLUMNS as PAIR_COLUMNS

    significant = []

    def chunks():
        for path in _by_chromosome(pair_paths):
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
    from kgpex.io import write_table
    from kgpex.qtl import CREDIBLE_SET_COLUMNS as CS_COLUMNS
    from kgpex.qtl import PIP_COLUMNS

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
