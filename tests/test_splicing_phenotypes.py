"""Splicing phenotypes after LeafCutter clustering, against hand-worked cases: cluster-to-gene
mapping (leafcutter psi_2019 R/utils.R), MAGE's intron filters (filter_quants.py), LeafCutter's
normalisation (scripts/prepare_phenotype_table.py -p 0) and the whole filter_quants.py run."""

from __future__ import annotations

import gzip
from statistics import NormalDist, fmean, pstdev

import numpy as np
import pandas as pd
import pysam
import pytest

from kgpex.common.errors import KgpexError
from kgpex.reference.genes import read_genes
from kgpex.splicing.filters import filter_table, min_distinct_ratios, usage_ratios
from kgpex.splicing.genes import map_clusters_to_genes, read_exons
from kgpex.splicing.normalize import prepare_phenotype_table, qqnorm
from kgpex.splicing.phenotypes import (
    build_splicing_phenotypes,
    read_perind_counts,
    splicing_phenotypes,
    tss_table,
)

INV = NormalDist().inv_cdf


# --- fixtures written in tmp_path ------------------------------------------------------------

def exon_line(chrom, start, end, strand, gene, transcript="T1"):
    attrs = f'gene_id "{gene}"; transcript_id "{transcript}"; gene_name "{gene}N";'
    return f"{chrom}\tHAVANA\texon\t{start}\t{end}\t.\t{strand}\t.\t{attrs}\n"


def write_gtf(path, lines):
    text = "##description: test\n" + "".join(lines)
    with gzip.open(path, "wt") as fh:
        fh.write(text)
    return path


def write_perind(path, names, rows):
    """rows: {intron ID: [num/den text per column]}; LeafCutter's space-separated layout."""
    with gzip.open(path, "wt") as fh:
        fh.write("chrom " + " ".join(names) + "\n")
        for intron, fields in rows.items():
            fh.write(intron + " " + " ".join(fields) + "\n")
    return path


def frame(rows, n_samples):
    """{intron: [(num, den) per sample]} as num and den DataFrames."""
    cols = [f"S{j}" for j in range(n_samples)]
    num = pd.DataFrame({k: [n for n, _ in v] for k, v in rows.items()}, index=cols).T
    den = pd.DataFrame({k: [d for _, d in v] for k, v in rows.items()}, index=cols).T
    return num, den


# --- cluster -> gene mapping ------------------------------------------------------------------

def test_clusters_get_every_gene_their_introns_touch(tmp_path):
    gtf = write_gtf(
        tmp_path / "g.gtf.gz",
        [
            # gene A on +: exons 100-200, 300-400 (listed twice: two transcripts share it)
            exon_line("chr1", 100, 200, "+", "GENEA"),
            exon_line("chr1", 300, 400, "+", "GENEA"),
            exon_line("chr1", 300, 400, "+", "GENEA", transcript="T2"),
            # gene B on -: exons 1500-1600, 2000-2100
            exon_line("chr1", 1500, 1600, "-", "GENEB"),
            exon_line("chr1", 2000, 2100, "-", "GENEB"),
            "chr1\tHAVANA\tgene\t1500\t2100\t.\t-\t.\tgene_id \"GENEB\";\n",
        ],
    )
    exons = read_exons(gtf)
    assert len(exons) == 4  # unique exons; the gene row is not an exon
    assert list(exons.columns) == ["chrom", "start", "end", "strand", "gene_id"]
    introns = [
        "chr1:400:900:clu_1_+",  # start 400 = gene A exon end
        "chr1:450:1500:clu_1_+",  # end 1500 = gene B exon start; B is on '-': strand ignored
        "chr1:460:1450:clu_1_+",  # touches nothing
        "chr1:201:299:clu_2_+",  # one base inside A's exons each side: no match
        "chr1:199:301:clu_3_-",  # one base outside: no match
        "chr1:200:300:clu_4_-",  # A's exon end and exon start: A once
        "chr2:400:1500:clu_5_+",  # A and B coordinates but on chr2
    ]
    assert map_clusters_to_genes(introns, exons) == {
        "chr1:clu_1_+": ["GENEA", "GENEB"],
        "chr1:clu_4_-": ["GENEA"],
    }


def test_gtf_errors_name_file_and_line(tmp_path):
    gtf = write_gtf(tmp_path / "bad.gtf.gz", ["chr1\tX\texon\t10\tabc\t.\t+\t.\tgene_id \"G\";\n"])
    with pytest.raises(KgpexError, match=r"bad\.gtf\.gz line 2"):
        read_exons(gtf)


# --- MAGE's filters ---------------------------------------------------------------------------

def test_min_distinct_ratios():
    assert [min_distinct_ratios(n) for n in (5, 10, 99, 100, 109, 110, 731)] == [
        10, 10, 10, 10, 10, 11, 73
    ]


def test_usage_ratio_is_zero_without_reads():
    num, den = frame({"i": [(1, 4), (0, 0), (3, 3)]}, 3)
    assert usage_ratios(num, den).loc["i"].tolist() == [0.25, 0.0, 1.0]


def _ratio_rows(n_samples=100):
    """Ratio rows (n_samples = 100: at least 10 distinct, at most 90% zeros), each made so that
    exactly one rule decides."""
    k = np.arange(n_samples)
    rows = {}
    # 90 zeros (fraction 0.9, allowed) + 10 distinct non-zero -> 11 distinct: kept
    rows["zeros_90"] = np.r_[np.zeros(90), np.arange(1, 11) / 20]
    # 91 zeros (0.91) + 9 distinct non-zero -> 10 distinct: removed by the zero rule only
    rows["zeros_91"] = np.r_[np.zeros(91), np.arange(1, 10) / 20]
    # no zeros, exactly 10 distinct values: kept; 9 distinct: removed by the distinct rule only
    rows["distinct_10"] = (k % 10 + 1) / 20
    rows["distinct_9"] = (k % 9 + 1) / 20
    # 97 values in 0.500..0.509 and 3 zeros: the 97 have |z| < 0.25 (>= N - 3), no |z| > 6
    rows["low_complexity"] = np.r_[np.zeros(3), 0.5 + (k[:97] % 10) / 1000]
    # 96 near-constant values and 4 zeros: only 96 small |z|, so not low complexity: kept
    rows["four_outliers"] = np.r_[np.zeros(4), 0.5 + (k[:96] % 10) / 1000]
    # constant: z is NaN (SD 0), the low-complexity rule does not fire; 1 distinct value does
    rows["constant"] = np.full(n_samples, 0.5)
    return pd.DataFrame(rows).T


def test_each_filter_rule_alone():
    ratios = _ratio_rows()
    table = filter_table(ratios, pct_cutoff=10)
    # the hand reasoning behind the low-complexity rows
    z = (ratios.T - ratios.mean(axis=1)) / ratios.std(axis=1, ddof=1)
    assert (z["low_complexity"].abs() < 0.25).sum() == 97
    assert (z["low_complexity"].abs() > 6).sum() == 0
    assert (z["four_outliers"].abs() < 0.25).sum() == 96

    assert table.loc["zeros_90", "zero_fraction"] == 0.9
    assert table.loc["zeros_90", "n_distinct"] == 11
    assert table.loc["zeros_91", "n_distinct"] == 10
    assert table.loc["distinct_10", "n_distinct"] == 10
    assert table.loc["distinct_9", "n_distinct"] == 9
    assert table["pass_nonzero"].to_dict() == {
        "zeros_90": True, "zeros_91": False, "distinct_10": True, "distinct_9": True,
        "low_complexity": True, "four_outliers": True, "constant": True,
    }
    assert table["pass_distinct"].to_dict() == {
        "zeros_90": True, "zeros_91": True, "distinct_10": True, "distinct_9": False,
        "low_complexity": True, "four_outliers": True, "constant": False,
    }
    assert table["low_complexity"].to_dict() == {
        "zeros_90": False, "zeros_91": False, "distinct_10": False, "distinct_9": False,
        "low_complexity": True, "four_outliers": False, "constant": False,
    }
    assert list(table.index[table["keep"]]) == ["zeros_90", "distinct_10", "four_outliers"]


def test_low_complexity_z_uses_the_sample_sd():
    # 10 samples, 10 distinct ratios; with ddof=1 seven have |z| < 0.25 (the largest 0.2399),
    # so the intron is low complexity; with ddof=0 that one would be 0.2529 and it would stay.
    row = [0.500, 0.501, 0.502, 0.503, 0.504, 0.505, 0.612, 0.05, 0.9, 0.95]
    ratios = pd.DataFrame([row], index=["i"])
    z = (np.array(row) - np.mean(row)) / np.std(row, ddof=1)
    assert sorted(np.abs(z))[6] == pytest.approx(0.2399, abs=1e-4)
    table = filter_table(ratios)
    assert table.loc["i", "pass_nonzero"] and table.loc["i", "pass_distinct"]
    assert table.loc["i", "low_complexity"] and not table.loc["i", "keep"]


def test_pct_cutoff_moves_the_zero_threshold():
    table = filter_table(_ratio_rows(), pct_cutoff=50)
    assert not table.loc["zeros_90", "pass_nonzero"]  # 0.9 > 0.5


# --- LeafCutter's normalisation ---------------------------------------------------------------

def _avg_ranks(values):
    """Average ranks, 1-based, written out rather than taken from scipy."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for m in range(i, j + 1):
            ranks[order[m]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def test_qqnorm_offset_switches_above_ten():
    ten = qqnorm(np.arange(10.0))
    assert ten[0] == pytest.approx(INV((1 - 3 / 8) / (10 + 1 - 3 / 4)), abs=1e-12)
    eleven = qqnorm(np.arange(11.0))
    assert eleven[0] == pytest.approx(INV((1 - 0.5) / 11), abs=1e-12)
    tied = qqnorm(np.array([3.0, 1.0, 3.0, 2.0]))
    assert tied[0] == tied[2] == pytest.approx(INV((3.5 - 3 / 8) / (4 + 1 - 3 / 4)), abs=1e-12)


def test_normalisation_by_hand_small():
    rows = {
        # one NA of 5 (den 0): imputed with the mean of the other four
        "chr1:1:2:clu_1_+": [(1, 2), (3, 4), (0, 0), (5, 10), (2, 2)],
        # two NA of 5 = 40%: not more than 40%, kept
        "chr1:3:4:clu_1_+": [(0, 0), (0, 0), (1, 1), (2, 3), (3, 3)],
        # three NA of 5: dropped
        "chr1:5:6:clu_2_+": [(0, 0), (0, 0), (0, 0), (1, 2), (1, 1)],
        # all ratios 1: SD 0, dropped
        "chr1:7:8:clu_2_+": [(5, 5)] * 5,
        # SD about 0.0005 < 0.005: dropped
        "chr1:9:10:clu_3_+": [(500, 1000), (501, 1000), (500, 1000), (501, 1000), (500, 1000)],
        # SD about 0.07: kept
        "chr1:11:12:clu_3_+": [(40, 100), (60, 100), (50, 100), (45, 100), (55, 100)],
        # identical to the first intron: ties in every sample
        "chr1:13:14:clu_4_+": [(1, 2), (3, 4), (0, 0), (5, 10), (2, 2)],
    }
    num, den = frame(rows, 5)
    normed, reason = prepare_phenotype_table(num, den)
    assert reason.to_dict() == {
        "chr1:1:2:clu_1_+": "", "chr1:3:4:clu_1_+": "", "chr1:5:6:clu_2_+": "missing",
        "chr1:7:8:clu_2_+": "low_sd", "chr1:9:10:clu_3_+": "low_sd",
        "chr1:11:12:clu_3_+": "", "chr1:13:14:clu_4_+": "",
    }
    kept = ["chr1:1:2:clu_1_+", "chr1:3:4:clu_1_+", "chr1:11:12:clu_3_+", "chr1:13:14:clu_4_+"]
    assert list(normed.index) == kept

    # by hand: pseudocount ratios, NA -> mean of the rest, population z-scores
    a = [1.5 / 2.5, 3.5 / 4.5, None, 5.5 / 10.5, 2.5 / 2.5]
    a[2] = fmean([x for x in a if x is not None])
    b = [None, None, 1.5 / 1.5, 2.5 / 3.5, 3.5 / 3.5]
    b[0] = b[1] = fmean(b[2:])
    f = [40.5 / 100.5, 60.5 / 100.5, 50.5 / 100.5, 45.5 / 100.5, 55.5 / 100.5]
    z = [[(x - fmean(r)) / pstdev(r) for x in r] for r in (a, b, f, a)]
    # sample 1: F lowest, A and its copy tie for 2-3, B highest (its value is its mean: z = 0)
    assert _avg_ranks([row[0] for row in z]) == [2.5, 4.0, 1.0, 2.5]
    for j in range(5):
        ranks = _avg_ranks([row[j] for row in z])
        expected = [INV((r - 3 / 8) / (4 + 1 - 2 * 3 / 8)) for r in ranks]  # n = 4 <= 10
        assert normed.iloc[:, j].tolist() == pytest.approx(expected, abs=1e-12)


def test_normalisation_by_hand_more_than_ten_introns():
    rng = np.random.default_rng(7)
    den = rng.integers(5, 40, size=(12, 6))
    num = np.minimum(rng.integers(0, 40, size=(12, 6)), den)
    num[0, :3] = den[0, :3] = 0  # 3 of 6 NA: dropped
    num[1, 0] = den[1, 0] = 0  # 1 of 6 NA: imputed
    ids = [f"chr2:{i}:{i + 1}:clu_{i}_+" for i in range(12)]
    cols = [f"S{j}" for j in range(6)]
    normed, reason = prepare_phenotype_table(
        pd.DataFrame(num, ids, cols), pd.DataFrame(den, ids, cols)
    )
    assert reason.iloc[0] == "missing" and (reason.iloc[1:] == "").all()
    rows = []
    for i in range(1, 12):
        r = [(n + 0.5) / (d + 0.5) if d >= 1 else None for n, d in zip(num[i], den[i])]
        mean = fmean([x for x in r if x is not None])
        r = [mean if x is None else x for x in r]
        rows.append([(x - fmean(r)) / pstdev(r) for x in r])
    for j in range(6):
        ranks = _avg_ranks([row[j] for row in rows])
        expected = [INV((rk - 0.5) / (11 + 1 - 1.0)) for rk in ranks]  # n = 11 > 10: a = 1/2
        assert normed.iloc[:, j].tolist() == pytest.approx(expected, abs=1e-12)


def test_blacklist_is_leafcutters_unprefixed_x_y():
    rows = {
        "X:1:2:clu_1_+": [(1, 2), (2, 4), (3, 4)],
        "chrX:1:2:clu_2_+": [(1, 2), (2, 4), (3, 4)],
        "chrX:3:4:clu_2_+": [(1, 3), (2, 3), (3, 5)],
    }
    normed, reason = prepare_phenotype_table(*frame(rows, 3))
    assert reason["X:1:2:clu_1_+"] == "blacklist"
    assert list(normed.index) == ["chrX:1:2:clu_2_+", "chrX:3:4:clu_2_+"]


# --- filter_quants.py end to end --------------------------------------------------------------

# GM sorts before GP; GQ has GX's TSS position and sorts after it
GM, GP, GX, GQ = "ENSG00000000001", "ENSG00000000002", "ENSG00000000003", "ENSG00000000004"


def _write_genes(path):
    # GP on chr1 '+': TSS = start 1000; GM on chr1 '-': TSS = end 9000; GX on chr2 '+': 100;
    # GQ on chr2 '-': TSS = end 100, the same as GX
    path.write_text(
        "gene_id\tgene_name\tgene_type\tchrom\tstart\tend\tstrand\ttss\n"
        f"{GP}\tGP\tprotein_coding\tchr1\t1000\t5000\t+\t1000\n"
        f"{GM}\tGM\tprotein_coding\tchr1\t2000\t9000\t-\t9000\n"
        f"{GX}\tGX\tlncRNA\tchr2\t100\t900\t+\t100\n"
        f"{GQ}\tGQ\tlncRNA\tchr2\t50\t100\t-\t100\n"
    )
    return read_genes(path)


def _e2e_inputs(tmp_path):
    gtf = write_gtf(
        tmp_path / "genes.gtf.gz",
        [
            exon_line("chr1", 1000, 1200, "+", GP),
            exon_line("chr1", 1500, 1700, "+", GP),
            exon_line("chr1", 2500, 2600, "+", GP),
            exon_line("chr1", 2000, 2100, "-", GM),
            exon_line("chr1", 3000, 3100, "-", GM),
            exon_line("chr1", 8000, 9000, "-", GM),
            exon_line("chr2", 100, 300, "+", GX),
            exon_line("chr2", 500, 900, "+", GX),
            exon_line("chr2", 50, 100, "-", GQ),
        ],
    )
    ks = range(1, 11)  # 10 libraries: every kept intron needs 10 distinct ratios

    def row(nums, den):
        return [f"{n}/{d}" for n, d in zip(nums, den)]

    rows = {
        # clu_1 (GP): three introns, all kept
        "chr1:1200:1500:clu_1_+": row(ks, [100] * 10),
        "chr1:1200:2500:clu_1_+": row([30 + 2 * k for k in ks], [100] * 10),
        "chr1:1700:2500:clu_1_+": row([70 - 3 * k for k in ks], [100] * 10),
        # clu_2: 2100:3000 touches GM; 2600:3000 touches GP (start) and GM (end): both genes
        "chr1:2100:3000:clu_2_-": row([k + 5 for k in ks], [45] * 10),
        "chr1:2600:3000:clu_2_-": row([40 - k for k in ks], [45] * 10),
        # clu_3: the second intron has no reads, so the first is left alone: cluster dropped
        "chr1:1200:1600:clu_3_+": row([k + 10 for k in ks], [50] * 10),
        "chr1:1210:1600:clu_3_+": row([0] * 10, [50] * 10),
        # clu_7: the first intron's SD is < 0.005 (LeafCutter drops it), the second is alone
        "chr1:6000:7000:clu_7_+": row([500 + k for k in ks], [1000] * 10),
        "chr1:6000:7500:clu_7_+": row([100 + 7 * k for k in ks], [1000] * 10),
        # clu_4 on chr2: touches no exon, unmapped
        "chr2:5000:6000:clu_4_+": row(ks, [60] * 10),
        "chr2:5000:6500:clu_4_+": row([60 - k for k in ks], [60] * 10),
        # clu_6: GX (end 500) and GQ (start 100) only through 100:500, which has no reads and
        # is filtered out
        "chr2:100:500:clu_6_+": row([0] * 10, [31] * 10),
        "chr2:310:700:clu_6_+": row([k + 1 for k in ks], [31] * 10),
        "chr2:320:700:clu_6_+": row([30 - k for k in ks], [31] * 10),
        # chrY: not on chr1-22/chrX
        "chrY:100:200:clu_5_+": row(ks, [20] * 10),
        "chrY:100:300:clu_5_+": row([20 - k for k in ks], [20] * 10),
    }
    # one extra library column to drop; the rest renamed so sorted order reverses it
    names = [f"L{k}.Aligned.sortedByCoord.out.bam" for k in ks] + ["EXTRA.bam"]
    rows = {i: v + ["1/2"] for i, v in rows.items()}
    perind = write_perind(tmp_path / "x_perind.counts.gz", names, rows)
    libraries = {f"L{k}": f"HG{11 - k:02d}" for k in ks}
    return perind, gtf, libraries


def test_filter_quants_end_to_end(tmp_path):
    perind, gtf, libraries = _e2e_inputs(tmp_path)
    genes = _write_genes(tmp_path / "genes.tsv")
    out = tmp_path / "out"
    summary = splicing_phenotypes(
        perind, libraries, gtf, genes,
        out / "p.bed.gz", out / "p.groups.txt", out / "p.counts.filtered.gz",
    )
    samples = [f"HG{k:02d}" for k in range(1, 11)]

    with gzip.open(out / "p.bed.gz", "rt") as fh:
        bed = pd.read_csv(fh, sep="\t")
    assert list(bed.columns) == ["#Chr", "start", "end", "ID", *samples]
    assert bed[["#Chr", "start", "end", "ID"]].values.tolist() == [
        ["chr1", 999, 1000, f"chr1:1200:1500:clu_1_+:{GP}"],
        ["chr1", 999, 1000, f"chr1:1200:2500:clu_1_+:{GP}"],
        ["chr1", 999, 1000, f"chr1:1700:2500:clu_1_+:{GP}"],
        ["chr1", 999, 1000, f"chr1:2100:3000:clu_2_-:{GP}"],
        ["chr1", 999, 1000, f"chr1:2600:3000:clu_2_-:{GP}"],
        ["chr1", 8999, 9000, f"chr1:2100:3000:clu_2_-:{GM}"],  # '-' strand: TSS = gene end
        ["chr1", 8999, 9000, f"chr1:2600:3000:clu_2_-:{GM}"],
        # same TSS: by gene before ID, so each gene's rows stay together
        ["chr2", 99, 100, f"chr2:310:700:clu_6_+:{GX}"],
        ["chr2", 99, 100, f"chr2:320:700:clu_6_+:{GX}"],
        ["chr2", 99, 100, f"chr2:310:700:clu_6_+:{GQ}"],
        ["chr2", 99, 100, f"chr2:320:700:clu_6_+:{GQ}"],
    ]
    genes_in_order = [i.rsplit(":", 1)[1] for i in bed["ID"]]
    assert genes_in_order == [GP] * 5 + [GM] * 2 + [GX] * 2 + [GQ] * 2

    # values: LeafCutter's normalisation over all 11 introns that reached it (n = 11, a = 1/2),
    # taken before the lone-intron clusters and the unmapped introns went
    counts = read_perind_counts(perind, libraries)
    reached = [
        "chr1:1200:1500:clu_1_+", "chr1:1200:2500:clu_1_+", "chr1:1700:2500:clu_1_+",
        "chr1:2100:3000:clu_2_-", "chr1:2600:3000:clu_2_-", "chr1:1200:1600:clu_3_+",
        "chr1:6000:7000:clu_7_+", "chr1:6000:7500:clu_7_+", "chr2:5000:6000:clu_4_+",
        "chr2:5000:6500:clu_4_+", "chr2:310:700:clu_6_+", "chr2:320:700:clu_6_+",
    ]
    normed, reason = prepare_phenotype_table(counts.num.loc[reached], counts.den.loc[reached])
    assert reason["chr1:6000:7000:clu_7_+"] == "low_sd" and len(normed) == 11
    for _, r in bed.iterrows():
        intron = r["ID"].rsplit(":", 1)[0]
        assert r[samples].tolist() == pytest.approx(normed.loc[intron, samples].tolist(), 1e-12)

    groups = pd.read_csv(out / "p.groups.txt", sep="\t", header=None)
    assert groups.values.tolist() == [
        [f"chr1:2100:3000:clu_2_-:{GM}", GM],
        [f"chr1:2600:3000:clu_2_-:{GM}", GM],
        [f"chr1:1200:1500:clu_1_+:{GP}", GP],
        [f"chr1:1200:2500:clu_1_+:{GP}", GP],
        [f"chr1:1700:2500:clu_1_+:{GP}", GP],
        [f"chr1:2100:3000:clu_2_-:{GP}", GP],
        [f"chr1:2600:3000:clu_2_-:{GP}", GP],
        [f"chr2:310:700:clu_6_+:{GX}", GX],
        [f"chr2:320:700:clu_6_+:{GX}", GX],
        [f"chr2:310:700:clu_6_+:{GQ}", GQ],
        [f"chr2:320:700:clu_6_+:{GQ}", GQ],
    ]

    with gzip.open(out / "p.counts.filtered.gz", "rt") as fh:
        filtered = pd.read_csv(fh, sep="\t", dtype=str)
    assert list(filtered.columns) == ["intron:cluster", "cluster", *samples]
    assert filtered[["intron:cluster", "cluster"]].values.tolist() == [
        ["chr1:1200:1500:clu_1_+", "chr1:clu_1_+"],
        ["chr1:1200:2500:clu_1_+", "chr1:clu_1_+"],
        ["chr1:1700:2500:clu_1_+", "chr1:clu_1_+"],
        ["chr1:2100:3000:clu_2_-", "chr1:clu_2_-"],
        ["chr1:2600:3000:clu_2_-", "chr1:clu_2_-"],
        ["chr2:5000:6000:clu_4_+", "chr2:clu_4_+"],  # unmapped, still listed
        ["chr2:5000:6500:clu_4_+", "chr2:clu_4_+"],
        ["chr2:310:700:clu_6_+", "chr2:clu_6_+"],
        ["chr2:320:700:clu_6_+", "chr2:clu_6_+"],
    ]
    assert filtered.loc[0, "HG10"] == "1/100" and filtered.loc[0, "HG01"] == "10/100"

    with pysam.TabixFile(str(out / "p.bed.gz")) as tbx:
        assert len(list(tbx.fetch("chr2", 0, 200))) == 4

    assert summary["samples"] == 10
    assert summary["introns"] == 16
    assert summary["introns_autosomes_chrx"] == 14
    assert summary["removed_zero_fraction"] == 2
    assert summary["introns_filtered"] == 12
    assert summary["removed_low_sd"] == 1
    assert summary["introns_multi_intron_clusters"] == 9
    assert summary["introns_unmapped"] == 2
    assert summary["phenotypes"] == 11
    assert summary["genes"] == 4


def test_bad_count_field_names_file_and_row(tmp_path):
    path = write_perind(
        tmp_path / "bad_perind.counts.gz",
        ["L1.bam", "L2.bam"],
        {"chr1:1:2:clu_1_+": ["1/2", "0/2"], "chr1:1:3:clu_1_+": ["1/2", "3/x"]},
    )
    with pytest.raises(KgpexError, match=r"bad_perind\.counts\.gz line 3, column L2\.bam") as err:
        read_perind_counts(path, {"L1": "A", "L2": "B"})
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        (["1/2"], r"line 2: expected 3 space-separated fields, found 2"),
        (["1/2", "3/4/5"], r"line 2, column L2\.bam: '3/4/5' is not num/den"),
        (["1/2", "5/4"], r"line 2, column L2\.bam: 5/4 has a numerator above"),
        (["1/2", "-1/4"], r"line 2, column L2\.bam: '-1/4' is not num/den"),
    ],
)
def test_malformed_rows(tmp_path, fields, match):
    path = write_perind(tmp_path / "m_perind.counts.gz", ["L1.bam", "L2.bam"],
                        {"chr1:1:2:clu_1_+": fields})
    with pytest.raises(KgpexError, match=r"m_perind\.counts\.gz " + match):
        read_perind_counts(path, {"L1": "A", "L2": "B"})


def test_missing_library_names_file_and_library(tmp_path):
    path = write_perind(tmp_path / "p_perind.counts.gz", ["L1.bam"], {"chr1:1:2:clu_1_+": ["1/2"]})
    with pytest.raises(KgpexError, match=r"p_perind\.counts\.gz line 1: library L9 has no column"):
        read_perind_counts(path, {"L1": "A", "L9": "B"})


def test_bad_intron_id_names_file_and_row(tmp_path):
    path = write_perind(tmp_path / "i_perind.counts.gz", ["L1.bam"],
                        {"chr1:1:2:clu_1_+": ["1/2"], "chr1:5:clu_1_+": ["1/2"]})
    with pytest.raises(KgpexError, match=r"i_perind\.counts\.gz line 3: intron ID"):
        read_perind_counts(path, {"L1": "A"})


def test_tss_table_uses_end_on_minus(tmp_path):
    tss = tss_table(_write_genes(tmp_path / "genes.tsv"))
    assert tss.loc[GP, "tss"] == 1000 and tss.loc[GM, "tss"] == 9000
    plain = pd.DataFrame({"gene_id": ["G"], "chrom": ["chr3"], "start": [5], "end": [9],
                          "strand": ["-"]})
    assert tss_table(plain).loc["G"].tolist() == ["chr3", 9]


def test_gene_missing_from_genes_table_is_an_error(tmp_path):
    perind, _, libraries = _e2e_inputs(tmp_path)
    counts = read_perind_counts(perind, libraries)
    genes = _write_genes(tmp_path / "genes.tsv").drop(index=GX)
    with pytest.raises(KgpexError, match=rf"maps to gene {GX}, which is not in the genes table"):
        build_splicing_phenotypes(counts, {"chr2:clu_6_+": [GX]}, genes)
