"""kgpex.eqtl.mage_format, mage_files and rsids: MAGE column layouts, renaming, thresholds,
naming, bgzip + tabix."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pysam
import pytest

from kgpex.common.errors import KgpexError
from kgpex.eqtl import mage_files, mage_format
from kgpex.eqtl import rsids as eqtl_rsids

GENES = pd.DataFrame({
    "gene_id": ["ENSG01.1", "ENSG02.3", "ENSG03.2"],
    "gene_name": ["AAA", "BBB", "CCC"],
    "gene_type": "protein_coding",
    "chrom": ["chr2", "chr10", "chr2"],
    "start": [1000, 5000, 90000],
    "end": [2000, 9000, 95000],
    "strand": ["+", "-", "+"],
    "tss": [1000, 9000, 90000],
}).set_index("gene_id")


def cis_genes() -> pd.DataFrame:
    return pd.DataFrame({
        "phenotype_id": ["ENSG02.3", "ENSG03.2", "ENSG01.1"],
        "num_var": [10, 20, 30],
        "beta_shape1": [1.0, 1.1, 1.2], "beta_shape2": [100.0, 200.0, 300.0],
        "true_df": [50.0, 51.0, 52.0], "pval_true_df": [1e-3, 0.5, 1e-9],
        "variant_id": ["chr10:8000:A:G", "chr2:90500:C:T", "chr2:1500:G:GA"],
        "start_distance": [-1000, 500, 500],
        "ma_samples": [5, 6, 7], "ma_count": [5, 7, 8],
        "af": [0.7, 0.5, 0.2],
        "pval_nominal": [1e-5, 0.3, 1e-12], "slope": [0.5, -0.1, 1.0],
        "slope_se": [0.1, 0.1, 0.1], "pval_perm": [1e-3, 0.6, 1e-4],
        "pval_beta": [1e-3, 0.6, 1e-10], "qval": [0.01, 0.7, 1e-8],
        "pval_nominal_threshold": [1e-4, 2e-4, 3e-4],
    })


def pairs() -> pd.DataFrame:
    return pd.DataFrame({
        "phenotype_id": ["ENSG01.1", "ENSG01.1", "ENSG01.1", "ENSG03.2", "ENSG03.2"],
        "variant_id": ["chr2:1500:G:GA", "chr2:900:T:C", "chr2:3000:A:C", "chr2:90500:C:T",
                       "chr2:1500:G:GA"],
        "start_distance": [500, -100, 2000, 500, -88500],
        "af": np.array([0.2, 0.9, 0.4, 0.5, 0.2], dtype=np.float32),
        "ma_samples": [7, 3, 9, 6, 7], "ma_count": [8, 3, 10, 7, 8],
        # Exactly at ENSG01.1's threshold (3e-4): not significant (strictly below is).
        "pval_nominal": [1e-12, 3e-4, 2.9e-4, 1e-6, 0.5],
        "slope": [1.0, 0.2, 0.3, -0.1, 0.0], "slope_se": [0.1, 0.1, 0.1, 0.1, 0.1],
    })


def test_permutation_table_columns_renaming_and_order():
    table = mage_format.permutation_table(cis_genes(), GENES, rsids=pd.Series({"chr2:1500:G:GA": "rs1"}))
    assert list(table.columns) == mage_format.PERMUTATION_COLUMNS and len(table.columns) == 23
    # Sorted by natural chromosome order, then TSS: chr2 before chr10.
    assert list(table["ensemblID"]) == ["ENSG01.1", "ENSG03.2", "ENSG02.3"]
    row = table.set_index("ensemblID").loc["ENSG02.3"]
    assert row["geneChrom"] == "chr10" and row["geneChromTSS"] == 9000  # minus strand: end
    assert row["geneSymbol"] == "BBB" and row["top_kgpID"] == "chr10:8000:A:G"
    assert row["top_rsID"] == "NA" and row["tss_distance"] == -1000
    assert row["maf"] == pytest.approx(0.3) and row["ref_factor"] == -1
    assert table.set_index("ensemblID").loc["ENSG01.1", "top_rsID"] == "rs1"
    assert table["qval"].tolist() == [1e-8, 0.7, 0.01]


def test_ref_factor_is_one_when_alt_is_minor():
    assert mage_format.ref_factor([0.1, 0.5, 0.51, 0.9]).tolist() == [1, 1, -1, -1]
    np.testing.assert_allclose(mage_format.minor_allele_frequency([0.1, 0.9, 0.5]), [0.1, 0.1, 0.5])


def test_permutation_table_needs_qvalues_and_known_genes():
    with pytest.raises(KgpexError, match="qval"):
        mage_format.permutation_table(cis_genes().drop(columns="qval"), GENES)
    with pytest.raises(KgpexError, match="ENSG02.3"):
        mage_format.permutation_table(cis_genes(), GENES.drop(index="ENSG02.3"))


def test_significant_pairs_strictly_below_threshold_of_egenes_only():
    sig = mage_format.significant_pairs(pairs(), cis_genes(), fdr=0.05)
    # ENSG01.1 (eGene, threshold 3e-4): 1e-12 and 2.9e-4 in, 3e-4 out.
    # ENSG03.2 is not an eGene (qval 0.7): its 1e-6 pair is out.
    assert sig["pval_nominal"].tolist() == [1e-12, 2.9e-4]
    assert set(sig["phenotype_id"]) == {"ENSG01.1"}


def test_nominal_table_columns_and_position_sort():
    table = mage_format.nominal_table(pairs(), GENES)
    assert list(table.columns) == mage_format.NOMINAL_COLUMNS and len(table.columns) == 15
    assert table["variantPosition"].tolist() == [900, 1500, 1500, 3000, 90500]
    first = table.iloc[1]
    assert (first["variantChrom"], first["variantRef"], first["variantAlt"]) == ("chr2", "G", "GA")
    assert first["ensemblID"] == "ENSG01.1" and first["geneSymbol"] == "AAA"
    assert table.iloc[0]["maf"] == pytest.approx(0.1, abs=1e-6)
    assert (table["variant_rsID"] == "NA").all()


def test_bad_variant_id_rejected():
    bad = pairs()
    bad.loc[2, "variant_id"] = "rs12345"
    with pytest.raises(KgpexError, match="'rs12345' is not chrom:pos:ref:alt"):
        mage_format.nominal_table(bad, GENES)


def test_summary_one_row_per_filtered_gene():
    table = mage_format.summary_table(
        ["ENSG01.1", "ENSG02.3", "ENSG03.2"], GENES, cis_genes().iloc[:2],
        significant_counts=pd.Series({"ENSG02.3": 4}),
        credible_set_counts=pd.Series({"ENSG02.3": 2}), fdr=0.05)
    assert list(table.columns) == mage_format.SUMMARY_COLUMNS
    rows = table.set_index("ensemblID")
    assert rows.loc["ENSG01.1"].tolist() == ["AAA", 0, 0, "FALSE", 0]  # not tested
    assert rows.loc["ENSG02.3"].tolist() == ["BBB", 10, 4, "TRUE", 2]
    assert rows.loc["ENSG03.2"].tolist() == ["CCC", 20, 0, "FALSE", 0]


def test_credible_set_naming_order_and_columns():
    sets = pd.DataFrame({
        "phenotype_id": ["ENSG01.1", "ENSG01.1", "ENSG02.3"], "cs_id": ["L10", "L2", "L1"],
        "num_variants": [3, 1, 2], "coverage": [0.96, 0.99, 0.97],
        "min_abs_corr": [0.8, 1.0, 0.9], "mean_abs_corr": [0.9, 1.0, 0.95],
        "median_abs_corr": [0.9, 1.0, 0.95],
    })
    table = mage_format.credible_set_table(sets, GENES)
    assert list(table.columns) == mage_format.CREDIBLE_SET_COLUMNS
    assert table["credibleSet"].tolist() == ["L2", "L10", "L1"]
    assert table.iloc[1][["numVariants", "minCorr"]].tolist() == [3, 0.8]


def test_finemapping_table_marks_set_members_and_na():
    pips = pd.DataFrame({
        "phenotype_id": ["ENSG01.1"] * 3, "variant_id": ["chr2:500:A:C", "chr2:900:T:C",
                                                         "chr2:1500:G:GA"],
        "pip": [0.01, 0.6, 0.99], "af": [0.1, 0.2, 0.3], "cs_id": [None, "L1", "L1,L3"],
        "converged": True,
    })
    table = mage_format.finemapping_table(pips, GENES)
    assert list(table.columns) == mage_format.FINEMAPPING_COLUMNS
    assert table["variantCredibleSet"].tolist() == ["NA", "L1", "L1,L3"]
    assert table["variantPIP"].tolist() == [0.01, 0.6, 0.99]


def test_bgzip_tabix_round_trip(tmp_path):
    table = mage_format.nominal_table(pairs(), GENES)
    dest = tmp_path / "all.txt.gz"
    mage_files.write_position_indexed(table, dest, "variantChrom", "variantPosition")
    with gzip.open(dest, "rt") as fh:
        assert fh.readline().rstrip("\n").split("\t") == mage_format.NOMINAL_COLUMNS
    rows = list(pysam.TabixFile(str(dest)).fetch("chr2", 1400, 1500))
    assert len(rows) == 2 and all("\t1500\t" in r for r in rows)


def test_streamed_chunks_give_one_indexed_file(tmp_path):
    chr2 = mage_format.nominal_table(pairs(), GENES)
    chr10 = chr2.assign(variantChrom="chr10", variant_kgpID=chr2["variant_kgpID"]
                        .str.replace("chr2:", "chr10:"))
    dest = tmp_path / "stream.txt.gz"
    n = mage_files.write_position_indexed_chunks([chr2, chr10], mage_format.NOMINAL_COLUMNS, dest,
                                         "variantChrom", "variantPosition")
    assert n == 10
    tbx = pysam.TabixFile(str(dest))
    assert list(tbx.contigs) == ["chr2", "chr10"]
    assert len(list(tbx.fetch("chr10", 89999, 90500))) == 1
    back = pd.read_csv(dest, sep="\t", keep_default_na=False)
    assert list(back.columns) == mage_format.NOMINAL_COLUMNS and len(back) == 10


@pytest.mark.parametrize("header,compress", [(True, False), (False, True)])
def test_dbsnp_lookup(tmp_path, header, compress):
    lines = ["#comment"] + (["chrom\tpos\tref\talt\trsid"] if header else []) + [
        "2\t1500\tG\tGA\trs1", "chr2\t1500\tG\tGT\trs2", "2\t900\tT\tC\trs3",
        "2\t900\tT\tC\trs33", "10\t8000\tA\tG\trs4", "3\t1\tA\tC\trs5",
    ]
    path = tmp_path / ("dbsnp.tsv.gz" if compress else "dbsnp.tsv")
    with (gzip.open(path, "wt") if compress else open(path, "w")) as fh:
        fh.write("\n".join(lines) + "\n")
    rsids = eqtl_rsids.read_dbsnp(path, ["chr2:1500:G:GA", "chr2:900:T:C", "chr10:8000:A:G",
                                 "chr2:3000:A:C"], chunksize=2)
    assert rsids.to_dict() == {"chr2:1500:G:GA": "rs1", "chr2:900:T:C": "rs3,rs33",
                               "chr10:8000:A:G": "rs4"}


def test_dbsnp_missing_file(tmp_path):
    with pytest.raises(KgpexError, match="eqtl.dbsnp"):
        eqtl_rsids.read_dbsnp(tmp_path / "none.tsv", ["chr2:1:A:C"])
