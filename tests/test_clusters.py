"""Hand-made junction sets whose LeafCutter clusters are worked out by hand (leafcutter
clustering/leafcutter_cluster_regtools.py, master 2c9907e)."""

from __future__ import annotations

import gzip
import os

import pytest

from kgpex.common.errors import KgpexError
from kgpex.splicing.clusters import (
    Cluster,
    PerindRow,
    cluster,
    count_per_library,
    library_name,
    parse_junc,
    pool,
    refine,
    write_perind_counts,
)


def junc_line(chrom, strand, start, end, count, left=10, right=12, block_count=2):
    """A regtools BED12 line whose LeafCutter intron is (start, end)."""
    chrom_start = start - left
    chrom_end = end + right - 1
    second = chrom_end - right - chrom_start
    sizes = f"{left},{right}" if block_count == 2 else f"{left},5,{right}"
    starts = f"0,{second}" if block_count == 2 else f"0,20,{second}"
    return (
        f"{chrom}\t{chrom_start}\t{chrom_end}\tJUNC\t{count}\t{strand}\t{chrom_start}\t"
        f"{chrom_end}\t255,0,0\t{block_count}\t{sizes}\t{starts}\n"
    )


def write_junc(path, lines, gz=False):
    text = "".join(lines)
    if gz:
        with gzip.open(path, "wt") as fh:
            fh.write(text)
    else:
        path.write_text(text)
    return path


def clusters_of(introns, min_reads=50, min_ratio=0.001):
    """Pool one library of (chrom, strand, start, end) -> count, cluster, refine; return the
    refined clusters as (chrom, strand, sorted intervals)."""
    refined = refine(cluster(pool([introns])), min_reads=min_reads, min_ratio=min_ratio)
    return [(c.chrom, c.strand, sorted(iv for iv, _ in c.introns)) for c in refined]


# --- parse_junc -------------------------------------------------------------------------------


def test_parse_junc_coordinates_of_a_literal_line(tmp_path):
    # chromStart 990 + first blockSize 10 = 1000; chromEnd 2010 - second blockSize 12 + 1 = 1999
    path = tmp_path / "a.junc"
    path.write_text("chr1\t990\t2010\tJ1\t7\t+\t990\t2010\t255,0,0\t2\t10,12\t0,1008\n")
    assert parse_junc(path) == {("chr1", "+", 1000, 1999): 7}


def test_parse_junc_skips_blockcount_3_strand_question_and_other_contigs(tmp_path):
    path = write_junc(
        tmp_path / "a.junc",
        [
            "track name=junctions\n",  # fewer than 6 fields: skipped as LeafCutter does
            junc_line("chr1", "+", 100, 500, 4),
            junc_line("chr1", "+", 100, 600, 9, block_count=3),
            junc_line("chr1", "?", 100, 700, 11),
            junc_line("chrUn_KI270742v1", "+", 100, 500, 13),
            junc_line("chr1_KI270706v1_random", "-", 100, 500, 13),
            junc_line("chrM", "+", 100, 500, 13),
            junc_line("chrX", "-", 100, 500, 5),
            junc_line("chrY", "-", 100, 500, 6),
            junc_line("22", "+", 100, 500, 8),  # LeafCutter's chromLst also has 1-22, X, Y
        ],
    )
    assert parse_junc(path) == {
        ("chr1", "+", 100, 500): 4,
        ("chrX", "-", 100, 500): 5,
        ("chrY", "-", 100, 500): 6,
        ("22", "+", 100, 500): 8,
    }


def test_parse_junc_sums_repeated_introns_keeps_file_order_and_reads_gzip(tmp_path):
    path = write_junc(
        tmp_path / "a.junc.gz",
        [
            junc_line("chr2", "-", 300, 900, 2),
            junc_line("chr1", "+", 100, 500, 4, left=8, right=30),
            junc_line("chr2", "-", 300, 900, 5, left=40, right=9),  # other anchors, same intron
        ],
        gz=True,
    )
    counts = parse_junc(path)
    assert counts == {("chr2", "-", 300, 900): 7, ("chr1", "+", 100, 500): 4}
    assert list(counts) == [("chr2", "-", 300, 900), ("chr1", "+", 100, 500)]


@pytest.mark.parametrize(
    "line, message",
    [
        ("chr1\t990\t2010\tJ1\t7\t+\t990\t2010\t255,0,0\t2\t10,12\n", "11 fields"),
        ("chr1\t990\t2010\tJ1\tseven\t+\t990\t2010\t255,0,0\t2\t10,12\t0,1008\n", "count"),
        ("chr1\t990\t2010\tJ1\t7\t+\t990\t2010\t255,0,0\t2\t10\t0\n", "blockSizes"),
        ("chr1\t990\t1010\tJ1\t7\t+\t990\t1010\t255,0,0\t2\t15,12\t0,8\n", "not after"),
    ],
)
def test_parse_junc_malformed_line_names_file_and_line(tmp_path, line, message):
    path = tmp_path / "bad.junc"
    path.write_text(junc_line("chr1", "+", 100, 500, 4) + line)
    with pytest.raises(KgpexError, match=rf"bad\.junc line 2: .*{message}"):
        parse_junc(path)


def test_parse_junc_missing_file_is_kgpex_error(tmp_path):
    with pytest.raises(KgpexError, match="not found"):
        parse_junc(tmp_path / "missing.junc")


def test_library_name_cuts_at_first_dot_junc():
    assert library_name("/x/GM1.Aligned.sortedByCoord.out.bam.junc") == (
        "GM1.Aligned.sortedByCoord.out.bam"
    )
    assert library_name("d/S2.junc.gz") == "S2"


# --- pool ---------------------------------------------------------------------------------------


def test_pool_sums_libraries_and_applies_min_3_and_max_intron():
    lib1 = {
        ("chr1", "+", 100, 500): 1,
        ("chr1", "+", 100, 600): 2,
        ("chr1", "+", 1000, 501_000): 9,  # end - start = 500,000: kept
        ("chr1", "+", 1000, 501_001): 9,  # end - start = 500,001: dropped
    }
    lib2 = {("chr1", "+", 100, 500): 2, ("chr1", "-", 100, 500): 2}
    assert pool({"a": lib1, "b": lib2}) == {
        ("chr1", "+"): {(100, 500): 3, (1000, 501_000): 9},
    }
    # LeafCutter's own default -l 100000 would drop the long one
    assert pool([lib1, lib2], max_intron=100_000) == {("chr1", "+"): {(100, 500): 3}}


def test_pool_keeps_first_appearance_order_of_chrom_strand():
    lib1 = {("chr2", "+", 10, 90): 5, ("chr1", "-", 10, 90): 5, ("chr10", "+", 10, 90): 2}
    lib2 = {("chr1", "+", 10, 90): 5, ("chr10", "+", 10, 90): 2, ("chr2", "+", 5, 90): 5}
    pooled = pool([lib1, lib2])
    assert list(pooled) == [("chr2", "+"), ("chr1", "-"), ("chr10", "+"), ("chr1", "+")]
    assert list(pooled[("chr2", "+")]) == [(5, 90), (10, 90)]  # sorted within a block


# --- cluster ------------------------------------------------------------------------------------


def test_cluster_chains_closed_overlaps_against_running_max_end():
    pooled = {
        ("chr1", "+"): {
            (100, 1000): 10,
            (200, 300): 10,  # inside the first
            (900, 1200): 10,  # overlaps the first, not the second: still chained
            (1200, 1300): 10,  # touches 1200 (closed intervals): chained
            (1301, 1400): 10,  # starts after the running max 1300: new chain
            (1350, 1500): 10,
            (2000, 2100): 10,  # alone: dropped
        }
    }
    clusters = cluster(pooled)
    assert [[iv for iv, _ in c.introns] for c in clusters] == [
        [(100, 1000), (200, 300), (900, 1200), (1200, 1300)],
        [(1301, 1400), (1350, 1500)],
    ]
    assert clusters[0] == Cluster(
        "chr1", "+", (((100, 1000), 10), ((200, 300), 10), ((900, 1200), 10), ((1200, 1300), 10))
    )


# --- refine -------------------------------------------------------------------------------------


def test_two_introns_sharing_a_5prime_site_make_one_cluster():
    assert clusters_of({("chr1", "+", 100, 500): 60, ("chr1", "+", 100, 800): 70}) == [
        ("chr1", "+", [(100, 500), (100, 800)])
    ]


def test_end_of_one_intron_equal_to_start_of_another_links_them():
    # LeafCutter keeps one set of starts and ends: 200 is an end and a start
    assert clusters_of({("chr1", "+", 100, 200): 60, ("chr1", "+", 200, 300): 70}) == [
        ("chr1", "+", [(100, 200), (200, 300)])
    ]


def test_overlapping_introns_without_a_shared_site_are_split_by_refinement():
    introns = {
        ("chr1", "+", 100, 500): 100,
        ("chr1", "+", 100, 400): 100,
        ("chr1", "+", 200, 600): 100,  # overlaps the two above, shares no site with them
        ("chr1", "+", 300, 600): 100,
    }
    assert len(cluster(pool([introns]))) == 1  # one overlap chain
    assert clusters_of(introns) == [
        ("chr1", "+", [(100, 400), (100, 500)]),
        ("chr1", "+", [(200, 600), (300, 600)]),
    ]
    # two overlapping introns sharing nothing: one initial cluster, nothing after refinement
    pair = {("chr1", "+", 100, 500): 100, ("chr1", "+", 200, 600): 100}
    assert len(cluster(pool([pair]))) == 1
    assert clusters_of(pair) == []


def test_intron_with_40_pooled_reads_removed_by_the_50_read_rule():
    lib1 = {("chr1", "+", 100, 500): 600, ("chr1", "+", 100, 800): 700,
            ("chr1", "+", 100, 900): 25}
    lib2 = {("chr1", "+", 100, 500): 400, ("chr1", "+", 100, 800): 300,
            ("chr1", "+", 100, 900): 15}  # 40 pooled: ratio 40/2040 is far above 0.001
    refined = refine(cluster(pool({"a": lib1, "b": lib2})))
    assert [sorted(c.introns) for c in refined] == [[((100, 500), 1000), ((100, 800), 1000)]]
    # the same intron with 50 pooled reads stays
    lib2[("chr1", "+", 100, 900)] = 25
    refined = refine(cluster(pool({"a": lib1, "b": lib2})))
    assert [sorted(iv for iv, _ in c.introns) for c in refined] == [
        [(100, 500), (100, 800), (100, 900)]
    ]


def test_min_ratio_removes_an_intron_and_the_boundary_is_kept():
    big = {("chr1", "-", 100, 500): 100_000, ("chr1", "-", 100, 800): 100_000}
    # 150 reads pass -m 50, but 150 / 200150 < 0.001
    assert clusters_of({**big, ("chr1", "-", 100, 900): 150}) == [
        ("chr1", "-", [(100, 500), (100, 800)])
    ]
    # exactly 0.001 of the group total is kept (>=)
    exact = {("chr1", "-", 100, 500): 49_950, ("chr1", "-", 100, 800): 49_950,
             ("chr1", "-", 100, 900): 100}
    assert clusters_of(exact) == [("chr1", "-", [(100, 500), (100, 800), (100, 900)])]
    assert clusters_of({**big, ("chr1", "-", 100, 900): 150}, min_ratio=0.0001) == [
        ("chr1", "-", [(100, 500), (100, 800), (100, 900)])
    ]


def test_cluster_reduced_to_one_intron_is_dropped():
    assert clusters_of({("chr1", "+", 100, 500): 1000, ("chr1", "+", 100, 600): 30}) == []


def test_removing_a_bridging_intron_resplits_the_cluster():
    introns = {
        ("chr1", "+", 100, 400): 1000,
        ("chr1", "+", 100, 500): 1000,
        ("chr1", "+", 100, 900): 40,  # shares 100 with the left pair, 900 with the right pair
        ("chr1", "+", 600, 900): 1000,
        ("chr1", "+", 700, 900): 1000,
    }
    assert clusters_of(introns) == [
        ("chr1", "+", [(100, 400), (100, 500)]),
        ("chr1", "+", [(600, 900), (700, 900)]),
    ]


def test_refinement_output_order_is_leafcutters_depth_first_order():
    # One overlap chain. Shared sites give G1 = the 100.. and ..1000 introns (bridged by
    # (100, 1000)) and G2 = the 400.. pair. Removing the 40-read bridge splits G1 into the
    # (100, x) and (x, 1000) pairs, which come out before G2 although G2 starts earlier
    # than the (x, 1000) pair.
    introns = {
        ("chr1", "+", 100, 250): 500,
        ("chr1", "+", 100, 300): 500,
        ("chr1", "+", 100, 1000): 40,
        ("chr1", "+", 400, 600): 500,
        ("chr1", "+", 400, 650): 500,
        ("chr1", "+", 800, 1000): 500,
        ("chr1", "+", 850, 1000): 500,
    }
    assert clusters_of(introns) == [
        ("chr1", "+", [(100, 250), (100, 300)]),
        ("chr1", "+", [(800, 1000), (850, 1000)]),
        ("chr1", "+", [(400, 600), (400, 650)]),
    ]


def test_ratio_is_recomputed_within_each_linked_group():
    # One overlap chain, two linked groups. (100, 400) is 60 / 200_160 < 0.001 of the whole
    # chain but 60 / 160 of its own group: kept.
    introns = {
        ("chr1", "+", 100, 300): 100,
        ("chr1", "+", 100, 400): 60,
        ("chr1", "+", 200, 900): 100_000,
        ("chr1", "+", 250, 900): 100_000,
    }
    assert clusters_of(introns) == [
        ("chr1", "+", [(100, 300), (100, 400)]),
        ("chr1", "+", [(200, 900), (250, 900)]),
    ]


def test_strands_are_kept_apart():
    introns = {("chr1", "+", 100, 500): 100, ("chr1", "-", 100, 800): 100}
    assert clusters_of(introns) == []
    introns.update({("chr1", "+", 100, 600): 100, ("chr1", "-", 200, 800): 100})
    assert clusters_of(introns) == [
        ("chr1", "+", [(100, 500), (100, 600)]),
        ("chr1", "-", [(100, 800), (200, 800)]),
    ]


def test_refine_rejects_bad_thresholds():
    with pytest.raises(KgpexError, match="min_ratio"):
        refine([], min_ratio=1.5)
    with pytest.raises(KgpexError, match="min_reads"):
        refine([], min_reads=-1)


# --- per-library rows and the perind file -------------------------------------------------------


LIB_A = [
    junc_line("chr2", "-", 5000, 6000, 60),
    junc_line("chr2", "-", 5000, 6500, 70),
    junc_line("chr1", "+", 999, 2000, 100),
    junc_line("chr1", "+", 1000, 2000, 200),
    junc_line("chr1", "+", 3000, 4000, 80),
    junc_line("chr1", "+", 3000, 4100, 90),
    junc_line("chr1", "+", 999, 2000, 900, block_count=3),  # skipped
    junc_line("chr1", "?", 3000, 4000, 900),  # skipped
]
LIB_B = [
    junc_line("chr1", "+", 999, 2000, 5),
    junc_line("chr2", "-", 5000, 6000, 10),
    junc_line("chr1", "-", 999, 2000, 500),
    junc_line("chr1", "-", 1000, 2000, 500),
]
EXPECTED_ROWS = [
    "chr2:5000:6000:clu_1_- 60/130 10/10",
    "chr2:5000:6500:clu_1_- 70/130 0/10",
    "chr1:1000:2000:clu_2_+ 200/300 0/5",  # "1000" sorts before "999" as text
    "chr1:999:2000:clu_2_+ 100/300 5/5",
    "chr1:3000:4000:clu_3_+ 80/170 0/0",
    "chr1:3000:4100:clu_3_+ 90/170 0/0",
    "chr1:1000:2000:clu_4_- 0/0 500/1000",
    "chr1:999:2000:clu_4_- 0/0 500/1000",
]


def _run(tmp_path):
    paths = [
        write_junc(tmp_path / "A.Aligned.sortedByCoord.out.bam.junc", LIB_A),
        write_junc(tmp_path / "B.Aligned.sortedByCoord.out.bam.junc", LIB_B),
    ]
    libraries = {library_name(p): parse_junc(p) for p in paths}
    refined = refine(cluster(pool(libraries)), min_reads=50, min_ratio=0.001)
    return libraries, count_per_library(refined, libraries)


def test_intron_ids_clu_numbering_and_zero_over_zero(tmp_path):
    _, rows = _run(tmp_path)
    assert [r.intron_id + " " + " ".join(r.fields()) for r in rows] == EXPECTED_ROWS
    assert rows[4] == PerindRow("chr1:3000:4000:clu_3_+", ((80, 170), (0, 0)))


def test_write_perind_counts_gzip_space_separated_with_header(tmp_path):
    libraries, rows = _run(tmp_path)
    out = tmp_path / "out" / "mage_v1.1_perind.counts.gz"
    write_perind_counts(rows, list(libraries), out)
    with gzip.open(out, "rt") as fh:
        text = fh.read()
    assert text == (
        "chrom A.Aligned.sortedByCoord.out.bam B.Aligned.sortedByCoord.out.bam\n"
        + "".join(line + "\n" for line in EXPECTED_ROWS)
    )
    assert os.listdir(out.parent) == [out.name]


def test_write_perind_counts_leaves_nothing_on_failure(tmp_path):
    out = tmp_path / "p.counts.gz"
    rows = [PerindRow("chr1:1:9:clu_1_+", ((1, 2),)), PerindRow("chr1:2:9:clu_1_+", ((1, 2),))]
    with pytest.raises(KgpexError, match="1 counts for 2 libraries"):
        write_perind_counts(rows, ["a", "b"], out)
    assert os.listdir(tmp_path) == []
    with pytest.raises(KgpexError, match="more than once"):
        write_perind_counts(rows, ["a", "a"], out)
    with pytest.raises(KgpexError, match="whitespace"):
        write_perind_counts(rows, ["a b"], out)


def test_no_clusters_gives_a_header_only_file(tmp_path):
    out = tmp_path / "p.counts.gz"
    write_perind_counts([], ["a"], out)
    with gzip.open(out, "rt") as fh:
        assert fh.read() == "chrom a\n"


def test_cluster_introns_whole_run_reads_each_file_twice_and_writes_the_same(tmp_path):
    """The rule's entry point (two passes, one library in memory at a time) writes what the
    steps above write with every library held at once; a repeated library name is one line."""
    from kgpex.splicing.clusters import cluster_introns

    paths = [
        write_junc(tmp_path / "A.Aligned.sortedByCoord.out.bam.junc", LIB_A),
        write_junc(tmp_path / "B.Aligned.sortedByCoord.out.bam.junc", LIB_B),
    ]
    out = tmp_path / "out" / "whole_perind.counts.gz"
    summary = cluster_introns(paths, out)
    with gzip.open(out, "rt") as fh:
        assert fh.read().splitlines()[1:] == EXPECTED_ROWS
    assert summary["libraries"] == 2 and summary["introns"] == len(EXPECTED_ROWS)
    twin = tmp_path / "twin"
    twin.mkdir()
    again = write_junc(twin / "A.Aligned.sortedByCoord.out.bam.junc", LIB_A)
    with pytest.raises(KgpexError, match="same library name"):
        cluster_introns([paths[0], again], tmp_path / "x.gz")
