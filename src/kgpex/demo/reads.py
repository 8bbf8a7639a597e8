"""Paired-end reads of one library, drawn from transcript sequences and written as FASTQ.gz.

Fragments ~ N(fragment_mean, fragment_sd) start uniformly on their transcript; read 1 is the
fragment's sense end or its antisense end at random (unstranded, inward-facing: salmon's IU).
Substitution errors at a per-library rate, all qualities 'I'. Headers are ENA's for SRA runs
(`@SRR90000001.7 7/1`). Everything is vectorised with numpy; gzip runs at level 1 with mtime 0.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kgpex.demo.reference import BASES, Reference, reverse_complement
from kgpex.demo.spec import DemoSpec

MIN_FRAGMENT = 100


@dataclass(frozen=True)
class Transcriptome:
    """All transcript sequences concatenated, in the order of ``Reference.transcripts()``."""

    codes: np.ndarray  # uint8 base codes
    offsets: np.ndarray  # start of each transcript in ``codes``
    lengths: np.ndarray

    @classmethod
    def from_reference(cls, ref: Reference) -> "Transcriptome":
        seqs = [ref.transcript_codes(t, g.strand, g.chrom) for g, t in ref.transcripts()]
        lengths = np.array([len(s) for s in seqs], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        if lengths.min() < MIN_FRAGMENT:
            raise ValueError(f"demo reference: a transcript is shorter than {MIN_FRAGMENT} bp")
        return cls(codes=np.concatenate(seqs), offsets=offsets, lengths=lengths)


def simulate_pairs(
    rng: np.random.Generator,
    tx: Transcriptome,
    probs: np.ndarray,
    n_pairs: int,
    spec: DemoSpec,
    error_rate: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Base codes (n_pairs x read_length) of mates 1 and 2, in random spot order."""
    read_len = spec.read_length
    which = rng.choice(len(probs), size=n_pairs, p=probs)
    tx_len = tx.lengths[which]
    frag = np.rint(rng.normal(spec.fragment_mean, spec.fragment_sd, n_pairs)).astype(np.int64)
    frag = np.minimum(np.maximum(frag, max(MIN_FRAGMENT, read_len)), tx_len)
    start = (rng.random(n_pairs) * (tx_len - frag + 1)).astype(np.int64)
    base = tx.offsets[which] + start
    cols = np.arange(read_len)
    sense = tx.codes[base[:, None] + cols]
    antisense = reverse_complement(tx.codes[(base + frag - read_len)[:, None] + cols])
    flip = rng.random(n_pairs) < 0.5
    mate1 = np.where(flip[:, None], antisense, sense)
    mate2 = np.where(flip[:, None], sense, antisense)
    for mate in (mate1, mate2):
        errors = rng.random(mate.shape) < error_rate
        mate[errors] = (mate[errors] + rng.integers(1, 4, int(errors.sum()))) % 4
    return mate1.astype(np.uint8), mate2.astype(np.uint8)


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
