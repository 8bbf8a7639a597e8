"""kgpex.common.genome: the one chromosome order, used by the genes table, the BEDs and MAGE's tables."""

import pandas as pd

from kgpex.common.genome import chrom_rank, chrom_sort_key, sort_by_position
from kgpex.reference.annotation import parse_gtf

ORDER = ["chr1", "chr2", "chr10", "chr22", "chrX", "chrY", "chrM", "chrEBV", "chrUn_KI270742v1"]


def test_chrom_sort_key_natural_order_with_y_before_m():
    shuffled = ["chrM", "chr10", "chrUn_KI270742v1", "chrY", "chr2", "chrEBV", "chrX", "chr22", "chr1"]
    assert sorted(shuffled, key=chrom_sort_key) == ORDER
    # Without the chr prefix the same order (MT is M).
    assert sorted(["MT", "Y", "X", "10", "2"], key=chrom_sort_key) == ["2", "10", "X", "Y", "MT"]


def test_chrom_rank_and_sort_by_position_agree_with_the_key():
    df = pd.DataFrame({"chrom": ["chrM", "chrY", "chr2", "chr10", "chr2"], "pos": [5, 9, 7, 1, 3],
                       "id": ["m", "y", "b", "t", "a"]})
    assert chrom_rank(df["chrom"]).tolist() == [3, 2, 0, 1, 0]
    assert sort_by_position(df, "chrom", "pos", then=["id"])["id"].tolist() == ["a", "b", "t", "y", "m"]


def test_gtf_genes_follow_the_same_order(tmp_path):
    # annotation.py used to put chrM before chrY (by name); the genes table now uses the one order.
    gtf = tmp_path / "a.gtf"
    rows = []
    for i, chrom in enumerate(["chrM", "chrY", "chr2", "chrX"]):
        attrs = (f'gene_id "ENSG{i}.1"; gene_type "protein_coding"; gene_name "G{i}";')
        rows.append(f"{chrom}\tHAVANA\tgene\t100\t200\t.\t+\t.\t{attrs}")
    gtf.write_text("\n".join(rows) + "\n")
    genes = parse_gtf(gtf).genes
    assert [g.chrom for g in genes] == ["chr2", "chrX", "chrY", "chrM"]
