"""kgpex.sqtl.gene_level and kgpex.sqtl.tables: MAGE's sQTL layouts, thresholds, the BED prefix
and the per-gene merge of intron credible sets."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pysam
import pytest

from kgpex.common.errors import KgpexError
from kgpex.eqtl import inputs as eqtl_inputs
from kgpex.sqtl import gene_level, tables

# Two genes; gene G1 has introns I1, I2, I3, gene G2 has I4.
I1 = "chr1:100:200:clu_1_+:G1"
I2 = "chr1:150:250:clu_1_+:G1"
I3 = "chr1:300:400:clu_2_+:G1"
I4 = "chr1:150:250:clu_3_-:G2"
GROUPS = pd.Series(["G1", "G1", "G1", "G2"], index=pd.Index([I1, I2, I3, I4], name="phenotype_id"),
                   name="group_id")


def v(pos: int) -> str:
    return f"chr1:{pos}:A:G"


def assoc(rows) -> pd.DataFrame:
    """significantAssociations rows from (intron, cs, position, pip); geneID left wrong on
    purpose (the intron, as MAGE's published collate step wrote it)."""
    return pd.DataFrame({
        "intronID": [r[0] for r in rows], "geneID": [r[0] for r in rows],
        "variantID": [v(r[2]) for r in rows], "variantPIP": [r[3] for r in rows],
        "variantCredibleSet": [r[1] for r in rows],
    })


def summary(rows) -> pd.DataFrame:
    return pd.DataFrame({"intronID": [r[0] for r in rows], "credibleSet": [r[1] for r in rows],
                         "coverage": [r[2] for r in rows]})


# --- merge ---------------------------------------------------------------------------------

def test_merge_overlapping_chains_and_follows_mage_order():
    sets = [{"a", "b"}, {"x"}, {"b", "c"}, {"c", "d"}, {"y", "x"}, {"z"}]
    assert gene_level.merge_overlapping(sets) == [[0, 2, 3], [1, 4], [5]]
    # MAGE's merge_sets removes the first set *equal* to the absorbed one: {a} absorbing its
    # superset {a, c} is itself removed, so the merged set takes {a, c}'s later place.
    assert gene_level.merge_overlapping([{"a"}, {"b"}, {"a", "c"}]) == [[1], [0, 2]]
    assert gene_level.merge_overlapping([{"a", "d"}, {"b"}, {"a", "c"}]) == [[0, 2], [1]]


def test_chain_merges_a_b_c_disjoint_stays_alone_genes_never_merge():
    # A (I1,L1) and C (I3,L1) are disjoint but both overlap B (I2,L1): one merged set.
    # D (I1,L2) is disjoint; E (I4,L1) shares v(10) with A but is in another gene.
    rows = [
        (I1, "L1", 10, 0.6), (I1, "L1", 20, 0.3),
        (I1, "L2", 90, 0.9),
        (I2, "L1", 20, 0.5), (I2, "L1", 30, 0.4),
        (I3, "L1", 30, 0.7), (I3, "L1", 40, 0.2),
        (I4, "L1", 10, 0.99),
    ]
    cs = summary([(I1, "L1", 0.96), (I1, "L2", 0.99), (I2, "L1", 0.97), (I3, "L1", 0.95),
                  (I4, "L1", 0.98)])
    merged, lead = gene_level.gene_merged_tables(assoc(rows), cs, GROUPS)
    assert list(merged.columns) == gene_level.MERGED_ASSOCIATION_COLUMNS
    assert list(lead.columns) == gene_level.LEAD_VARIANT_COLUMNS
    g1 = merged[merged["geneID"] == "G1"]
    assert g1.groupby("mergedCredibleSet")["variantID"].apply(list).to_dict() == {
        "M1": [v(10), v(20), v(30), v(40)], "M2": [v(90)]}
    g2 = merged[merged["geneID"] == "G2"]
    assert g2[["variantID", "mergedCredibleSet", "intronIDs"]].values.tolist() == [
        [v(10), "M1", f"{I4},L1"]]
    # intronIDs: the sorted ";"-joined keys of the gene that hold the variant.
    row20 = g1[g1["variantID"] == v(20)].iloc[0]
    assert row20["intronIDs"] == f"{I1},L1;{I2},L1"
    # Lead of M1: highest coverage is (I2,L1) 0.97, then its highest PIP, v(20).
    m1 = lead[(lead["geneID"] == "G1") & (lead["mergedCredibleSet"] == "M1")].iloc[0]
    assert (m1["intronID"], m1["intronCredibleSet"], m1["variantID"]) == (I2, "L1", v(20))
    assert m1["intronCS_coverage"] == 0.97 and m1["intronCS_variantPIP"] == 0.5
    assert m1["mergedIntronSets"] == f"{I1},L1;{I2},L1;{I3},L1"
    assert lead["geneID"].tolist() == ["G1", "G1", "G2"]


def test_without_groups_the_geneid_column_is_used_as_mage_published():
    rows = [(I1, "L1", 10, 0.6), (I2, "L1", 10, 0.5)]
    cs = summary([(I1, "L1", 0.96), (I2, "L1", 0.97)])
    merged, _ = gene_level.gene_merged_tables(assoc(rows), cs)  # geneID = intron: two "genes"
    assert merged["geneID"].tolist() == [I1, I2]
    merged, _ = gene_level.gene_merged_tables(assoc(rows), cs, GROUPS)
    assert merged["geneID"].tolist() == ["G1"]


def test_merged_set_names_follow_first_appearance_and_variants_sort_numerically():
    # I3's set appears first in the table, so it is M1 although I1 sorts first as text.
    rows = [(I3, "L2", 1000, 0.5), (I3, "L2", 999, 0.5), (I1, "L1", 5, 0.9)]
    cs = summary([(I3, "L2", 0.95), (I1, "L1", 0.95)])
    merged, _ = gene_level.gene_merged_tables(assoc(rows), cs, GROUPS)
    assert merged[["variantID", "mergedCredibleSet"]].values.tolist() == [
        [v(999), "M1"], [v(1000), "M1"], [v(5), "M2"]]


def test_lead_coverage_then_pip_and_ties():
    # Equal coverage: the key last in text order wins (I2 > I1); equal PIP: the later row wins.
    rows = [(I1, "L1", 10, 0.9), (I2, "L1", 10, 0.4), (I2, "L1", 20, 0.4), (I2, "L1", 5, 0.1)]
    cs = summary([(I1, "L1", 0.96), (I2, "L1", 0.96)])
    _, lead = gene_level.gene_merged_tables(assoc(rows), cs, GROUPS)
    assert lead[["intronID", "variantID"]].values.tolist() == [[I2, v(20)]]
    # A higher coverage beats a higher PIP elsewhere.
    cs = summary([(I1, "L1", 0.99), (I2, "L1", 0.96)])
    _, lead = gene_level.gene_merged_tables(assoc(rows), cs, GROUPS)
    assert lead[["intronID", "variantID", "intronCS_variantPIP"]].values.tolist() == [
        [I1, v(10), 0.9]]


def test_gene_level_errors_are_one_line():
    rows = [(I1, "L1", 10, 0.9)]
    with pytest.raises(KgpexError, match="not in the credible-set summary"):
        gene_level.gene_merged_tables(assoc(rows), summary([(I2, "L1", 0.9)]), GROUPS)
    bad = assoc([("chrZ:1:2:clu_9_+:GX", "L1", 10, 0.9)])
    with pytest.raises(KgpexError, match="not in the phenotype groups"):
        gene_level.gene_merged_tables(bad, summary([("chrZ:1:2:clu_9_+:GX", "L1", 0.9)]),
                                      GROUPS)


# --- permutation and nominal tables ---------------------------------------------------------

def grouped_cis() -> pd.DataFrame:
    return pd.DataFrame({
        "phenotype_id": [I2, I4, I3], "num_var": [10, 20, 5],
        "beta_shape1": [1.0, 1.1, 1.2], "beta_shape2": [100.0, 200.0, 300.0],
        "true_df": [50.0, 51.0, 52.0], "pval_true_df": [1e-3, 0.5, 0.4],
        "variant_id": [v(120), v(300), v(350)], "start_distance": [20, -50, 0],
        "ma_samples": [5, 6, 7], "ma_count": [5, 7, 8],
        "af": np.array([0.7, 0.5, 0.2], dtype=np.float32),
        "pval_nominal": [1e-8, 0.3, 0.2], "slope": [0.5, -0.1, 1.0],
        "slope_se": [0.1, 0.1, 0.1], "pval_perm": [1e-3, 0.6, 0.5],
        "pval_beta": [1e-4, 0.05, np.nan],
        "group_id": ["G1", "G2", "G3"], "group_size": [3, 1, 1],
        # G2's qval equals the FDR: an sGene (<=).
        "qval": [0.01, 0.05, np.nan], "pval_nominal_threshold": [1e-4, 2e-4, 3e-4],
    })


def test_permutation_table_columns_and_conversion():
    out = tables.permutation_table(grouped_cis())
    assert list(out.columns) == [
        "gene_id", "num_var", "beta_shape1", "beta_shape2", "true_df", "pval_true_df",
        "variant_id", "tss_distance", "ma_samples", "ma_count", "maf", "ref_factor",
        "pval_nominal", "slope", "slope_se", "pval_perm", "pval_beta", "group_id", "group_size",
        "qval", "pval_nominal_threshold"]
    assert out.columns[17] == "group_id"  # get_sig_results.py reads it as index_col=17
    assert out["gene_id"].tolist() == [I2, I4]  # no pval_beta: dropped as the R script does
    assert out["maf"].tolist() == pytest.approx([0.3, 0.5])
    assert out["ref_factor"].tolist() == [-1, 1]
    assert out["tss_distance"].tolist() == [20, -50]
    assert out["group_size"].tolist() == [3, 1]


def test_significant_genes_qval_boundary():
    perm = tables.permutation_table(grouped_cis())
    assert tables.significant_genes(perm, 0.05) == ["G1", "G2"]
    assert tables.significant_genes(perm, 0.0499) == ["G1"]
    with pytest.raises(KgpexError, match="not between 0 and 1"):
        tables.significant_genes(perm, 5)


def native_pairs() -> pd.DataFrame:
    return pd.DataFrame({
        "phenotype_id": [I1, I1, I2, I3, I4, I4],
        "variant_id": [v(120), v(130), v(120), v(350), v(300), v(310)],
        "start_distance": [20, 30, 20, 50, -50, -40],
        "af": np.array([0.7, 0.1, 0.7, 0.2, 0.5, 0.4], dtype=np.float32),
        "ma_samples": [5, 2, 5, 7, 6, 6], "ma_count": [5, 2, 5, 8, 7, 7],
        # I1/I2/I3 -> G1 (threshold 1e-4): exactly 1e-4 is not significant (strict <).
        # I4 -> G2 (threshold 2e-4).
        "pval_nominal": [1e-4, 9.99e-5, 1e-9, 1e-6, 1.9e-4, 0.01],
        "slope": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6], "slope_se": [0.1] * 6,
    })


def test_nominal_table_columns_and_significant_pairs_boundary():
    nominal = tables.nominal_table(native_pairs())
    assert list(nominal.columns) == ["gene_id", "variant_id", "tss_distance", "ma_samples",
                                     "ma_count", "maf", "pval_nominal", "slope", "slope_se"]
    assert nominal["maf"].tolist() == pytest.approx([0.3, 0.1, 0.3, 0.2, 0.5, 0.4])
    perm = tables.permutation_table(grouped_cis())
    sig = tables.significant_pairs(nominal, perm, GROUPS, 0.05)
    assert list(sig.columns) == tables.NOMINAL_COLUMNS
    assert sig[["gene_id", "variant_id"]].values.tolist() == [
        [I1, v(130)], [I2, v(120)], [I3, v(350)], [I4, v(300)]]
    # G2 is no sGene at a stricter FDR: its pairs go, whatever their p-value.
    sig = tables.significant_pairs(nominal, perm, GROUPS, 0.04)
    assert set(sig["gene_id"]) == {I1, I2, I3}
    # The native layout is filtered the same way.
    native = tables.significant_pairs(native_pairs(), perm, GROUPS, 0.05)
    assert native["phenotype_id"].tolist() == [I1, I2, I3, I4]
    with pytest.raises(KgpexError, match="not in the phenotype groups"):
        tables.significant_pairs(nominal.assign(gene_id="chr9:1:2:clu_1_+:GX"), perm, GROUPS)


# --- BED prefix -----------------------------------------------------------------------------

BED = """#chr\tstart\tend\tID\tS1
chr1\t999\t1000\t{I1}\t0.1
chr1\t999\t1000\t{I2}\t0.2
chr1\t999\t1000\t{I3}\t0.3
chr1\t4999\t5000\t{I4}\t0.4
"""


@pytest.fixture()
def positions(tmp_path):
    path = tmp_path / "introns.bed.gz"
    with gzip.open(path, "wt") as fh:
        fh.write(BED.format(I1=I1, I2=I2, I3=I3, I4=I4))
    return tables.read_phenotype_positions(path)


def test_bed_prefix_values_and_order(positions):
    nominal = tables.nominal_table(native_pairs())
    shuffled = nominal.iloc[[4, 0, 5, 1, 2, 3]]
    out = tables.with_bed_coordinates(shuffled, positions)
    assert list(out.columns) == tables.BED_COLUMNS + tables.NOMINAL_COLUMNS
    assert out[["geneChrom", "geneStart", "geneEnd", "gene_id", "variant_id"]].values.tolist() \
        == [["chr1", 999, 1000, I1, v(120)], ["chr1", 999, 1000, I1, v(130)],
            ["chr1", 999, 1000, I2, v(120)], ["chr1", 999, 1000, I3, v(350)],
            ["chr1", 4999, 5000, I4, v(300)], ["chr1", 4999, 5000, I4, v(310)]]
    perm = tables.with_bed_coordinates(tables.permutation_table(grouped_cis()), positions)
    assert list(perm.columns) == tables.BED_COLUMNS + tables.PERMUTATION_COLUMNS
    assert perm[["geneStart", "gene_id", "group_id"]].values.tolist() == [
        [999, I2, "G1"], [4999, I4, "G2"]]
    with pytest.raises(KgpexError, match="not in the phenotype BED"):
        tables.with_bed_coordinates(nominal.assign(gene_id="chr9:1:2:clu_1_+:GX"), positions)


def test_bed_indexed_file_is_tabix_bed_queryable(positions, tmp_path):
    out = tables.with_bed_coordinates(tables.nominal_table(native_pairs()), positions)
    dest = tmp_path / "nominal.txt.gz"
    tables.write_bed_indexed(out, dest)
    with gzip.open(dest, "rt") as fh:
        assert fh.readline().rstrip("\n").split("\t") == out.columns.tolist()
    tbx = pysam.TabixFile(str(dest))
    # 0-based half-open: [4999, 5000) holds only I4's rows; [998, 999) holds nothing.
    hits = [r.split("\t")[3] for r in tbx.fetch("chr1", 4999, 5000)]
    assert hits == [I4, I4]
    assert list(tbx.fetch("chr1", 998, 999)) == []


def test_phenotype_groups_reader(tmp_path):
    path = tmp_path / "groups.txt"
    path.write_text(f"{I1}\tG1\n{I4}\tG2\n{I1}\tG1\n")
    assert eqtl_inputs.read_phenotype_groups(path).to_dict() == {I1: "G1", I4: "G2"}
    path.write_text(f"{I1}\tG1\n{I1}\tG2\n")
    with pytest.raises(KgpexError, match="more than one group"):
        eqtl_inputs.read_phenotype_groups(path)


# --- fine-mapping collation -----------------------------------------------------------------

def native_sets() -> pd.DataFrame:
    return pd.DataFrame({
        "phenotype_id": [I2, I2, I1], "cs_id": ["L1", "L2", "L1"], "num_variants": [2, 1, 1],
        "coverage": [0.96, 0.97, 0.99], "min_abs_corr": [0.6, 0.9, 1.0],
        "mean_abs_corr": [0.7, 0.9, 1.0], "median_abs_corr": [0.7, 0.9, 1.0],
    })


def native_pips() -> pd.DataFrame:
    return pd.DataFrame({
        "phenotype_id": [I2, I2, I2, I1, I1],
        "variant_id": [v(1), v(2), v(3), v(1), v(2)],
        "pip": [0.5, 0.4, 0.01, 0.98, 0.01], "af": [0.1] * 5,
        "cs_id": ["L1,L2", "L1", None, "L1", None], "converged": True,
    })


def test_credible_set_summary_columns_gene_and_susie_order():
    out = tables.credible_set_summary(native_sets(), GROUPS)
    assert list(out.columns) == ["intronID", "geneID", "credibleSet", "numVariants", "coverage",
                                 "minCorr", "meanCorr", "medianCorr"]
    # Within I2, susieR's order: purer set first (L2, min corr 0.9), then L1.
    assert out[["intronID", "geneID", "credibleSet"]].values.tolist() == [
        [I2, "G1", "L2"], [I2, "G1", "L1"], [I1, "G1", "L1"]]


def test_associations_keep_the_last_set_written():
    out = tables.finemapping_associations(native_pips(), GROUPS, native_sets())
    assert list(out.columns) == ["intronID", "geneID", "variantID", "variantPIP",
                                 "variantCredibleSet"]
    # v(1) of I2 is in L1 and L2; run_susie.R writes L2 then L1 (purity order): L1 stays.
    assert out["variantCredibleSet"].tolist() == ["L1", "L1", "NA", "L1", "NA"]
    assert out["geneID"].unique().tolist() == ["G1"]
    # Without the set table, the highest effect number is last.
    assert tables.finemapping_associations(native_pips(), GROUPS)["variantCredibleSet"] \
        .tolist()[0] == "L2"
    sig = tables.significant_associations(out)
    assert sig[["intronID", "variantID"]].values.tolist() == [[I2, v(1)], [I2, v(2)],
                                                               [I1, v(1)]]


def test_summary_table():
    perm = tables.permutation_table(grouped_cis())
    sig = tables.significant_pairs(tables.nominal_table(native_pairs()), perm, GROUPS)
    sets = tables.credible_set_summary(native_sets(), GROUPS)
    out = tables.summary_table(GROUPS, perm, sig, sets, 0.05)
    assert list(out.columns) == ["geneID", "intronsTested", "variantsTested",
                                 "significantAssocs", "is_sGene", "finemappedCredibleSets"]
    assert out.values.tolist() == [["G1", 3, 10, 3, "TRUE", 3], ["G2", 1, 20, 1, "TRUE", 0]]


def test_write_bgzipped_is_bgzf_and_whole(tmp_path):
    df = pd.DataFrame({"intronID": [I1, I4], "geneID": ["G1", "G2"], "variantPIP": [0.5, None]})
    dest = tmp_path / "t.txt.gz"
    tables.write_bgzipped(df, dest)
    # A BGZF file: gzip magic plus the BC extra field, and pandas reads it back unchanged.
    head = dest.read_bytes()[:16]
    assert head[:2] == b"\x1f\x8b" and head[12:14] == b"BC"
    back = pd.read_csv(dest, sep="\t")
    assert back["intronID"].tolist() == [I1, I4] and back["variantPIP"].isna().tolist() == [False, True]
    assert not list(tmp_path.glob("*.tsv")) and not list(tmp_path.glob(".*"))
