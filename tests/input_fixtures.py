"""Tiny, valid cohort inputs (sheets, run table, GTF, transcripts, VCFs) written into a folder.

Each test breaks one thing of them. Everything is written here: the tests read no shared data.
"""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import pysam

INDIVIDUALS = {"HG00096": ("GBR", "EUR", "male"), "NA12878": ("CEU", "EUR", "female")}
RUNS = {"SRR0000001": "HG00096", "SRR0000002": "NA12878"}
CHROMS = ["chr21", "chr22"]


def write_sheets(folder: Path, individuals=None, runs=None) -> tuple[Path, Path]:
    individuals = INDIVIDUALS if individuals is None else individuals
    runs = RUNS if runs is None else runs
    ind, run = folder / "individuals.tsv", folder / "runs.tsv"
    ind.write_text(
        "individual\tpopulation\tcontinental_group\tsex\n"
        + "".join(f"{i}\t{pop}\t{group}\t{sex}\n" for i, (pop, group, sex) in individuals.items())
    )
    run.write_text(
        "run_accession\tindividual\tbatch\n"
        + "".join(f"{r}\t{i}\tb1\n" for r, i in runs.items())
    )
    return ind, run


def write_run_table(folder: Path, runs=None, md5=None) -> Path:
    """An ENA filereport-style table whose FASTQs are local files (never read by these tests)."""
    runs = RUNS if runs is None else runs
    rows = []
    for run in runs:
        urls, md5s = [], []
        for mate in (1, 2):
            fastq = folder / "fastq" / f"{run}_{mate}.fastq.gz"
            fastq.parent.mkdir(parents=True, exist_ok=True)
            fastq.write_bytes(gzip.compress(f"@{run}.1\nACGT\n+\nIIII\n".encode()))
            urls.append(fastq.resolve().as_uri())
            md5s.append(md5 or hashlib.md5(fastq.read_bytes()).hexdigest())
        rows.append(f"{run}\t{';'.join(urls)}\t{';'.join(md5s)}\n")
    table = folder / "run_table.tsv"
    table.write_text("run_accession\tfastq_ftp\tfastq_md5\n" + "".join(rows))
    return table


def gene_line(chrom: str, n: int, name: bool = True) -> str:
    attributes = f'gene_id "ENSG{n:011d}.1"; gene_type "protein_coding";'
    if name:
        attributes += f' gene_name "GENE{n}";'
    return f"{chrom}\tHAVANA\tgene\t{1000 * n}\t{1000 * n + 500}\t.\t+\t.\t{attributes}\n"


def transcript_line(chrom: str, n: int) -> str:
    attributes = f'gene_id "ENSG{n:011d}.1"; transcript_id "ENST{n:011d}.1"; gene_type "protein_coding";'
    return f"{chrom}\tHAVANA\ttranscript\t{1000 * n}\t{1000 * n + 500}\t.\t+\t.\t{attributes}\n"


def write_gtf(path: Path, chroms=CHROMS, named: bool = True) -> Path:
    lines = ["##description: test annotation\n"]
    for c, chrom in enumerate(chroms):
        for g in range(3):
            n = 10 * c + g + 1
            lines += [gene_line(chrom, n, name=named), transcript_line(chrom, n)]
    path.write_bytes(gzip.compress("".join(lines).encode()))
    return path


def write_transcripts(path: Path, chroms=CHROMS) -> Path:
    records = []
    for c in range(len(chroms)):
        for g in range(3):
            n = 10 * c + g + 1
            records.append(f">ENST{n:011d}.1|ENSG{n:011d}.1|GENE{n}|\nACGTACGTACGTACGTACGTACGTACGTACGTACGT\n")
    path.write_bytes(gzip.compress("".join(records).encode()))
    return path


def write_vcf(path: Path, chrom: str, samples=None, contigs=None) -> Path:
    """A bgzipped, tabix-indexed phased VCF; ``path`` names the .vcf.gz."""
    samples = list(INDIVIDUALS) if samples is None else samples
    contigs = [chrom] if contigs is None else contigs
    record_chrom = contigs[0] if contigs else chrom
    header = ["##fileformat=VCFv4.2\n"]
    header += [f"##contig=<ID={c},length=50000000>\n" for c in contigs]
    header.append('##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n')
    columns = ["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO"]
    if samples:
        columns += ["FORMAT", *samples]
    header.append("\t".join(columns) + "\n")
    body = []
    for pos in (10_000, 20_000, 30_000):
        fields = [record_chrom, str(pos), ".", "A", "G", ".", "PASS", "."]
        if samples:
            fields += ["GT"] + ["0|1"] * len(samples)
        body.append("\t".join(fields) + "\n")
    plain = path.with_suffix("")  # .vcf
    plain.write_text("".join(header + body))
    pysam.tabix_compress(str(plain), str(path), force=True)
    plain.unlink()
    pysam.tabix_index(str(path), preset="vcf", force=True)
    return path


def write_cohort(folder: Path, chroms=CHROMS) -> dict:
    """Valid inputs for ``chroms`` in ``folder``; returns the config overrides that use them."""
    folder.mkdir(parents=True, exist_ok=True)
    ind, run = write_sheets(folder)
    table = write_run_table(folder)
    for chrom in chroms:
        write_vcf(folder / f"cohort_{chrom}.vcf.gz", chrom)
    return {
        "samples": {
            "method": "sheets",
            "individuals": str(ind),
            "runs": str(run),
            "run_table": str(table),
            "accession": "",
        },
        "reference": {
            "transcripts_url": str(write_transcripts(folder / "transcripts.fa.gz", chroms)),
            "annotation_url": str(write_gtf(folder / "annotation.gtf.gz", chroms)),
            "genome_url": "",
            "md5sums_url": "",
        },
        "genotypes": {
            "vcf_url": str(folder / "cohort_{chrom}.vcf.gz"),
            "vcf_url_chrX": "",
            "md5sums_url": "",
            "chromosomes": list(chroms),
        },
    }
