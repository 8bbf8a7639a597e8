"""Tests for kgpex.splicing.junctions.

Hand-placed reads in small coordinate-sorted, indexed BAMs; every expected count below is a hand
count under regtools 0.6.1 semantics (see the module docstring). The 200k-read timing run is
skipped unless KGPEX_JUNC_TIMING=1.
"""

from __future__ import annotations

import os
import random
import time

import pysam
import pytest

from kgpex.splicing.junctions import (
    Junction,
    extract_junctions,
    junctions_from_star_sj,
    write_junc,
)

HEADER = {"HD": {"VN": "1.6", "SO": "coordinate"},
          "SQ": [{"SN": "chr1", "LN": 100_000}, {"SN": "chr2", "LN": 1_100_000}]}
FLAG_SECONDARY, FLAG_QCFAIL, FLAG_DUP, FLAG_SUPP, FLAG_UNMAPPED = 256, 512, 1024, 2048, 4


def make_bam(path, reads):
    """reads: (name, chrom, pos0, cigar, flag, tags, mapq); written, sorted and indexed."""
    unsorted = str(path) + ".unsorted.bam"
    with pysam.AlignmentFile(unsorted, "wb", header=HEADER) as out:
        for name, chrom, pos, cigar, flag, tags, mapq in reads:
            seg = pysam.AlignedSegment(out.header)
            seg.query_name = name
            seg.flag = flag
            seg.reference_name = chrom
            seg.reference_start = pos
            seg.mapping_quality = mapq
            if cigar is not None:
                seg.cigarstring = cigar
                seg.query_sequence = "A" * seg.infer_query_length()
            else:
                seg.query_sequence = "A" * 50
            seg.set_tags(tags)
            out.write(seg)
    pysam.sort("-o", str(path), unsorted)
    os.unlink(unsorted)
    pysam.index(str(path))
    return path


def R(name, pos, cigar, xs="+", flag=0, chrom="chr1", mapq=255, tags=None):
    if tags is None:
        tags = [("XS", xs, "A")] if xs else []
    return (name, chrom, pos, cigar, flag, tags, mapq)


# Hand-placed reads. Comments give the intron (0-based half-open) and left/right anchors.
READS = [
    # J1 chr1:1000-1100 '+': anchors 30/30, 10/8, 5/40 -> count 3 (the 5-base anchor counts),
    # thick 970..1140, blockSizes 30,40.
    R("j1a", 970, "30M100N30M"),
    R("j1b", 990, "10M100N8M"),
    R("j1c", 995, "5M100N40M"),
    # Same intron with XS:A:- is a separate junction: count 1.
    R("j1minus", 980, "20M100N20M", xs="-"),
    # J2 chr1:2000-2500 '-': count 2.
    R("j2a", 1975, "25M500N25M", xs="-"),
    R("j2b", 1975, "25M500N25M", xs="-"),
    # Two N ops: J3 3010-3210 (10/20), J4 3230-3530 (20/15); j3b adds J3 (12/12).
    R("two_n", 3000, "10M200N20M300N15M"),
    R("j3b", 2998, "12M200N12M"),
    # Anchor 7 vs 8: J5 4007-4107 only 7/30 -> dropped; J6 5008-5108 8/8 -> kept.
    R("a7", 4000, "7M100N30M"),
    R("a8", 5000, "8M100N8M"),
    # J7 6010-6110: 7/30 and 30/7 from different reads -> reported, count 2, blocks 30,30.
    R("j7a", 6003, "7M100N30M"),
    R("j7b", 5980, "30M100N7M"),
    # J8 6510-6610: right anchor 7 only -> dropped.
    R("j8", 6480, "30M100N7M"),
    # Intron length: 49 dropped, 50 kept (chr1); 500000 kept, 500001 dropped (chr2).
    R("i49", 7000, "20M49N20M"),
    R("i50", 7500, "20M50N20M"),
    R("i500000", 1000, "20M500000N20M", chrom="chr2"),
    R("i500001", 2000, "20M500001N20M", chrom="chr2"),
    # J11 8020-8120: no XS, and an integer XS (aligner score) -> both '?', count 2.
    R("noxs", 8000, "20M100N20M", xs=None),
    R("xs_int", 8000, "20M100N20M", tags=[("XS", 5, "i")]),
    # J12 9020-9120: primary, secondary (MAPQ 0), duplicate, supplementary, QC-fail -> 5.
    R("prim", 9000, "20M100N20M"),
    R("sec", 9000, "20M100N20M", flag=FLAG_SECONDARY, mapq=0),
    R("dup", 9000, "20M100N20M", flag=FLAG_DUP),
    R("supp", 9000, "20M100N20M", flag=FLAG_SUPP),
    R("qcf", 9000, "20M100N20M", flag=FLAG_QCFAIL),
    # Unmapped read placed here with no CIGAR: ignored.
    R("unm", 9000, None, xs=None, flag=FLAG_UNMAPPED, mapq=0),
    # J13 10030-10130: 20M2D5M before the N -> left anchor 5 (not 25) -> dropped.
    R("del_left", 10003, "20M2D5M100N30M"),
    # J14 11020-11120: 14M1I6M before the N -> left anchor 6 -> dropped.
    R("ins_left", 11000, "14M1I6M100N30M"),
    # J15 12020-12120 after a soft clip: 10S20M100N30M -> 20/30, kept.
    R("sclip", 12000, "10S20M100N30M"),
    # J16 13020-13120: N then D -> right anchor 0 -> dropped.
    R("n_then_d", 13000, "20M100N3D30M"),
    # J17 14007-14107: 5M2D20M before the N -> left anchor 20, thick_start 13987 (not 13980).
    R("del_far", 13980, "5M2D20M100N30M"),
    # J18 15020-15120: 20M100N3=1X26= -> right anchor 3 -> dropped.
    R("x_right", 15000, "20M100N3=1X26="),
]

# (chrom, start, end, strand) -> (count, blockSizes) for every junction regtools reports.
EXPECTED = {
    ("chr1", 1000, 1100, "+"): (3, (30, 40)),
    ("chr1", 1000, 1100, "-"): (1, (20, 20)),
    ("chr1", 2000, 2500, "-"): (2, (25, 25)),
    ("chr1", 3010, 3210, "+"): (2, (12, 20)),
    ("chr1", 3230, 3530, "+"): (1, (20, 15)),
    ("chr1", 5008, 5108, "+"): (1, (8, 8)),
    ("chr1", 6010, 6110, "+"): (2, (30, 30)),
    ("chr1", 7520, 7570, "+"): (1, (20, 20)),
    ("chr2", 1020, 501020, "+"): (1, (20, 20)),
    ("chr1", 8020, 8120, "?"): (2, (20, 20)),
    ("chr1", 9020, 9120, "+"): (5, (20, 20)),
    ("chr1", 12020, 12120, "+"): (1, (20, 30)),
    ("chr1", 14007, 14107, "+"): (1, (20, 30)),
}


@pytest.fixture(scope="module")
def hand_bam(tmp_path_factory):
    return make_bam(tmp_path_factory.mktemp("bam") / "hand.bam", READS)


def as_dict(records):
    return {(j.chrom, j.start, j.end, j.strand): (j.count, j.block_sizes) for j in records}


def test_hand_counts_exact(hand_bam):
    assert as_dict(extract_junctions(hand_bam)) == EXPECTED


def test_plus_and_minus_same_intron_are_separate(hand_bam):
    got = as_dict(extract_junctions(hand_bam))
    assert got[("chr1", 1000, 1100, "+")][0] == 3
    assert got[("chr1", 1000, 1100, "-")][0] == 1


def test_two_n_operations_each_a_junction_middle_block_anchors_both(hand_bam):
    got = as_dict(extract_junctions(hand_bam))
    assert got[("chr1", 3010, 3210, "+")] == (2, (12, 20))
    assert got[("chr1", 3230, 3530, "+")] == (1, (20, 15))


def test_anchor_7_dropped_8_kept(hand_bam):
    got = as_dict(extract_junctions(hand_bam))
    assert ("chr1", 4007, 4107, "+") not in got
    assert got[("chr1", 5008, 5108, "+")] == (1, (8, 8))
    assert ("chr1", 6510, 6610, "+") not in got
    # With -a 7 the 7-base junctions appear.
    got7 = as_dict(extract_junctions(hand_bam, anchor=7))
    assert got7[("chr1", 4007, 4107, "+")] == (1, (7, 30))
    assert got7[("chr1", 6510, 6610, "+")] == (1, (30, 7))


def test_anchor_is_per_junction_and_short_anchor_reads_still_count(hand_bam):
    got = as_dict(extract_junctions(hand_bam))
    assert got[("chr1", 6010, 6110, "+")] == (2, (30, 30))
    assert got[("chr1", 1000, 1100, "+")][0] == 3  # includes the 5-base-anchor read


def test_intron_length_boundaries(hand_bam):
    got = as_dict(extract_junctions(hand_bam))
    assert ("chr1", 7020, 7069, "+") not in got
    assert ("chr1", 7520, 7570, "+") in got
    assert ("chr2", 1020, 501020, "+") in got
    assert ("chr2", 2020, 502021, "+") not in got
    got_wide = as_dict(extract_junctions(hand_bam, min_intron=49, max_intron=500001))
    assert ("chr1", 7020, 7069, "+") in got_wide
    assert ("chr2", 2020, 502021, "+") in got_wide


def test_reads_without_xs_get_question_mark(hand_bam):
    got = as_dict(extract_junctions(hand_bam))
    assert got[("chr1", 8020, 8120, "?")] == (2, (20, 20))
    assert not any(k[:3] == ("chr1", 8020, 8120) and k[3] != "?" for k in got)


def test_secondary_duplicate_supplementary_qcfail_all_count(hand_bam):
    got = as_dict(extract_junctions(hand_bam))
    assert got[("chr1", 9020, 9120, "+")][0] == 5


def test_indels_clips_mismatch_ops_cut_the_anchor(hand_bam):
    got = as_dict(extract_junctions(hand_bam))
    assert ("chr1", 10030, 10130, "+") not in got  # 20M2D5M: anchor 5, not 25
    assert ("chr1", 11020, 11120, "+") not in got  # 14M1I6M: anchor 6
    assert got[("chr1", 12020, 12120, "+")] == (1, (20, 30))  # soft clip not an anchor
    assert ("chr1", 13020, 13120, "+") not in got  # N then D: right anchor 0
    assert ("chr1", 15020, 15120, "+") not in got  # 3=1X: right anchor 3
    j17 = next(j for j in extract_junctions(hand_bam) if j.start == 14007)
    assert (j17.thick_start, j17.thick_end) == (13987, 14137)
    every = as_dict(extract_junctions(hand_bam, include_unanchored=True))
    assert every[("chr1", 10030, 10130, "+")] == (1, (5, 30))
    assert every[("chr1", 13020, 13120, "+")] == (1, (20, 0))


def test_region_restricts(hand_bam):
    got = as_dict(extract_junctions(hand_bam, region="chr2"))
    assert got == {("chr2", 1020, 501020, "+"): (1, (20, 20))}


def test_bed12_lines_names_and_order(hand_bam, tmp_path):
    recs = extract_junctions(hand_bam)
    out = write_junc(recs, tmp_path / "s.junc")
    lines = out.read_text().splitlines()
    assert lines[0].split("\t") == ["chr1", "970", "1140", "JUNC00000001", "3", "+", "970",
                                    "1140", "255,0,0", "2", "30,40", "0,130"]
    assert lines[1].split("\t")[:6] == ["chr1", "980", "1120", "JUNC00000002", "1", "-"]
    assert lines[-1].startswith("chr2\t1000\t501040\t")
    assert len(lines) == len(EXPECTED)
    # Names count junctions that passed the length filter but not the anchor filter (gaps).
    assert "JUNC00000006" not in {r.name for r in recs}  # the dropped 7-anchor junction
    assert [p.name for p in tmp_path.iterdir()] == ["s.junc"]  # no temporary left behind
    # LeafCutter's reading recovers the intron: start = chromStart + b0, end = chromEnd - b1 + 1
    for line, rec in zip(lines, recs):
        f = line.split("\t")
        b0, b1 = map(int, f[10].split(","))
        assert int(f[1]) + b0 == rec.start and int(f[2]) - b1 + 1 == rec.end + 1


def test_write_junc_failure_leaves_no_file(tmp_path):
    bad = [Junction("chr1", 10, 20, "+", 1, 0, 30, "JUNC00000001"), object()]
    with pytest.raises(AttributeError):
        write_junc(bad, tmp_path / "x.junc")
    assert list(tmp_path.iterdir()) == []


def test_rf_fr_flag_strand(tmp_path):
    reads = [R("r1rev", 100, "20M100N20M", xs=None, flag=1 | 16 | 64),
             R("r2fwd", 100, "20M100N20M", xs=None, flag=1 | 32 | 128)]
    bam = make_bam(tmp_path / "rf.bam", reads)
    assert as_dict(extract_junctions(bam, strand="RF")) == {("chr1", 120, 220, "+"): (2, (20, 20))}
    assert as_dict(extract_junctions(bam, strand="FR")) == {("chr1", 120, 220, "-"): (2, (20, 20))}


SJ_ROWS = [
    # chrom first last strand motif annot unique multi overhang
    ("chr1", 1001, 1100, 1, 1, 1, 7, 2, 30),    # -> 1000-1100 '+', count 7 (9 with multi)
    ("chr1", 2001, 2500, 2, 2, 0, 3, 0, 25),    # -> 2000-2500 '-', count 3
    ("chr1", 3001, 3049, 1, 1, 0, 5, 0, 20),    # intron 49 -> dropped
    ("chr1", 4001, 4100, 0, 0, 0, 4, 0, 40),    # non-canonical, strand 0 -> dropped by default
    ("chr1", 5001, 5100, 1, 1, 0, 0, 6, 12),    # multimappers only -> dropped by default
    ("chr2", 1001, 501000, 1, 1, 0, 2, 0, 8),   # intron 500000 -> kept
    ("chr2", 2001, 502001, 1, 1, 0, 2, 0, 8),   # intron 500001 -> dropped
]


def _sj(tmp_path):
    p = tmp_path / "SJ.out.tab"
    p.write_text("".join("\t".join(map(str, r)) + "\n" for r in SJ_ROWS))
    return p


def test_star_sj_conversion(tmp_path):
    got = junctions_from_star_sj(_sj(tmp_path))
    assert as_dict(got) == {
        ("chr1", 1000, 1100, "+"): (7, (30, 30)),
        ("chr1", 2000, 2500, "-"): (3, (25, 25)),
        ("chr2", 1000, 501000, "+"): (2, (8, 8)),
    }
    assert [j.name for j in got] == ["JUNC00000001", "JUNC00000002", "JUNC00000003"]


def test_star_sj_options(tmp_path):
    got = as_dict(junctions_from_star_sj(_sj(tmp_path), include_multimappers=True,
                                         keep_undefined_strand=True, anchor=12))
    assert got == {
        ("chr1", 1000, 1100, "+"): (9, (30, 30)),
        ("chr1", 2000, 2500, "-"): (3, (25, 25)),
        ("chr1", 4000, 4100, "?"): (4, (40, 40)),
        ("chr1", 5000, 5100, "+"): (6, (12, 12)),
    }


def test_star_sj_malformed(tmp_path):
    from kgpex.common.errors import KgpexError

    p = tmp_path / "SJ.out.tab"
    p.write_text("chr1\t1\t2\t1\n")
    with pytest.raises(KgpexError, match="expected 9 columns"):
        junctions_from_star_sj(p)


@pytest.mark.skipif(os.environ.get("KGPEX_JUNC_TIMING") != "1",
                    reason="timing run; set KGPEX_JUNC_TIMING=1")
def test_timing_200k_reads(tmp_path):
    n_reads, frac_spliced, read_len = 200_000, 0.2, 100
    rng = random.Random(15)
    header = {"HD": {"VN": "1.6", "SO": "coordinate"}, "SQ": [{"SN": "chr1", "LN": 5_000_000}]}
    introns = sorted((rng.randrange(1000, 4_800_000), rng.choice([60, 500, 5000, 40000]))
                     for _ in range(1000))
    starts = sorted(rng.randrange(1000, 4_700_000) for _ in range(n_reads))
    path = str(tmp_path / "synth.bam")
    expected: dict[tuple[int, int], int] = {}
    t0 = time.perf_counter()
    reads = []
    for i, pos in enumerate(starts):
        if rng.random() < frac_spliced:
            istart, ilen = introns[rng.randrange(len(introns))]
            left = rng.randrange(8, read_len - 8)
            reads.append((istart - left, f"{left}M{ilen}N{read_len - left}M", i))
            expected[(istart, istart + ilen)] = expected.get((istart, istart + ilen), 0) + 1
        else:
            reads.append((pos, f"{read_len}M", i))
    reads.sort()
    with pysam.AlignmentFile(path, "wb", header=header) as out:
        for pos, cigar, i in reads:
            seg = pysam.AlignedSegment(out.header)
            seg.query_name = f"r{i}"
            seg.reference_id = 0
            seg.reference_start = pos
            seg.mapping_quality = 255
            seg.cigarstring = cigar
            seg.query_sequence = "A" * read_len
            seg.set_tags([("NH", 1, "i"), ("XS", "+", "A")] if "N" in cigar else [("NH", 1, "i")])
            out.write(seg)
    pysam.index(path)
    t_build = time.perf_counter() - t0
    t0 = time.perf_counter()
    got = extract_junctions(path)
    t_extract = time.perf_counter() - t0
    assert {(j.start, j.end): j.count for j in got} == expected
    rate = n_reads / t_extract
    # STAR: ~190 s per million read pairs (2 million records) on this machine.
    pct_of_star = 100 * (2_000_000 / rate) / 190
    print(f"\nbuild {t_build:.1f} s; extract {t_extract:.2f} s for {n_reads} reads "
          f"({rate:,.0f} reads/s); per million pairs {2_000_000 / rate:.1f} s "
          f"= {pct_of_star:.1f}% of STAR's 190 s")
