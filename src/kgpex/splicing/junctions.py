"""Exon-exon junction counts for LeafCutter, as MAGE's regtools step produced them.

MAGE (WF/Snakefile, rule measure_intron_usage) ran
``regtools junctions extract -s 0 -a 8 -m 50 -M 500000`` on STAR's coordinate-sorted BAM.
``-s 0`` is the numeric strandness code of regtools <= 0.6.1 (tag 0.6.1, 2022-02-13); regtools
1.0.0 (2023-01-10) accepts only ``XS``/``RF``/``FR``/``intron-motif`` and rejects ``0`` with
"Unrecognized strandness argument", so MAGE's command can only have run on a 0.5.x/0.6.x build.
``src/junctions/junctions_extractor.cc`` is byte-identical between tags 0.5.2 and 0.6.1, and its
CIGAR walk, filters and output format are unchanged in 1.0.0 (which only adds the intron-motif
mode and barcodes). Source references below are to griffithlab/regtools tag 0.6.1.

:func:`extract_junctions` reproduces that command; :func:`junctions_from_star_sj` converts STAR's
SJ.out.tab into the same records; :func:`write_junc` writes regtools' BED12 ``.junc`` file.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from kgpex.common.errors import KgpexError
from kgpex.common.io import atomic_path

# pysam CIGAR operation codes (SAM spec order).
_M, _I, _D, _N, _S, _H, _P, _EQ, _X, _B = range(10)

_STRAND_MODES = {"XS": 0, "0": 0, 0: 0, "RF": 1, "1": 1, 1: 1, "FR": 2, "2": 2, 2: 2}

_FLAG_REVERSE, _FLAG_MATE_REVERSE, _FLAG_READ1, _FLAG_READ2 = 0x10, 0x20, 0x40, 0x80

# STAR SJ.out.tab column 4: 0 undefined, 1 '+', 2 '-'.
_STAR_STRAND = {"0": "?", "1": "+", "2": "-"}


@dataclass
class Junction:
    """One junction as regtools reports it (all coordinates 0-based, half-open).

    ``start``/``end`` bound the intron itself (``end - start`` is the intron length, the N
    operation's length); ``thick_start``/``thick_end`` extend it by the longest left/right
    anchor seen in any supporting read. ``count`` is the number of alignment records that
    contain the intron (the BED score). ``name`` is ``JUNC`` + 8 digits, numbered in order of
    first sight over all junctions that passed the length filter (so reported names have gaps).
    """

    chrom: str
    start: int
    end: int
    strand: str
    count: int
    thick_start: int
    thick_end: int
    name: str = "NA"

    @property
    def block_sizes(self) -> tuple[int, int]:
        """Longest left and right anchor (regtools' blockSizes)."""
        return self.start - self.thick_start, self.thick_end - self.end

    def bed12(self) -> str:
        """The BED12 line regtools prints for this junction, without the newline."""
        left, right = self.block_sizes
        return "\t".join((
            self.chrom, str(self.thick_start), str(self.thick_end), self.name, str(self.count),
            self.strand, str(self.thick_start), str(self.thick_end), "255,0,0", "2",
            f"{left},{right}", f"0,{self.end - self.thick_start}",
        ))


def _strand_from_flag(flag: int, mode: int) -> str:
    """regtools' RF/FR strand (set_junction_strand_flag, junctions_extractor.cc:245-270).

    Read-1 and read-2 evidence are combined and must agree, otherwise '?' (which also happens
    for every reverse-strand single-end read, a regtools quirk kept here).
    """
    base = 1 if mode == 1 else 0
    first = base ^ bool(flag & _FLAG_READ1) ^ bool(flag & _FLAG_REVERSE)
    second = base ^ bool(flag & _FLAG_READ2) ^ bool(flag & _FLAG_MATE_REVERSE)
    if first != second:
        return "?"
    return "+" if first else "-"


def _strand_from_tag(read, tag: str) -> str:
    """regtools' XS strand (set_junction_strand_XS, junctions_extractor.cc:231-242).

    No tag gives '?'. htslib's bam_aux2A returns 0 for a tag that is not of type A (e.g. an
    integer ``XS:i`` alignment score from BWA/HISAT2/bowtie2), which regtools also maps to '?'.
    Any other character is kept as is (it is neither '+' nor '-', so it pools with '?' in the
    junction key, and LeafCutter drops it only if it is literally '?').
    """
    if not read.has_tag(tag):
        return "?"
    value, vtype = read.get_tag(tag, with_value_type=True)
    if vtype != "A" or not value:
        return "?"
    return value


def _read_junctions(pos: int, cigar: list[tuple[int, int]]):
    """Yield ``(left_edge, intron_start, intron_end, right_edge)`` per N operation of one read.

    This is regtools' anchor bookkeeping (parse_alignment_into_junctions,
    junctions_extractor.cc:283-382), re-expressed:

    * Anchor = the run of M/= bases directly flanking the intron, not the read's total
      aligned bases on that side. The run is cut by D and X (reference consumed, anchor
      restarts after them; "No mismatches allowed in anchor", lines 333-350), and by I and S
      (anchor restarts at the current position, lines 351-366). So ``20M2D5M100N30M`` has a
      left anchor of 5, and ``20M100N30M`` with an X-coded mismatch 3 bases into the right
      block has a right anchor of 3. Mismatches hidden inside an M are not seen.
    * With several N operations each is a junction; the M/= run between two introns is the
      right anchor of the first and the left anchor of the second (lines 311-324).
    * An N directly followed by D/X/I/S (or by another N, or ending the read) gets a 0 anchor
      on that side; the record still counts (see :func:`extract_junctions`).
    * H is ignored; P and B hit regtools' "Unknown cigar" branch and change nothing.
    """
    thick_start = start = pos
    end = thick_end = 0
    open_ = False
    for op, length in cigar:
        if op == _M or op == _EQ:
            if open_:
                thick_end += length
            else:
                start += length
        elif op == _N:
            if open_:
                yield thick_start, start, end, thick_end
                thick_start, start = end, thick_end
            end = thick_end = start + length
            open_ = True
        elif op == _D or op == _X:
            if open_:
                yield thick_start, start, end, thick_end
                start = thick_end + length
            else:
                start += length
            thick_start = start
            open_ = False
        elif op == _I or op == _S:
            if open_:
                yield thick_start, start, end, thick_end
                start = thick_end
            thick_start = start
            open_ = False
    if open_:
        yield thick_start, start, end, thick_end


def extract_junctions(
    bam_path: str | os.PathLike,
    anchor: int = 8,
    min_intron: int = 50,
    max_intron: int = 500000,
    strand: str | int = "XS",
    *,
    strand_tag: str = "XS",
    region: str | None = None,
    include_unanchored: bool = False,
) -> list[Junction]:
    """Junctions in a BAM, as ``regtools junctions extract -s 0 -a 8 -m 50 -M 500000`` (0.6.1).

    Decisions, each following regtools 0.6.1 ``src/junctions/junctions_extractor.cc`` (``.cc``)
    and ``junctions_extractor.h`` (``.h``):

    * **Which records.** Every record the BAM iterator yields is parsed
      (identify_junctions_from_BAM, .cc:385-420): there is no test of the FLAG, so secondary
      (multimapper) alignments, supplementary (e.g. STAR chimeric ``WithinBAM``) records,
      duplicates and QC-fail reads all count, and each mate of a pair counts separately
      (a pair whose two mates both cross an intron adds 2). There is no mapping-quality
      option at all (getopt string ``"ha:m:M:o:r:t:s:"``, .cc:46 in 0.6.1; none in 1.0.0
      either), so MAPQ 0 multimappers count. Records with fewer than two CIGAR operations are
      skipped (.cc:284-286), which is how unmapped records are passed over; records with no
      reference (tid -1) are skipped here explicitly, where regtools would index
      target_name[-1].
    * **Strand** (``strand``): ``"XS"``/``0`` (MAGE's ``-s 0``) takes it from the ``XS`` tag
      (``strand_tag``, regtools ``-t``), '?' when absent or not a character
      (:func:`_strand_from_tag`); ``"RF"``/``1`` and ``"FR"``/``2`` use the FLAG
      (:func:`_strand_from_flag`). One strand per read, set before the CIGAR walk (.cc:297),
      so all introns of a read share it. STAR with ``--outSAMstrandField intronMotif`` puts
      XS on every spliced read it keeps and drops reads with non-canonical introns, so in
      MAGE's BAMs '?' should not occur; LeafCutter skips '?' lines anyway.
    * **Anchors**: see :func:`_read_junctions` (flanking M/= run, cut by D/X/I/S).
    * **Intron length**: kept when ``min_intron <= end - start <= max_intron``, i.e. the N
      length (junction_qc, .cc:132-141); failing introns are not recorded at all.
    * **Counting vs anchor filter.** The anchor test is per junction, not per read
      (add_junction .cc:145-191, print_all_junctions .cc:216-225; documented in
      docs/commands/junctions-extract.md): a junction is reported if *some* read has a left
      anchor ``>= anchor`` and *some* read (possibly another) has a right anchor
      ``>= anchor``, and then its count includes **every** record that crossed it, short
      anchors included. ``include_unanchored=True`` also returns the junctions regtools
      counted but did not print.
    * **Key**: (chrom, start, end, strand) with '+', '-' and anything else ('?') as three
      classes (.cc:152-165); the reported strand is the last read's.
    * **Record**: thick_start/thick_end are the min/max over reads (.cc:180-183); names are
      ``JUNC%08d`` by first sight (get_new_junction_name .cc:123-128); output order is chrom
      (byte order), thick_start, thick_end, name (compare_junctions, .h).

    Unlike regtools no index is needed when ``region`` is None (records are read in file
    order, the same set regtools' whole-file iterator visits).
    """
    mode = _STRAND_MODES.get(strand)
    if mode is None:
        raise KgpexError(f"extract_junctions: strand must be XS, RF or FR, not {strand!r}")
    import pysam

    table: dict[tuple[str, int, int, str], list] = {}
    try:
        bam = pysam.AlignmentFile(str(bam_path), "rb")
    except (OSError, ValueError) as exc:
        raise KgpexError(f"cannot read BAM {bam_path}: {exc}") from exc
    with bam:
        names = bam.references
        reads = bam.fetch(region=region) if region else bam.fetch(until_eof=True)
        for read in reads:
            cigar = read.cigartuples
            if cigar is None or len(cigar) < 2:
                continue
            for op, _ in cigar:
                if op == _N:
                    break
            else:
                continue
            tid = read.reference_id
            if tid < 0:
                continue
            if mode == 0:
                read_strand = _strand_from_tag(read, strand_tag)
            else:
                read_strand = _strand_from_flag(read.flag, mode)
            strand_key = read_strand if read_strand in ("+", "-") else "?"
            chrom = names[tid]
            for left, start, end, right in _read_junctions(read.reference_start, cigar):
                if not min_intron <= end - start <= max_intron:
                    continue
                key = (chrom, start, end, strand_key)
                rec = table.get(key)
                if rec is None:
                    table[key] = [len(table) + 1, 1, left, right,
                                  start - left >= anchor, right - end >= anchor, read_strand]
                else:
                    rec[1] += 1
                    rec[2] = min(rec[2], left)
                    rec[3] = max(rec[3], right)
                    rec[4] = rec[4] or start - left >= anchor
                    rec[5] = rec[5] or right - end >= anchor
                    rec[6] = read_strand
    out = [
        Junction(chrom, start, end, rec[6], rec[1], rec[2], rec[3], f"JUNC{rec[0]:08d}")
        for (chrom, start, end, _), rec in table.items()
        if include_unanchored or (rec[4] and rec[5])
    ]
    out.sort(key=lambda j: (j.chrom.encode(), j.thick_start, j.thick_end, j.name))
    return out


def junctions_from_star_sj(
    sj_out_tab: str | os.PathLike,
    min_intron: int = 50,
    max_intron: int = 500000,
    *,
    anchor: int = 0,
    include_multimappers: bool = False,
    keep_undefined_strand: bool = False,
) -> list[Junction]:
    """Junction records from STAR's SJ.out.tab, in the shape :func:`extract_junctions` returns.

    SJ.out.tab columns: chrom, first intron base (1-based), last intron base (1-based),
    strand (0 undefined, 1 +, 2 -), motif, annotated, unique reads, multimapping reads, maximum
    spliced-alignment overhang. Intron (0-based half-open) = (col2 - 1, col3). ``count`` is the
    unique-read column, plus the multimapper column if ``include_multimappers``; rows whose
    count is then 0 are dropped. Both blockSizes are the column-9 overhang; rows with an
    overhang below ``anchor`` are dropped (0 keeps all: STAR already applied its own
    thresholds). Strand 0 rows (non-canonical motif) are dropped unless
    ``keep_undefined_strand`` (then strand '?', which LeafCutter ignores). Names are
    ``JUNC%08d`` in output order.

    How these counts differ from regtools on the same STAR run (STAR source
    ReadAlign_outputTranscriptSJ.cpp; STAR manual for the --outSJfilter* defaults):

    * Unit: STAR counts a read (a *pair* for paired-end) once per junction, even when both
      mates cross it; regtools counts alignment records, so overlapping mates count 2.
    * Multimappers: STAR puts them in a separate column (each of a read's alignments that
      contains the junction adds 1 there); regtools adds every secondary alignment into the
      one count, with no MAPQ filter.
    * Overhang: column 9 is the max over reads of min(left, right) exon-block length (blocks
      are cut at indels); regtools requires left and right anchors >= 8 from possibly
      different reads and then counts all reads. Here one threshold on column 9 is the only
      approximation available.
    * Filtering: unannotated junctions reach SJ.out.tab only if they pass --outSJfilter*
      (defaults: overhang >= 30/12/12/12 for non-canonical/GT-AG/GC-AG/AT-AC, unique reads
      >= 3/1/1/1 or total >= 3/1/1/1, distance to other junctions, intron size vs read
      count); annotated ones (and, under --twopassMode Basic, the junctions inserted from
      pass 1) always pass. With MAGE's --outFilterType BySJout the BAM keeps only reads whose
      junctions passed, so the two sources agree on *which* junctions exist, not on counts.
    * Non-canonical: --outSAMstrandField intronMotif removes reads with non-canonical
      introns from the BAM, so regtools never sees them, while SJ.out.tab may still list
      them (strand 0).
    * Chimeric: STAR's chimeric segments (--chimOutType WithinBAM) are in the BAM as
      supplementary records and regtools counts their N operations; SJ.out.tab does not.

    Recommendation: use :func:`extract_junctions` on the BAM when LeafCutter's thresholds
    (pooled >= 3, per-intron >= 50 reads) must mean what they meant in MAGE; SJ.out.tab costs
    no extra pass but gives systematically lower counts (pairs not mates, no multimappers).
    """
    rows: list[Junction] = []
    path = Path(sj_out_tab)
    try:
        text = path.read_text()
    except OSError as exc:
        raise KgpexError(f"cannot read STAR junctions {path}: {exc}") from exc
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 9:
            raise KgpexError(f"{path}:{lineno}: expected 9 columns, found {len(fields)}")
        chrom, first, last, code, _motif, _annot, uniq, multi, overhang = fields
        try:
            start, end = int(first) - 1, int(last)
            count = int(uniq) + (int(multi) if include_multimappers else 0)
            over = int(overhang)
            strand = _STAR_STRAND[code]
        except (ValueError, KeyError) as exc:
            raise KgpexError(f"{path}:{lineno}: malformed SJ.out.tab row") from exc
        if not min_intron <= end - start <= max_intron:
            continue
        if count == 0 or over < anchor:
            continue
        if strand == "?" and not keep_undefined_strand:
            continue
        rows.append(Junction(chrom, start, end, strand, count, max(0, start - over), end + over))
    rows.sort(key=lambda j: (j.chrom.encode(), j.thick_start, j.thick_end, j.strand))
    for i, j in enumerate(rows, 1):
        j.name = f"JUNC{i:08d}"
    return rows


def write_junc(records: Iterable[Junction], path: str | os.PathLike) -> Path:
    """Write ``records`` as regtools' BED12 junction file, atomically (temporary name, rename).

    One line per record, in the order given (:func:`extract_junctions` already returns
    regtools' order), no header, tab-separated, each line ending in a newline.
    """
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as fh:
        fh.writelines(rec.bed12() + "\n" for rec in records)
    return path
