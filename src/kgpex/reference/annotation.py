"""Gene annotation from a GENCODE GTF: gene table, transcript-to-gene map and TSS BED.

Outputs (``annotate_genes``):
- genes.tsv: ``gene_id gene_name gene_type chrom start end strand tss``; start, end and tss are
  1-based GTF coordinates; tss is start on '+', end on '-'.
- tx2gene.tsv: ``transcript_id gene_id`` (salmon's --gencode names transcripts by their ID).
- tss.bed: ``#chrom start end gene_id gene_name strand``, BED 0-based: start = tss-1, end = tss.
Rows are sorted by chromosome (kgpex.common.genome: chr1..chr22, chrX, chrY, chrM, others by
name), then by TSS.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from kgpex.common.errors import KgpexError
from kgpex.common.genome import chrom_sort_key
from kgpex.common.io import atomic_path, open_text
from kgpex.reference.genes import GENES_COLUMNS

TX2GENE_COLUMNS = ("transcript_id", "gene_id")

TSS_BED_COLUMNS = ("#chrom", "start", "end", "gene_id", "gene_name", "strand")

_ATTRIBUTE = {
    key: re.compile(rf'(?:^|;)\s*{key} "([^"]*)"')
    for key in ("gene_id", "gene_name", "gene_type", "gene_biotype", "transcript_id")
}


@dataclass(frozen=True)
class Gene:
    gene_id: str
    gene_name: str
    gene_type: str
    chrom: str
    start: int
    end: int
    strand: str

    @property
    def tss(self) -> int:
        return self.start if self.strand == "+" else self.end


@dataclass
class Annotation:
    genes: list[Gene]  # sorted by chromosome order, then TSS
    tx2gene: list[tuple[str, str]]  # sorted by transcript ID


def _attribute(attributes: str, key: str) -> str | None:
    match = _ATTRIBUTE[key].search(attributes)
    return match.group(1) if match else None


def gtf_records(path: str | os.PathLike) -> Iterator[tuple[int, list[str]]]:
    """A (gzipped) GTF's rows as (line number, its 9 fields), comments and blank lines skipped;
    one line naming the file and line for a row that is not 9 tab-separated fields."""
    path = Path(path)
    if not path.is_file():
        raise KgpexError(f"{path}: GTF not found")
    try:
        with open_text(path, what="GTF") as fh:
            for n, line in enumerate(fh, start=1):
                if line.startswith("#") or not line.strip():
                    continue
                fields = line.rstrip("\n").split("\t")
                if len(fields) != 9:
                    raise KgpexError(
                        f"{path} line {n}: expected 9 tab-separated GTF fields, found {len(fields)}"
                    )
                yield n, fields
    except (OSError, EOFError, UnicodeDecodeError) as err:
        raise KgpexError(f"{path}: cannot read GTF ({err})") from None


def parse_gtf(path: str | os.PathLike) -> Annotation:
    """Stream a (gzipped) GTF: gene rows make the gene table, transcript rows tx2gene."""
    path = Path(path)
    genes: dict[str, tuple[int, Gene]] = {}
    transcripts: dict[str, tuple[int, str]] = {}
    for n, fields in gtf_records(path):
        feature = fields[2]
        if feature == "gene":
            gene = _gene(fields, path, n)
            if gene.gene_id in genes:
                raise KgpexError(
                    f"{path} line {n}: duplicate gene_id '{gene.gene_id}' "
                    f"(first on line {genes[gene.gene_id][0]})"
                )
            genes[gene.gene_id] = (n, gene)
        elif feature == "transcript":
            transcript_id = _attribute(fields[8], "transcript_id")
            gene_id = _attribute(fields[8], "gene_id")
            if not transcript_id or not gene_id:
                raise KgpexError(f"{path} line {n}: transcript row without transcript_id/gene_id")
            if transcript_id in transcripts:
                raise KgpexError(
                    f"{path} line {n}: duplicate transcript_id '{transcript_id}' "
                    f"(first on line {transcripts[transcript_id][0]})"
                )
            transcripts[transcript_id] = (n, gene_id)
    if not genes:
        raise KgpexError(f"{path}: no gene rows (feature 'gene') in the GTF")
    for transcript_id, (n, gene_id) in transcripts.items():
        if gene_id not in genes:
            raise KgpexError(
                f"{path} line {n}: transcript {transcript_id} names gene {gene_id}, which has no gene row"
            )
    ordered = sorted(
        (gene for _, gene in genes.values()),
        key=lambda g: (chrom_sort_key(g.chrom), g.tss, g.gene_id),
    )
    tx2gene = sorted((tx, gene_id) for tx, (_, gene_id) in transcripts.items())
    return Annotation(ordered, tx2gene)


def _gene(fields: list[str], path: Path, n: int) -> Gene:
    chrom, _, _, start, end, _, strand, _, attributes = fields
    gene_id = _attribute(attributes, "gene_id")
    if not gene_id:
        raise KgpexError(f"{path} line {n}: gene row without gene_id")
    if not (start.isdigit() and end.isdigit()) or int(start) < 1 or int(start) > int(end):
        raise KgpexError(
            f"{path} line {n}: gene {gene_id}: bad coordinates start={start} end={end}"
        )
    if strand not in ("+", "-"):
        raise KgpexError(f"{path} line {n}: gene {gene_id}: strand '{strand}' is not + or -")
    gene_type = _attribute(attributes, "gene_type") or _attribute(attributes, "gene_biotype")
    return Gene(
        gene_id=gene_id,
        gene_name=_attribute(attributes, "gene_name") or "NA",
        gene_type=gene_type or "NA",
        chrom=chrom,
        start=int(start),
        end=int(end),
        strand=strand,
    )


def check_chromosomes(
    annotation: Annotation, chromosomes: Iterable[str], gtf: str | os.PathLike
) -> None:
    """Every chromosome we map must carry genes (a GTF with '1' instead of 'chr1' fails here)."""
    present = {g.chrom for g in annotation.genes}
    missing = [c for c in chromosomes if c not in present]
    if missing:
        seen = sorted(present, key=chrom_sort_key)
        shown = ", ".join(seen[:8]) + (", ..." if len(seen) > 8 else "")
        raise KgpexError(
            f"{gtf}: no genes on {', '.join(missing)} (chromosomes in the GTF: {shown})"
        )


def _write_tsv(dest: str | os.PathLike, header: Iterable[str], rows: Iterable[Iterable]) -> None:
    with atomic_path(dest) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.writer(fh, delimiter="\t", lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def write_genes(genes: list[Gene], dest: str | os.PathLike) -> None:
    _write_tsv(
        dest,
        GENES_COLUMNS,
        (
            (g.gene_id, g.gene_name, g.gene_type, g.chrom, g.start, g.end, g.strand, g.tss)
            for g in genes
        ),
    )


def write_tx2gene(tx2gene: list[tuple[str, str]], dest: str | os.PathLike) -> None:
    _write_tsv(dest, TX2GENE_COLUMNS, tx2gene)


def write_tss_bed(genes: list[Gene], dest: str | os.PathLike) -> None:
    _write_tsv(
        dest,
        TSS_BED_COLUMNS,
        ((g.chrom, g.tss - 1, g.tss, g.gene_id, g.gene_name, g.strand) for g in genes),
    )


def annotate_genes(
    gtf: str | os.PathLike,
    chromosomes: Iterable[str],
    genes_out: str | os.PathLike,
    tx2gene_out: str | os.PathLike,
    tss_bed_out: str | os.PathLike,
) -> Annotation:
    """Parse the GTF, check the mapped chromosomes have genes, and write the three tables."""
    annotation = parse_gtf(gtf)
    check_chromosomes(annotation, chromosomes, gtf)
    write_genes(annotation.genes, genes_out)
    write_tx2gene(annotation.tx2gene, tx2gene_out)
    write_tss_bed(annotation.genes, tss_bed_out)
    return annotation
