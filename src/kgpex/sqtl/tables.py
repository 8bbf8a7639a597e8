"""MAGE-style sQTL tables (as DataFrames) from the tensorQTL-native grouped intermediates.

Layouts follow MAGE's analysis_pipeline/06_sQTL_mapping scripts and the GTEx FastQTL wrapper
they ran (francois-a/fastqtl python/merge_chunks.py, R/calculateSignificanceFastQTL.R):
- permutation pass, one row per gene (phenotype group): FastQTL's grouped table, ``gene_id`` =
  the group's best intron, then ``group_id`` (the gene) and ``group_size``, then q-values;
- nominal pass, one row per intron x variant (``gene_id`` = intron ID);
- significant pairs (run_FastQTL/scripts/get_sig_results.py);
- the tabix-ready forms of run_susie/00_index_nominal_results.sh + make_bed.py: the intron's
  BED coordinates (the gene TSS) prepended as geneChrom, geneStart, geneEnd, indexed as
  ``tabix -p bed -S1``;
- fine-mapping collation (collate_cs_results.py, collate_snp_results.py), with geneID taken from
  the phenotype groups; MAGE's published script wrote the intron ID there.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from kgpex.common.errors import KgpexError
from kgpex.common.genome import sort_by_position
from kgpex.common.io import open_text, write_bgzip_indexed
from kgpex.eqtl.mage_format import minor_allele_frequency, ref_factor
from kgpex.eqtl.tables import CIS_COLUMNS, PIP_COLUMNS
from kgpex.eqtl.tables import CREDIBLE_SET_COLUMNS as NATIVE_CS_COLUMNS
from kgpex.eqtl.tables import NOMINAL_COLUMNS as NATIVE_NOMINAL_COLUMNS

# tensorQTL map_cis(group_s=...) adds the group's ID and size to the shared permutation layout.
GROUPED_CIS_COLUMNS = CIS_COLUMNS + ["group_id", "group_size"]

# merge_chunks.py's header (group columns when the chunks have 19 fields) + the R script's two.
PERMUTATION_COLUMNS = [
    "gene_id", "num_var", "beta_shape1", "beta_shape2", "true_df", "pval_true_df", "variant_id",
    "tss_distance", "ma_samples", "ma_count", "maf", "ref_factor", "pval_nominal", "slope",
    "slope_se", "pval_perm", "pval_beta", "group_id", "group_size", "qval",
    "pval_nominal_threshold",
]

NOMINAL_COLUMNS = [
    "gene_id", "variant_id", "tss_distance", "ma_samples", "ma_count", "maf", "pval_nominal",
    "slope", "slope_se",
]

# make_bed.py's prefix: the intron's BED row (chrom, 0-based start, end).
BED_COLUMNS = ["geneChrom", "geneStart", "geneEnd"]

CREDIBLE_SET_COLUMNS = [
    "intronID", "geneID", "credibleSet", "numVariants", "coverage", "minCorr", "meanCorr",
    "medianCorr",
]

ASSOCIATION_COLUMNS = ["intronID", "geneID", "variantID", "variantPIP", "variantCredibleSet"]

SUMMARY_COLUMNS = [
    "geneID", "intronsTested", "variantsTested", "significantAssocs", "is_sGene",
    "finemappedCredibleSets",
]


def _require(df: pd.DataFrame, columns: list[str], what: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise KgpexError(f"{what}: column '{missing[0]}' missing (expected {' '.join(columns)})")


def _check_fdr(fdr: float) -> None:
    if not 0 <= fdr <= 1:
        raise KgpexError(f"sQTL FDR {fdr} is not between 0 and 1")


def read_phenotype_positions(path) -> pd.DataFrame:
    """``chrom start end`` (BED: 0-based start) of each phenotype ID of a phenotype BED.

    As make_bed.py, the first line is the header and columns 1-4 are chrom, start, end, ID.
    """
    try:
        with open_text(path, what="phenotype BED") as fh:
            df = pd.read_csv(fh, sep="\t", usecols=[0, 1, 2, 3], header=0, dtype=str)
    except (OSError, pd.errors.ParserError, ValueError) as err:
        raise KgpexError(f"{path}: cannot read the phenotype BED ({err})") from err
    except pd.errors.EmptyDataError:
        raise KgpexError(f"{path}: phenotype BED is empty") from None
    df.columns = ["chrom", "start", "end", "id"]
    return phenotype_positions(df, str(path))


def phenotype_positions(df: pd.DataFrame, what: str = "phenotype BED") -> pd.DataFrame:
    """``chrom start end`` indexed by phenotype ID, from a table with chrom/start/end/id."""
    _require(df, ["chrom", "start", "end", "id"], what)
    dup = df["id"][df["id"].duplicated()]
    if len(dup):
        raise KgpexError(f"{what}: phenotype '{dup.iloc[0]}' appears twice")
    out = df.set_index("id")[["chrom", "start", "end"]].copy()
    for column in ("start", "end"):
        values = pd.to_numeric(out[column], errors="coerce")
        if values.isna().any():
            raise KgpexError(f"{what}: {column} of '{values.index[values.isna()][0]}' is not "
                             "an integer")
        out[column] = values.astype(np.int64)
    out.index.name = "phenotype_id"
    return out


def permutation_table(cis_groups: pd.DataFrame) -> pd.DataFrame:
    """FastQTL's grouped permutation table (``{prefix}.genes.txt.gz``, PERMUTATION_COLUMNS).

    From the tensorQTL-native grouped table (GROUPED_CIS_COLUMNS + qval,
    pval_nominal_threshold): maf and ref_factor from af as FastQTL computes them (ref_factor -1
    when REF is the minor allele), tss_distance = start_distance. Rows without pval_beta are
    dropped, as calculateSignificanceFastQTL.R drops them. Row order is kept.
    """
    _require(cis_groups, GROUPED_CIS_COLUMNS + ["qval", "pval_nominal_threshold"],
             "grouped permutation table")
    rows = cis_groups[cis_groups["pval_beta"].notna()]
    out = pd.DataFrame({"gene_id": rows["phenotype_id"].to_numpy()})
    for column in ("num_var", "beta_shape1", "beta_shape2", "true_df", "pval_true_df",
                   "variant_id"):
        out[column] = rows[column].to_numpy()
    out["tss_distance"] = rows["start_distance"].to_numpy()
    out["ma_samples"] = rows["ma_samples"].to_numpy()
    out["ma_count"] = rows["ma_count"].to_numpy()
    out["maf"] = minor_allele_frequency(rows["af"])
    out["ref_factor"] = ref_factor(rows["af"])
    for column in ("pval_nominal", "slope", "slope_se", "pval_perm", "pval_beta", "group_id",
                   "group_size", "qval", "pval_nominal_threshold"):
        out[column] = rows[column].to_numpy()
    return out[PERMUTATION_COLUMNS]


def nominal_table(pairs: pd.DataFrame) -> pd.DataFrame:
    """FastQTL's nominal ``allpairs`` table (NOMINAL_COLUMNS; gene_id = intron ID), from the
    tensorQTL-native nominal pairs. Row order is kept."""
    _require(pairs, NATIVE_NOMINAL_COLUMNS, "nominal pairs")
    out = pd.DataFrame({
        "gene_id": pairs["phenotype_id"].to_numpy(),
        "variant_id": pairs["variant_id"].to_numpy(),
        "tss_distance": pairs["start_distance"].to_numpy(),
        "ma_samples": pairs["ma_samples"].to_numpy(),
        "ma_count": pairs["ma_count"].to_numpy(),
        "maf": minor_allele_frequency(pairs["af"]),
    })
    for column in ("pval_nominal", "slope", "slope_se"):
        out[column] = pairs[column].to_numpy()
    return out[NOMINAL_COLUMNS]


def significant_genes(permutation_table: pd.DataFrame, fdr: float = 0.05) -> list[str]:
    """sGenes: group_id of the rows with qval <= fdr, in table order (get_sig_results.py)."""
    _check_fdr(fdr)
    _require(permutation_table, ["group_id", "qval"], "permutation table")
    dup = permutation_table["group_id"][permutation_table["group_id"].duplicated()]
    if len(dup):
        raise KgpexError(f"permutation table: gene '{dup.iloc[0]}' appears twice")
    return permutation_table.loc[permutation_table["qval"] <= fdr, "group_id"].astype(str).tolist()


def _id_column(table: pd.DataFrame, what: str) -> str:
    # FastQTL's layout names the intron gene_id, tensorQTL's phenotype_id.
    for column in ("gene_id", "phenotype_id"):
        if column in table.columns:
            return column
    raise KgpexError(f"{what}: no gene_id or phenotype_id column")


def _genes_of(introns: pd.Series, groups: pd.Series, what: str) -> pd.Series:
    genes = introns.map(groups)
    if genes.isna().any():
        raise KgpexError(f"{what}: intron '{introns[genes.isna()].iloc[0]}' is not in the "
                         "phenotype groups")
    return genes


def significant_pairs(nominal: pd.DataFrame, permutation_table: pd.DataFrame,
                      groups: pd.Series, fdr: float = 0.05) -> pd.DataFrame:
    """Nominal rows whose intron's gene is an sGene with pval_nominal strictly below that gene's
    pval_nominal_threshold (get_sig_results.py). ``nominal`` in either layout (FastQTL or
    tensorQTL-native, BED-prefixed or not); its columns and row order are kept."""
    genes = significant_genes(permutation_table, fdr)
    _require(permutation_table, ["pval_nominal_threshold"], "permutation table")
    threshold = (permutation_table.assign(group_id=permutation_table["group_id"].astype(str))
                 .set_index("group_id")["pval_nominal_threshold"].loc[genes])
    column = _id_column(nominal, "nominal pairs")
    _require(nominal, ["pval_nominal"], "nominal pairs")
    gene_threshold = _genes_of(nominal[column].astype(str), groups, "nominal pairs").map(
        threshold)
    threshold_values = gene_threshold.to_numpy(dtype=float)
    keep = ~np.isnan(threshold_values) & (nominal["pval_nominal"].to_numpy(dtype=float)
                                          < threshold_values)
    return nominal[keep]


def with_bed_coordinates(table: pd.DataFrame, positions: pd.DataFrame,
                         id_column: str = "gene_id") -> pd.DataFrame:
    """``table`` with its intron's BED row prepended as geneChrom, geneStart, geneEnd
    (make_bed.py), sorted by chromosome (natural order), geneStart, geneEnd so that tabix can
    index it; rows at one position keep their order (FastQTL's: intron, then variant)."""
    _require(table, [id_column], "table to position")
    _require(positions, ["chrom", "start", "end"], "phenotype positions")
    ids = table[id_column].astype(str)
    known = ids.isin(positions.index)
    if not known.all():
        raise KgpexError(f"phenotype '{ids[~known].iloc[0]}' is not in the phenotype BED")
    rows = positions.loc[ids.to_numpy()]
    out = pd.DataFrame({"geneChrom": rows["chrom"].to_numpy(),
                        "geneStart": rows["start"].to_numpy(),
                        "geneEnd": rows["end"].to_numpy()})
    for column in table.columns:
        out[column] = table[column].to_numpy()
    return sort_by_position(out, "geneChrom", "geneStart", then=["geneEnd"])


def write_bed_indexed(df: pd.DataFrame, dest) -> None:
    """bgzip + ``tabix -p bed -S1`` (columns 1-3: chrom, 0-based start, end), atomically."""
    if list(df.columns[:3]) != BED_COLUMNS:
        raise KgpexError(f"{dest}: a BED-indexed table starts with {' '.join(BED_COLUMNS)}")
    write_bgzip_indexed(df, dest, seq_col=0, start_col=1, end_col=2, zerobased=True)


def write_bgzipped(df: pd.DataFrame, dest) -> None:
    """A table without positions (the fine-mapping collations: intron, gene and variant IDs),
    bgzipped as MAGE's ``.txt.gz`` files, atomically. Nothing to index: no position column."""
    import pysam

    from kgpex.common.io import atomic_path

    with atomic_path(dest) as tmp:
        plain = tmp.with_suffix(".tsv")
        try:
            df.to_csv(plain, sep="\t", index=False, na_rep="NA")
            pysam.tabix_compress(str(plain), str(tmp), force=True)
        finally:
            plain.unlink(missing_ok=True)


def _effect_number(name: str) -> int:
    """n of SuSiE's effect name L<n>."""
    if not (name.startswith("L") and name[1:].isdigit()):
        raise KgpexError(f"credible set name '{name}' is not L<n>")
    return int(name[1:])


def _susie_order(credible_sets: pd.DataFrame) -> pd.DataFrame:
    """Credible sets ordered as run_susie.R writes them: introns by first appearance, then
    susieR's order within an intron (min_abs_corr decreasing, ties by effect number)."""
    intron_rank = pd.Series(np.arange(credible_sets["phenotype_id"].nunique()),
                            index=pd.unique(credible_sets["phenotype_id"]))
    keyed = credible_sets.assign(
        _intron=credible_sets["phenotype_id"].map(intron_rank).to_numpy(),
        _purity=-credible_sets["min_abs_corr"].astype(float).to_numpy(),
        _n=[_effect_number(n) for n in credible_sets["cs_id"].astype(str)])
    return (keyed.sort_values(["_intron", "_purity", "_n"], kind="mergesort")
            .drop(columns=["_intron", "_purity", "_n"]).reset_index(drop=True))


def credible_set_summary(credible_sets: pd.DataFrame, groups: pd.Series) -> pd.DataFrame:
    """introns.credibleSet_summary (CREDIBLE_SET_COLUMNS) from fine-mapping's credible sets
    (kgpex.eqtl.tables.CREDIBLE_SET_COLUMNS, phenotype_id = intron). Introns without a set have
    no row; rows are in run_susie.R's order (see ``_susie_order``)."""
    _require(credible_sets, NATIVE_CS_COLUMNS, "credible sets")
    sets = _susie_order(credible_sets)
    introns = sets["phenotype_id"].astype(str)
    out = pd.DataFrame({
        "intronID": introns.to_numpy(),
        "geneID": _genes_of(introns, groups, "credible sets").to_numpy(),
        "credibleSet": sets["cs_id"].astype(str).to_numpy(),
        "numVariants": sets["num_variants"].astype(np.int64).to_numpy(),
        "coverage": sets["coverage"].to_numpy(),
        "minCorr": sets["min_abs_corr"].to_numpy(),
        "meanCorr": sets["mean_abs_corr"].to_numpy(),
        "medianCorr": sets["median_abs_corr"].to_numpy(),
    })
    return out[CREDIBLE_SET_COLUMNS]


def _last_credible_set(pips: pd.DataFrame, credible_sets: pd.DataFrame | None) -> pd.Series:
    """One credible set per variant, "NA" when none. run_susie.R writes each set's members in
    susieR's set order, so a variant in several sets keeps the last one written: with
    ``credible_sets`` that order (the lowest min_abs_corr, then the highest effect number);
    without, the highest effect number."""
    cs = pips["cs_id"]
    has = (cs.notna() & ~cs.astype(str).isin(["", "NA"])).to_numpy()
    out = pd.Series("NA", index=pips.index, dtype=object)
    out[has] = cs[has].astype(str)
    several = out.str.contains(",", regex=False)
    if not several.any():
        return out
    rank: dict[tuple[str, str], int] = {}
    if credible_sets is not None:
        _require(credible_sets, NATIVE_CS_COLUMNS, "credible sets")
        ordered = _susie_order(credible_sets)
        for position, (intron, name) in enumerate(zip(ordered["phenotype_id"].astype(str),
                                                      ordered["cs_id"].astype(str))):
            rank[(intron, name)] = position
    chosen = []
    for intron, names in zip(pips.loc[several, "phenotype_id"].astype(str), out[several]):
        names = names.split(",")
        if credible_sets is None:
            chosen.append(max(names, key=_effect_number))
            continue
        unknown = [n for n in names if (intron, n) not in rank]
        if unknown:
            raise KgpexError(f"credible set {unknown[0]} of {intron} is in the PIPs but not in "
                             "the credible sets")
        chosen.append(max(names, key=lambda n: rank[(intron, n)]))
    out[several] = chosen
    return out


def finemapping_associations(pips: pd.DataFrame, groups: pd.Series,
                             credible_sets: pd.DataFrame | None = None) -> pd.DataFrame:
    """introns.allAssociations (ASSOCIATION_COLUMNS): every fine-mapped intron x variant, its PIP
    and its credible set ("NA" when none; one set per variant, see ``_last_credible_set``), from
    kgpex's PIP table (PIP_COLUMNS, phenotype_id = intron). Row order is kept."""
    _require(pips, PIP_COLUMNS, "fine-mapping PIPs")
    introns = pips["phenotype_id"].astype(str)
    out = pd.DataFrame({
        "intronID": introns.to_numpy(),
        "geneID": _genes_of(introns, groups, "fine-mapping PIPs").to_numpy(),
        "variantID": pips["variant_id"].astype(str).to_numpy(),
        "variantPIP": pips["pip"].astype(float).to_numpy(),
        "variantCredibleSet": _last_credible_set(pips, credible_sets).to_numpy(),
    })
    return out[ASSOCIATION_COLUMNS]


def significant_associations(associations: pd.DataFrame) -> pd.DataFrame:
    """introns.significantAssociations: the allAssociations rows with a credible set."""
    _require(associations, ASSOCIATION_COLUMNS, "fine-mapping associations")
    cs = associations["variantCredibleSet"]
    keep = cs.notna() & (cs.astype(str) != "NA")
    return associations[keep.to_numpy()].reset_index(drop=True)


def summary_table(groups: pd.Series, permutation_table: pd.DataFrame,
                  significant: pd.DataFrame, credible_sets: pd.DataFrame,
                  fdr: float = 0.05) -> pd.DataFrame:
    """One row per gene of the phenotype groups (SUMMARY_COLUMNS), in order of first appearance.

    intronsTested = group_size and variantsTested = num_var of the gene's permutation row (0 when
    the gene was not tested); significantAssocs counts its significant intron x variant pairs;
    finemappedCredibleSets counts its introns' credible sets (credibleSet_summary rows).
    """
    _check_fdr(fdr)
    _require(permutation_table, ["group_id", "group_size", "num_var", "qval"],
             "permutation table")
    _require(credible_sets, ["geneID"], "credible-set summary")
    sgenes = set(significant_genes(permutation_table, fdr))  # also rejects repeated genes
    genes = pd.Series(pd.unique(groups.to_numpy()), dtype=object)
    tested = permutation_table.assign(group_id=permutation_table["group_id"].astype(str)) \
        .set_index("group_id")
    column = _id_column(significant, "significant pairs")
    pair_genes = _genes_of(significant[column].astype(str), groups, "significant pairs")
    out = pd.DataFrame({
        "geneID": genes.to_numpy(),
        "intronsTested": genes.map(tested["group_size"]).fillna(0).astype(np.int64).to_numpy(),
        "variantsTested": genes.map(tested["num_var"]).fillna(0).astype(np.int64).to_numpy(),
        "significantAssocs": genes.map(pair_genes.value_counts()).fillna(0).astype(np.int64)
        .to_numpy(),
        "is_sGene": np.where(genes.isin(sgenes).to_numpy(), "TRUE", "FALSE"),
        "finemappedCredibleSets": genes.map(credible_sets["geneID"].astype(str).value_counts())
        .fillna(0).astype(np.int64).to_numpy(),
    })
    return out[SUMMARY_COLUMNS]
