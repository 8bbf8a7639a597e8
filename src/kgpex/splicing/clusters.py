"""LeafCutter intron clustering as MAGE ran it (leafcutter_cluster_regtools.py -m 50 -l 500000,
min ratio 0.001): parse regtools .junc files, pool, cluster, refine, count per library, write
``<prefix>_perind.counts.gz``.

A reimplementation of the published algorithm (davidaknowles/leafcutter master 2c9907e,
clustering/leafcutter_cluster_regtools.py), kept to its exact semantics, quirks included:

* Intron coordinates: start = chromStart + first blockSize, end = chromEnd - second blockSize + 1,
  i.e. (1-based) the last base of the upstream exon and the first base of the downstream exon;
  the intron itself is start+1 .. end-1 and ``end - start`` is its length plus one.
* Contigs: chr1-22, chrX, chrY and also the unprefixed 1-22, X, Y (LeafCutter's chromLst).
* Clusters are numbered in LeafCutter's order: (chrom, strand) blocks in the order they first
  appear in the junction files (files in the given order, lines in file order; not sorted),
  then by position within a block, then in the order refinement emits the pieces.
* Within a cluster the per-library rows are sorted by start then end compared as *text*
  (LeafCutter sorts the coordinate strings), so 1000 comes before 999.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from kgpex.common.errors import KgpexError
from kgpex.common.io import atomic_path, gzip_text_writer, open_text

# (chrom, strand, start, end), LeafCutter coordinates as above.
Intron = tuple[str, str, int, int]
Interval = tuple[int, int]

# LeafCutter's chromLst: chr1..chr22, chrX, chrY, then 1..22, X, Y.
ALLOWED_CONTIGS = frozenset(
    [f"chr{i}" for i in range(1, 23)] + ["chrX", "chrY"]
    + [str(i) for i in range(1, 23)] + ["X", "Y"]
)
# "a junction must have at least 3 reads": hard-coded in LeafCutter, no option changes it.
MIN_POOLED_READS = 3
MAGE_MAX_INTRON = 500_000  # -l 500000 (LeafCutter's own default is 100,000)
MAGE_MIN_READS = 50  # -m 50 (LeafCutter's own default is 30)
MAGE_MIN_RATIO = 0.001  # -p left at its default

_JUNC_FIELDS = 12


@dataclass(frozen=True)
class Cluster:
    """Introns of one cluster on one chrom and strand, each ((start, end), pooled count), in the
    order LeafCutter keeps them (position order after clustering; discovery order after
    refinement, which changes nothing downstream because the rows are re-sorted)."""

    chrom: str
    strand: str
    introns: tuple[tuple[Interval, int], ...]

    @property
    def total(self) -> int:
        return sum(count for _, count in self.introns)


class PerindRow(NamedTuple):
    """One row of perind.counts: ``chr:start:end:clu_N_strand`` and (numerator, denominator)
    per library, in library order."""

    intron_id: str
    counts: tuple[tuple[int, int], ...]

    def fields(self) -> list[str]:
        return [f"{num}/{den}" for num, den in self.counts]


def library_name(junc_path: str | os.PathLike) -> str:
    """The perind column name LeafCutter gives a junction file: its base name cut at the first
    ".junc" (``GM1.Aligned.sortedByCoord.out.bam.junc`` -> ``GM1.Aligned.sortedByCoord.out.bam``)."""
    return Path(junc_path).name.split(".junc")[0]


def _int(text: str, what: str, where: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise KgpexError(f"{where}: {what} '{text}' is not an integer") from None


def parse_junc(path: str | os.PathLike) -> dict[Intron, int]:
    """One library's junction counts from a regtools BED12 .junc file (plain or gzip), summed
    per (chrom, strand, start, end), in order of first appearance in the file.

    Skipped as LeafCutter skips them: lines with fewer than 6 fields (e.g. a track line),
    blockCount > 2, strand "?", contigs outside ALLOWED_CONTIGS (checked in that order). Lines
    that would crash LeafCutter (not 12 fields, blockSizes not two numbers, non-integer fields)
    are a KgpexError, as is an intron with end <= start (negative length; LeafCutter does not
    check, regtools never writes one). Intron length is not filtered here (see pool).
    """
    counts: dict[Intron, int] = {}
    try:
        fh = open_text(path, what="regtools junction file")
    except FileNotFoundError:
        raise KgpexError(f"{path}: junction file not found") from None
    with fh:
        for lineno, line in enumerate(fh, 1):
            fields = line.split()
            if len(fields) < 6:
                continue
            where = f"{path} line {lineno}"
            if len(fields) != _JUNC_FIELDS:
                raise KgpexError(
                    f"{where}: {len(fields)} fields, a regtools BED12 junction has {_JUNC_FIELDS}"
                )
            chrom, chrom_start, chrom_end, _, score, strand = fields[:6]
            block_count, block_sizes = fields[9], fields[10]
            if _int(block_count, "blockCount", where) > 2:
                continue
            if strand == "?":
                continue
            if chrom not in ALLOWED_CONTIGS:
                continue
            sizes = block_sizes.split(",")
            if len(sizes) != 2:
                raise KgpexError(f"{where}: blockSizes '{block_sizes}' is not two sizes")
            start = _int(chrom_start, "chromStart", where) + _int(sizes[0], "blockSize", where)
            end = _int(chrom_end, "chromEnd", where) - _int(sizes[1], "blockSize", where) + 1
            if end <= start:
                raise KgpexError(f"{where}: intron end {end} not after start {start}")
            key = (chrom, strand, start, end)
            counts[key] = counts.get(key, 0) + _int(score, "count (score)", where)
    return counts


def _library_iter(
    libraries: Mapping[str, Mapping[Intron, int]] | Iterable[Mapping[Intron, int]],
) -> Iterable[Mapping[Intron, int]]:
    # An iterable is walked once, not listed: cluster_introns pools a cohort's files one at a
    # time.
    if isinstance(libraries, Mapping):
        return libraries.values()
    return libraries


def pool(
    libraries: Mapping[str, Mapping[Intron, int]] | Iterable[Mapping[Intron, int]],
    max_intron: int = MAGE_MAX_INTRON,
) -> dict[tuple[str, str], dict[Interval, int]]:
    """Counts summed over libraries per intron, grouped by (chrom, strand).

    Introns with end - start > max_intron are dropped (before pooling, as LeafCutter does; the
    intron is then end - start - 1 bp, so a 500,000 bp intron is dropped under -l 500000), then
    introns with a pooled count below MIN_POOLED_READS. The (chrom, strand) groups keep the order
    in which they first appear (libraries in order, each in its file order): LeafCutter numbers
    clusters in that order. Introns within a group are sorted by (start, end).
    """
    if isinstance(max_intron, bool) or not isinstance(max_intron, int) or max_intron < 1:
        raise KgpexError(f"max_intron must be a positive integer, got {max_intron!r}")
    by_strand: dict[tuple[str, str], dict[Interval, int]] = {}
    for counts in _library_iter(libraries):
        for (chrom, strand, start, end), count in counts.items():
            if end - start > max_intron:
                continue
            group = by_strand.setdefault((chrom, strand), {})
            group[(start, end)] = group.get((start, end), 0) + count
    pooled: dict[tuple[str, str], dict[Interval, int]] = {}
    for key, group in by_strand.items():
        kept = {iv: n for iv, n in sorted(group.items()) if n >= MIN_POOLED_READS}
        if kept:
            pooled[key] = kept
    return pooled


def _overlaps(a: Interval, b: Interval) -> bool:
    """Closed intervals: touching at one coordinate counts as overlapping."""
    return not (a[1] < b[0] or b[1] < a[0])


def _chain(intervals: Iterable[Interval]) -> list[list[Interval]]:
    """Sort, then walk left to right: an interval joins the current chain when it overlaps the
    previous interval's start .. the largest end seen so far."""
    ordered = sorted(intervals)
    chains: list[list[Interval]] = []
    if not ordered:
        return chains
    current: list[Interval] = []
    reach = ordered[0]
    for iv in ordered:
        if _overlaps(iv, reach):
            current.append(iv)
        else:
            chains.append(current)
            current = [iv]
        reach = (iv[0], max(reach[1], iv[1]))
    chains.append(current)
    return chains


def _link(items: Sequence[tuple[Interval, int]]) -> list[list[tuple[Interval, int]]]:
    """Split into groups joined, transitively, by a shared coordinate: an intron joins a group
    when its start or its end is any start or end already in the group (so one intron's end
    equal to another's start links them too).

    Groups are seeded by the first ungrouped item in input order and filled in discovery order.
    As in LeafCutter, a seed taken when nothing else is left is never emitted: a one-item input
    gives [] and a trailing singleton is lost. Singletons are dropped later anyway, so this
    changes no result.
    """
    pending = list(items)
    groups: list[list[tuple[Interval, int]]] = []
    if not pending:
        return groups
    seed = pending.pop(0)
    group = [seed]
    sites = {seed[0][0], seed[0][1]}
    while pending:
        grew = True
        while grew:
            grew = False
            left = []
            for item in pending:
                (start, end), _ = item
                if start in sites or end in sites:
                    group.append(item)
                    sites.update((start, end))
                    grew = True
                else:
                    left.append(item)
            pending = left
        groups.append(group)
        if pending:
            seed = pending.pop(0)
            group = [seed]
            sites = {seed[0][0], seed[0][1]}
    return groups


def cluster(pooled: Mapping[tuple[str, str], Mapping[Interval, int]]) -> list[Cluster]:
    """LeafCutter's initial clusters: per (chrom, strand) in pooled order, the overlap chains of
    the introns sorted by position (closed-interval overlap against the running maximum end);
    chains of one intron are dropped."""
    clusters = []
    for (chrom, strand), counts in pooled.items():
        for chain in _chain(counts):
            if len(chain) > 1:
                clusters.append(Cluster(chrom, strand, tuple((iv, counts[iv]) for iv in chain)))
    return clusters


def _refine_step(group, min_reads: int, min_ratio: float):
    """One call of LeafCutter's refine_cluster, with its recursion returned instead of made:
    a list of (final, introns) in output order, where final=False means "refine this again"."""
    total = sum(count for _, count in group)
    if total <= 0:  # only with hand-made input: pool keeps counts >= 3
        return []
    kept = [(iv, n) for iv, n in group if n / total >= min_ratio and n >= min_reads]
    removed_any = len(kept) < len(group)
    if not kept:
        return []
    count_of = dict(kept)
    pieces = []
    for chain in _chain(count_of):
        for linked in _link([(iv, 0) for iv in chain]):
            pieces.append([(iv, count_of[iv]) for iv, _ in linked])
    if len(pieces) == 1:
        only = pieces[0]
        if len(only) < 2:
            return []
        return [(not removed_any, only)]
    return [(False, piece) for piece in pieces if len(piece) > 1]


def _refine_group(group, min_reads: int, min_ratio: float) -> list[list[tuple[Interval, int]]]:
    """Depth-first, in LeafCutter's recursion order, without Python recursion."""
    out = []
    stack = [(False, list(group))]
    while stack:
        final, introns = stack.pop()
        if final:
            out.append(introns)
        else:
            stack.extend(reversed(_refine_step(introns, min_reads, min_ratio)))
    return out


def refine(
    clusters: Iterable[Cluster],
    min_reads: int = MAGE_MIN_READS,
    min_ratio: float = MAGE_MIN_RATIO,
) -> list[Cluster]:
    """LeafCutter's refinement, in its order.

    A cluster with fewer than min_reads pooled reads in all is dropped. The rest is split into
    groups linked by shared splice sites (_link). In each group an intron is kept only if its
    pooled count is >= min_reads and >= min_ratio of the group's total; the survivors are
    re-chained by overlap and re-linked. Several pieces: each piece of two or more introns is
    refined again (ratios against its own total). One piece: refined again if anything was
    removed, else final. Pieces of one intron are dropped.
    """
    if isinstance(min_reads, bool) or not isinstance(min_reads, int) or min_reads < 0:
        raise KgpexError(f"min_reads must be a non-negative integer, got {min_reads!r}")
    ratio = float(min_ratio)
    if not 0.0 <= ratio <= 1.0:
        raise KgpexError(f"min_ratio must be between 0 and 1, got {min_ratio!r}")
    refined = []
    for clu in clusters:
        if clu.total < min_reads:
            continue
        for group in _link(list(clu.introns)):
            for introns in _refine_group(group, min_reads, ratio):
                refined.append(Cluster(clu.chrom, clu.strand, tuple(introns)))
    return refined


def count_per_library(
    refined: Sequence[Cluster],
    libraries: Mapping[str, Mapping[Intron, int]],
) -> list[PerindRow]:
    """perind.counts rows: clusters numbered 1..N in the given order, and per library
    (in mapping order) the intron's count over that library's total for the cluster's introns
    (0/0 when the library has none). Rows within a cluster are sorted by start then end as text,
    as LeafCutter sorts them."""
    names = list(libraries)
    if not names:
        raise KgpexError("count_per_library: no libraries given")
    tables = [libraries[name] for name in names]
    rows = []
    for number, clu in enumerate(refined, 1):
        coords = sorted((iv for iv, _ in clu.introns), key=lambda iv: (str(iv[0]), str(iv[1])))
        per_lib = [
            [table.get((clu.chrom, clu.strand, start, end), 0) for start, end in coords]
            for table in tables
        ]
        totals = [sum(nums) for nums in per_lib]
        for i, (start, end) in enumerate(coords):
            rows.append(
                PerindRow(
                    f"{clu.chrom}:{start}:{end}:clu_{number}_{clu.strand}",
                    tuple((nums[i], tot) for nums, tot in zip(per_lib, totals)),
                )
            )
    return rows


def write_perind_counts(
    rows: Iterable[PerindRow],
    library_names: Sequence[str],
    path: str | os.PathLike,
) -> None:
    """Write LeafCutter's ``*_perind.counts.gz``: gzip, space-separated, header
    ``chrom <library names>``, one ``<intron id> num/den ...`` line per row; written to a
    temporary file and renamed, so a failure leaves no file under ``path``."""
    names = list(library_names)
    if not names:
        raise KgpexError(f"{path}: no library names for the perind counts header")
    bad = [n for n in names if not n or any(c.isspace() for c in n)]
    if bad:
        raise KgpexError(f"{path}: library name {bad[0]!r} is empty or contains whitespace")
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise KgpexError(f"{path}: library name {dupes[0]!r} given more than once")
    with atomic_path(path) as tmp, gzip_text_writer(tmp) as fh:
        fh.write("chrom " + " ".join(names) + "\n")
        for row in rows:
            if len(row.counts) != len(names):
                raise KgpexError(
                    f"{path}: row {row.intron_id} has {len(row.counts)} counts "
                    f"for {len(names)} libraries"
                )
            fh.write(row.intron_id + " " + " ".join(row.fields()) + "\n")


def cluster_introns(
    junc_paths: Sequence[str | os.PathLike],
    dest: str | os.PathLike,
    min_reads: int = MAGE_MIN_READS,
    max_intron: int = MAGE_MAX_INTRON,
    min_ratio: float = MAGE_MIN_RATIO,
) -> dict[str, int]:
    """LeafCutter's whole clustering run (leafcutter_cluster_regtools.py -m -l -p) over the
    libraries' .junc files, in the given order, into ``dest`` (``*_perind.counts.gz``, columns
    named by :func:`library_name`). Returns the counts at each step, for the job's log."""
    if not junc_paths:
        raise KgpexError("cluster_introns: no junction files given")
    names = [library_name(p) for p in junc_paths]
    if len(set(names)) != len(names):
        raise KgpexError("cluster_introns: two junction files have the same library name")
    # Two passes over the files, one library in memory at a time: MAGE's 779 libraries of a few
    # hundred thousand junctions each would not fit at once. Pool, cluster and refine; then
    # read each file again for the refined clusters' introns only.
    pooled = pool((parse_junc(p) for p in junc_paths), max_intron)
    initial = cluster(pooled)
    refined = refine(initial, min_reads, min_ratio)
    kept = {(c.chrom, c.strand, start, end) for c in refined for (start, end), _ in c.introns}
    libraries = {
        name: {key: n for key, n in parse_junc(p).items() if key in kept}
        for name, p in zip(names, junc_paths)
    }
    rows = count_per_library(refined, libraries)
    write_perind_counts(rows, list(libraries), dest)
    return {
        "libraries": len(libraries),
        "pooled_introns": sum(len(g) for g in pooled.values()),
        "initial_clusters": len(initial),
        "clusters": len(refined),
        "introns": len(rows),
    }
