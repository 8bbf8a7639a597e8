"""A synthetic genome and a GENCODE-style annotation of it.

Genes get versioned ENSG/ENST/OTTHUM IDs from a range no real GENCODE release uses (9xxxxx),
1-4 isoforms built from their exons (exon skipping, retained introns, alternative first and
last exons), and both strands. Transcripts are spliced from the genome sequence and reverse-
complemented on the minus strand, so reads drawn from them map back to both.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kgpex.demo.spec import DemoSpec, rng_for

BASES = np.frombuffer(b"ACGT", dtype=np.uint8)
# Human-like base composition (41% GC).
BASE_PROBS = np.array([0.295, 0.205, 0.205, 0.295])
FASTA_WIDTH = 60
GTF_HEADER = (
    "##description: evidence-based annotation of the human genome (GRCh38), version DEMO "
    "(synthetic kgpex demo cohort)\n"
    "##provider: GENCODE\n"
    "##contact: gencode-help@ebi.ac.uk\n"
    "##format: gtf\n"
    "##date: 2026-01-01\n"
)
MITO_GENES = (("MT-ND1", "+"), ("MT-CO1", "+"), ("MT-ND6", "-"), ("MT-CYB", "+"))
MAX_RETAINED_INTRON = 3_000
CONSONANTS = "BCDFGHKLMNPRSTVZ"
VOWELS = "AEIOU"


@dataclass
class Transcript:
    transcript_id: str
    transcript_name: str
    transcript_type: str
    havana_transcript: str
    exons: list[tuple[int, int]]  # 1-based closed genome intervals, ascending
    exon_ids: list[str] = field(default_factory=list)
    canonical: bool = False

    @property
    def start(self) -> int:
        return self.exons[0][0]

    @property
    def end(self) -> int:
        return self.exons[-1][1]

    @property
    def length(self) -> int:
        return sum(e - s + 1 for s, e in self.exons)


@dataclass
class Gene:
    gene_id: str
    gene_name: str
    gene_type: str
    havana_gene: str
    chrom: str
    strand: str
    transcripts: list[Transcript]
    level: int = 2

    @property
    def start(self) -> int:
        return min(t.start for t in self.transcripts)

    @property
    def end(self) -> int:
        return max(t.end for t in self.transcripts)

    @property
    def tss(self) -> int:
        """1-based TSS: gene start on +, gene end on -."""
        return self.start if self.strand == "+" else self.end


@dataclass
class Reference:
    genome: dict[str, np.ndarray]  # chrom -> base codes 0..3 (ACGT)
    genes: list[Gene]  # in GTF order

    def transcripts(self) -> list[tuple[Gene, Transcript]]:
        return [(g, t) for g in self.genes for t in g.transcripts]

    def transcript_codes(self, tx: Transcript, strand: str, chrom: str) -> np.ndarray:
        seq = np.concatenate([self.genome[chrom][s - 1 : e] for s, e in tx.exons])
        return reverse_complement(seq) if strand == "-" else seq


def reverse_complement(codes: np.ndarray) -> np.ndarray:
    return (3 - codes)[..., ::-1]


def _gene_names(rng: np.random.Generator, n: int) -> list[str]:
    """Symbol-like names (consonant-vowel-consonant stem + number), unique."""
    names: list[str] = []
    seen = set()
    while len(names) < n:
        stem = (
            CONSONANTS[rng.integers(len(CONSONANTS))]
            + VOWELS[rng.integers(len(VOWELS))]
            + CONSONANTS[rng.integers(len(CONSONANTS))]
            + CONSONANTS[rng.integers(len(CONSONANTS))]
        )
        name = f"{stem}{int(rng.integers(1, 30))}"
        if name not in seen:
            seen.add(name)
            names.append(name)
    return names


def _exon_layout(rng: np.random.Generator, n_exons: int, span: int) -> list[tuple[int, int]]:
    """Exon intervals (0-based offsets, closed) inside a gene span; first and last exons longer."""
    lengths = rng.integers(80, 260, n_exons)
    lengths[0] = rng.integers(150, 500)
    lengths[-1] = rng.integers(400, 1500)
    if n_exons == 1:
        lengths[0] = rng.integers(700, 2500)
    intron_total = max(span - int(lengths.sum()), 150 * (n_exons - 1))
    introns = (
        150 + np.floor(rng.dirichlet(np.ones(n_exons - 1)) * (intron_total - 150 * (n_exons - 1)))
        if n_exons > 1
        else np.zeros(0)
    ).astype(int)
    exons, pos = [], 0
    for i, length in enumerate(lengths):
        exons.append((pos, pos + int(length) - 1))
        pos += int(length) + (int(introns[i]) if i < n_exons - 1 else 0)
    return exons


def _isoforms(
    rng: np.random.Generator, exons: list[tuple[int, int]], n_iso: int, gene_type: str
) -> list[tuple[str, list[tuple[int, int]]]]:
    """Distinct isoform structures (transcript-direction offsets): the full one, then variations."""
    isoforms = [(gene_type, list(exons))]
    seen = {tuple(exons)}
    k = len(exons)
    for _ in range(50):
        if len(isoforms) >= n_iso:
            break
        kind = int(rng.integers(4))
        if kind == 0 and k >= 3:  # skip one or two internal exons
            n_drop = min(int(rng.integers(1, 3)), k - 2)
            drop = set(rng.choice(np.arange(1, k - 1), size=n_drop, replace=False).tolist())
            structure = [e for i, e in enumerate(exons) if i not in drop]
            tx_type = gene_type
        elif kind == 1 and k >= 2:  # retain one short intron
            i = int(rng.integers(k - 1))
            if exons[i + 1][0] - exons[i][1] > MAX_RETAINED_INTRON:
                continue
            structure = exons[:i] + [(exons[i][0], exons[i + 1][1])] + exons[i + 2 :]
            tx_type = "retained_intron"
        elif kind == 2 and k >= 3:  # alternative first exon: start at exon 2
            structure = exons[1:]
            tx_type = "processed_transcript" if gene_type == "protein_coding" else gene_type
        elif kind == 3 and k >= 3:  # truncated 3' end
            structure = exons[:-1]
            tx_type = "nonsense_mediated_decay" if gene_type == "protein_coding" else gene_type
        else:
            continue
        if tuple(structure) not in seen:
            seen.add(tuple(structure))
            isoforms.append((tx_type, structure))
    return isoforms


class _Ids:
    """Versioned GENCODE-style IDs from a synthetic number range."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.next = {
            "ENSG": 900001,
            "ENST": 900001,
            "ENSE": 9000001,
            "OTTHUMG": 900001,
            "OTTHUMT": 900001,
        }

    def new(self, kind: str, max_version: int) -> str:
        number = self.next[kind]
        self.next[kind] += 1
        return f"{kind}{number:011d}.{int(self.rng.integers(1, max_version + 1))}"


def build_reference(spec: DemoSpec, seed: int) -> Reference:
    rng = rng_for(seed, "reference")
    genome = {
        chrom: rng.choice(4, size=length, p=BASE_PROBS).astype(np.uint8)
        for chrom, length in spec.chrom_lengths
    }
    genome["chrM"] = rng.choice(4, size=spec.chrM_length, p=BASE_PROBS).astype(np.uint8)

    total = sum(length for _, length in spec.chrom_lengths)
    counts = [int(round(spec.n_genes * length / total)) for _, length in spec.chrom_lengths]
    counts[-1] = spec.n_genes - sum(counts[:-1])
    names = _gene_names(rng, spec.n_genes)
    ids = _Ids(rng)
    genes: list[Gene] = []
    name_iter = iter(names)
    for (chrom, length), n in zip(spec.chrom_lengths, counts):
        # Gene spans from a log-normal; exponential-like gaps (Dirichlet) cluster genes a little.
        spans = np.clip(rng.lognormal(np.log(12_000), 0.7, n), 3_000, 60_000).astype(int)
        margin = min(50_000, length // 20)
        free = length - 2 * margin - int(spans.sum())
        if free < n * 1_000:
            raise ValueError(f"demo spec: {chrom} of {length} bp is too short for {n} genes")
        gaps = np.floor(rng.dirichlet(np.ones(n + 1)) * free).astype(int)
        starts = margin + np.cumsum(gaps[:-1]) + np.concatenate([[0], np.cumsum(spans[:-1])])
        for start, span in zip(starts, spans):
            name = next(name_iter)
            lnc = rng.random() < spec.lncrna_fraction
            gene_type = "lncRNA" if lnc else "protein_coding"
            if lnc:
                name = f"LINC{9000 + len(genes):05d}"
            n_exons = int(rng.integers(2, 5)) if lnc else int(rng.integers(3, 13))
            exons = _exon_layout(rng, n_exons, int(span))
            strand = "+" if rng.random() < 0.5 else "-"
            n_iso = int(rng.integers(1, spec.max_isoforms + 1))
            genes.append(
                _make_gene(
                    ids, rng, chrom, int(start) + 1, strand, name, gene_type, exons, n_iso, spec
                )
            )
    # chrM genes: single-exon, heavily expressed, removed by the pipeline's chromosome filter.
    pos = 1_000
    for name, strand in MITO_GENES[: spec.n_mito_genes]:
        length = int(rng.integers(900, 1600))
        gene = _make_gene(
            ids, rng, "chrM", pos, strand, name, "protein_coding", [(0, length - 1)], 1, spec
        )
        gene.level = 3
        genes.append(gene)
        pos += length + int(rng.integers(200, 1500))
    if pos > spec.chrM_length:
        raise ValueError("demo spec: chrM is too short for its genes")
    return Reference(genome=genome, genes=genes)


def _make_gene(ids, rng, chrom, start, strand, name, gene_type, exons, n_iso, spec) -> Gene:
    """A gene whose exons are given as offsets along the transcript direction from its TSS side."""
    span = exons[-1][1] + 1

    def to_genome(structure):
        if strand == "+":
            return [(start + s, start + e) for s, e in structure]
        return sorted((start + span - 1 - e, start + span - 1 - s) for s, e in structure)

    gene_id = ids.new("ENSG", 20)
    havana_gene = ids.new("OTTHUMG", 4)
    transcripts = []
    exon_ids: dict[tuple[int, int], str] = {}  # one ID per distinct exon, shared by isoforms
    for k, (tx_type, structure) in enumerate(_isoforms(rng, exons, n_iso, gene_type)):
        if k > 0 and sum(e - s + 1 for s, e in structure) < spec.min_transcript_length:
            continue
        genomic = to_genome(structure)
        for exon in genomic:
            if exon not in exon_ids:
                exon_ids[exon] = ids.new("ENSE", 2)
        transcripts.append(
            Transcript(
                transcript_id=ids.new("ENST", 9),
                transcript_name=f"{name}-{201 + len(transcripts)}",
                transcript_type=tx_type,
                havana_transcript=ids.new("OTTHUMT", 3),
                exons=genomic,
                exon_ids=[exon_ids[e] for e in genomic],
                canonical=k == 0,
            )
        )
    return Gene(gene_id, name, gene_type, havana_gene, chrom, strand, transcripts)


# ---------------------------------------------------------------------------------------------
# Writers. Gzip members carry no name and mtime 0, so the same seed gives the same bytes.


class _GzipFile:
    """A gzip stream that also closes its underlying file."""

    def __init__(self, path: Path, level: int = 6):
        self.raw = open(path, "wb")
        self.gz = gzip.GzipFile(
            filename="", mode="wb", fileobj=self.raw, compresslevel=level, mtime=0
        )

    def write(self, data: bytes) -> None:
        self.gz.write(data)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.gz.close()
        self.raw.close()


def open_gzip(path: Path, level: int = 6) -> _GzipFile:
    return _GzipFile(path, level)


def fasta_lines(codes: np.ndarray, width: int = FASTA_WIDTH) -> bytes:
    """Sequence codes as FASTA lines of ``width`` bases."""
    ascii_seq = BASES[codes]
    n_full = len(ascii_seq) // width
    body = ascii_seq[: n_full * width].reshape(n_full, width)
    body = np.hstack([body, np.full((n_full, 1), ord("\n"), dtype=np.uint8)]).tobytes()
    rest = ascii_seq[n_full * width :].tobytes()
    return body + (rest + b"\n" if rest else b"")


def write_genome_fasta(ref: Reference, path: Path) -> None:
    """GENCODE's genome FASTA style: '>chr21 21', '>chrM MT', 60 bases a line."""
    with open_gzip(path) as fh:
        for chrom, codes in ref.genome.items():
            fh.write(f">{chrom} {'MT' if chrom == 'chrM' else chrom[3:]}\n".encode())
            fh.write(fasta_lines(codes))


def transcript_header(gene: Gene, tx: Transcript) -> str:
    """GENCODE transcript FASTA header, '|'-separated with a trailing '|'."""
    return "|".join(
        [
            tx.transcript_id,
            gene.gene_id,
            gene.havana_gene,
            tx.havana_transcript,
            tx.transcript_name,
            gene.gene_name,
            str(tx.length),
            tx.transcript_type,
            "",
        ]
    )


def write_transcripts_fasta(ref: Reference, path: Path) -> None:
    with open_gzip(path) as fh:
        for gene, tx in ref.transcripts():
            fh.write(f">{transcript_header(gene, tx)}\n".encode())
            fh.write(fasta_lines(ref.transcript_codes(tx, gene.strand, gene.chrom)))


def _attrs(pairs: list[tuple[str, object]]) -> str:
    out = []
    for key, value in pairs:
        out.append(f"{key} {value};" if isinstance(value, int) else f'{key} "{value}";')
    return " ".join(out)


def gtf_lines(ref: Reference) -> list[str]:
    """GENCODE GTF rows: gene, then each transcript followed by its exons in transcript order."""
    lines = []
    for gene in ref.genes:
        source = "ENSEMBL" if gene.chrom == "chrM" else "HAVANA"
        base = [("gene_id", gene.gene_id)]
        lines.append(
            "\t".join(
                [gene.chrom, source, "gene", str(gene.start), str(gene.end), ".", gene.strand, "."]
                + [
                    _attrs(
                        base
                        + [
                            ("gene_type", gene.gene_type),
                            ("gene_name", gene.gene_name),
                            ("level", gene.level),
                        ]
                        + [("havana_gene", gene.havana_gene)]
                    )
                ]
            )
        )
        for tx in gene.transcripts:
            tx_attrs = base + [
                ("transcript_id", tx.transcript_id),
                ("gene_type", gene.gene_type),
                ("gene_name", gene.gene_name),
                ("transcript_type", tx.transcript_type),
                ("transcript_name", tx.transcript_name),
            ]
            tail = [("level", gene.level), ("transcript_support_level", "1"), ("tag", "basic")]
            if tx.canonical:
                tail.append(("tag", "Ensembl_canonical"))
            tail += [("havana_gene", gene.havana_gene), ("havana_transcript", tx.havana_transcript)]
            lines.append(
                "\t".join(
                    [
                        gene.chrom,
                        source,
                        "transcript",
                        str(tx.start),
                        str(tx.end),
                        ".",
                        gene.strand,
                        ".",
                    ]
                    + [_attrs(tx_attrs + tail)]
                )
            )
            order = range(len(tx.exons)) if gene.strand == "+" else range(len(tx.exons) - 1, -1, -1)
            for number, i in enumerate(order, start=1):
                s, e = tx.exons[i]
                exon_attrs = (
                    tx_attrs + [("exon_number", number), ("exon_id", tx.exon_ids[i])] + tail
                )
                lines.append(
                    "\t".join(
                        [gene.chrom, source, "exon", str(s), str(e), ".", gene.strand, "."]
                        + [_attrs(exon_attrs)]
                    )
                )
    return lines


def write_gtf(ref: Reference, path: Path) -> None:
    with open_gzip(path) as fh:
        fh.write(GTF_HEADER.encode())
        fh.write(("\n".join(gtf_lines(ref)) + "\n").encode())
