"""Paired-end reads of one library, drawn from transcript sequences and written as FASTQ.gz.

Fragments ~ N(fragment_mean, fragment_sd) start uniformly on their transcript; read 1 is the
fragment's sense end or its antisense end at random (unstranded, inward-facing: salmon's IU).
Each fragment comes from one of the individual's two phased haplotypes (the gene's share of
haplotype 1 comes from the expression plan) and carries that haplotype's allele at every SNP in
the transcript's exons; only SNPs are applied, so indels leave the reference sequence. Then
substitution errors at a per-library rate, all qualities 'I'. Headers are ENA's for SRA runs
(`@SRR90000001.7 7/1`). Everything is vectorised with numpy; gzip runs at level 1 with mtime 0.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kgpex.demo.genotypes import ChromVariants
from kgpex.demo.reference import BASES, Reference, reverse_complement
from kgpex.demo.spec import DemoSpec

MIN_FRAGMENT = 100
CODE = {b: k for k, b in enumerate("ACGT")}


@dataclass(frozen=True)
class Transcriptome:
    """All transcript sequences concatenated, in the order of ``Reference.transcripts()``, and
    where SNPs fall in them.

    SNPs are listed per chromosome (``snp_rows``: the SNP records of each chromosome's
    ChromVariants, in order; concatenated over chromosomes they are the cohort-wide SNP list). A
    SNP in the exons of several isoforms has one entry per isoform in ``snp_offsets``.
    """

    codes: np.ndarray  # uint8 base codes
    offsets: np.ndarray  # start of each transcript in ``codes``
    lengths: np.ndarray
    gene_of: np.ndarray  # gene index (GTF order) of each transcript
    snp_rows: dict[str, np.ndarray]
    snp_offsets: np.ndarray  # position in ``codes`` of each SNP entry, ascending
    snp_index: np.ndarray  # the entry's SNP in the cohort-wide SNP list
    snp_alt: np.ndarray  # ALT base code on the transcript's strand

    @classmethod
    def from_reference(
        cls, ref: Reference, variants: dict[str, ChromVariants] | None = None
    ) -> "Transcriptome":
        pairs = ref.transcripts()
        seqs = [ref.transcript_codes(t, g.strand, g.chrom) for g, t in pairs]
        lengths = np.array([len(s) for s in seqs], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        if lengths.min() < MIN_FRAGMENT:
            raise ValueError(f"demo reference: a transcript is shorter than {MIN_FRAGMENT} bp")
        gene_index = {id(g): k for k, g in enumerate(ref.genes)}
        gene_of = np.array([gene_index[id(g)] for g, _ in pairs], dtype=np.int64)

        variants = variants or {}
        snp_rows, first = {}, {}
        n_snps = 0
        for chrom, v in variants.items():
            snp_rows[chrom] = np.flatnonzero(v.is_snp)
            first[chrom] = n_snps
            n_snps += len(snp_rows[chrom])
        entry_offsets, entry_index, entry_alt = [], [], []
        for (gene, tx), tx_start, tx_len in zip(pairs, offsets, lengths):
            if gene.chrom not in variants:
                continue
            v, rows = variants[gene.chrom], snp_rows[gene.chrom]
            snp_pos = v.pos[rows]
            done = 0  # transcript bases before this exon, in genome order
            for s, e in tx.exons:
                lo, hi = np.searchsorted(snp_pos, [s, e + 1])
                along = done + snp_pos[lo:hi] - s  # offset along the + strand
                alt = np.array([CODE[v.alt[r]] for r in rows[lo:hi]], dtype=np.uint8)
                if gene.strand == "-":  # transcript codes are reverse-complemented
                    along, alt = tx_len - 1 - along, 3 - alt
                entry_offsets.append(tx_start + along)
                entry_index.append(first[gene.chrom] + np.arange(lo, hi))
                entry_alt.append(alt)
                done += e - s + 1
        order = np.argsort(np.concatenate([[], *entry_offsets]).astype(np.int64), kind="stable")
        return cls(
            codes=np.concatenate(seqs),
            offsets=offsets,
            lengths=lengths,
            gene_of=gene_of,
            snp_rows=snp_rows,
            snp_offsets=np.concatenate([[], *entry_offsets]).astype(np.int64)[order],
            snp_index=np.concatenate([[], *entry_index]).astype(np.int64)[order],
            snp_alt=np.concatenate([[], *entry_alt]).astype(np.uint8)[order],
        )

    def alleles(self, variants: dict[str, ChromVariants], sample: int) -> np.ndarray:
        """ALT alleles (cohort-wide SNPs x 2 haplotypes) of the panel sample at ``sample``."""
        cols = [2 * sample, 2 * sample + 1]
        parts = [variants[c].haps[rows][:, cols] for c, rows in self.snp_rows.items()]
        return np.concatenate(parts) if parts else np.zeros((0, 2), dtype=np.uint8)


@dataclass(frozen=True)
class Fragments:
    """Where each read pair of a library comes from."""

    which: np.ndarray  # transcript
    start: np.ndarray  # first base, as a position in ``Transcriptome.codes``
    length: np.ndarray
    flip: np.ndarray  # read 1 is the antisense end
    haplotype: np.ndarray  # 0 or 1


def draw_fragments(
    rng: np.random.Generator,
    tx: Transcriptome,
    probs: np.ndarray,
    n_pairs: int,
    spec: DemoSpec,
    first_haplotype_share: np.ndarray | None = None,
) -> Fragments:
    """Fragments in random spot order; ``first_haplotype_share`` per gene (1/2 if None)."""
    which = rng.choice(len(probs), size=n_pairs, p=probs)
    tx_len = tx.lengths[which]
    frag = np.rint(rng.normal(spec.fragment_mean, spec.fragment_sd, n_pairs)).astype(np.int64)
    frag = np.minimum(np.maximum(frag, max(MIN_FRAGMENT, spec.read_length)), tx_len)
    start = (rng.random(n_pairs) * (tx_len - frag + 1)).astype(np.int64)
    flip = rng.random(n_pairs) < 0.5
    share = 0.5 if first_haplotype_share is None else first_haplotype_share[tx.gene_of[which]]
    haplotype = (rng.random(n_pairs) >= share).astype(np.uint8)
    return Fragments(which, tx.offsets[which] + start, frag, flip, haplotype)


def _with_alleles(
    tx: Transcriptome, window: np.ndarray, first: np.ndarray, haplotype, alleles
) -> np.ndarray:
    """``window`` (reads x read_length, the + strand of the transcript from ``first``) with the
    ALT base wherever the read's haplotype carries ALT at a SNP inside it."""
    lo = np.searchsorted(tx.snp_offsets, first)
    hi = np.searchsorted(tx.snp_offsets, first + window.shape[1])
    counts = hi - lo
    read = np.repeat(np.arange(len(first)), counts)
    entry = lo[read] + np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    alt = alleles[tx.snp_index[entry], haplotype[read]] == 1
    read, entry = read[alt], entry[alt]
    window[read, tx.snp_offsets[entry] - first[read]] = tx.snp_alt[entry]
    return window


def fragment_reads(
    rng: np.random.Generator,
    tx: Transcriptome,
    frags: Fragments,
    spec: DemoSpec,
    error_rate: float,
    alleles: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Base codes (pairs x read_length) of mates 1 and 2; ``alleles`` as Transcriptome.alleles
    gives them (None: reference sequence)."""
    cols = np.arange(spec.read_length)
    end_first = frags.start + frags.length - spec.read_length
    sense = tx.codes[frags.start[:, None] + cols]
    far_end = tx.codes[end_first[:, None] + cols]
    if alleles is not None and len(tx.snp_offsets):
        sense = _with_alleles(tx, sense, frags.start, frags.haplotype, alleles)
        far_end = _with_alleles(tx, far_end, end_first, frags.haplotype, alleles)
    antisense = reverse_complement(far_end)
    mate1 = np.where(frags.flip[:, None], antisense, sense)
    mate2 = np.where(frags.flip[:, None], sense, antisense)
    for mate in (mate1, mate2):  # sequencing errors come after the alleles
        errors = rng.random(mate.shape) < error_rate
        mate[errors] = (mate[errors] + rng.integers(1, 4, int(errors.sum()))) % 4
    return mate1.astype(np.uint8), mate2.astype(np.uint8)


def simulate_pairs(
    rng: np.random.Generator,
    tx: Transcriptome,
    probs: np.ndarray,
    n_pairs: int,
    spec: DemoSpec,
    error_rate: float,
    alleles: np.ndarray | None = None,
    first_haplotype_share: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Base codes (n_pairs x read_length) of mates 1 and 2, in random spot order."""
    frags = draw_fragments(rng, tx, probs, n_pairs, spec, first_haplotype_share)
    return fragment_reads(rng, tx, frags, spec, error_rate, alleles)


def _digits(numbers: np.ndarray, width: int) -> np.ndarray:
    """ASCII digits (len x width) of non-negative integers that all have ``width`` digits."""
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    return (numbers[:, None] // powers % 10 + ord("0")).astype(np.uint8)


def fastq_bytes(run: str, mate: int, codes: np.ndarray) -> bytes:
    """FASTQ text of one mate: '@RUN.N N/mate', sequence, '+', qualities 'I'."""
    n, read_len = codes.shape
    seq = BASES[codes]
    chunks = []
    spot = np.arange(1, n + 1, dtype=np.int64)
    for width in range(1, len(str(n)) + 1):  # header width is fixed within a digit count
        sel = (spot >= 10 ** (width - 1)) & (spot < 10**width)
        if not sel.any():
            continue
        digits = _digits(spot[sel], width)
        m = len(digits)

        def const(text: str) -> np.ndarray:
            return np.broadcast_to(np.frombuffer(text.encode(), dtype=np.uint8), (m, len(text)))

        block = np.hstack(
            [
                const(f"@{run}."),
                digits,
                const(" "),
                digits,
                const(f"/{mate}\n"),
                seq[sel],
                const("\n+\n" + "I" * read_len + "\n"),
            ]
        )
        chunks.append(block.tobytes())
    return b"".join(chunks)


def write_fastq_gz(path: Path, text: bytes) -> None:
    with (
        open(path, "wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=1, mtime=0) as gz,
    ):
        gz.write(text)
