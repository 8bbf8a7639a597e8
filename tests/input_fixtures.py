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


def write_gtf(path: Path, chroms=CHROMS, named: bool = True,
              description: str = "test annotation") -> Path:
    lines = [f"##description: {description}\n"]
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


def write_vcf(path: Path, chrom: str, samples=None, contigs=None, lengths=None,
              record_chrom=None, reference=None) -> Path:
    """A bgzipped, tabix-indexed phased VCF; ``path`` names the .vcf.gz. Contig lengths are
    GRCh38's (50 Mb for other names) unless ``lengths`` (contig -> length) says otherwise;
    records are on the first contig unless ``record_chrom``; ``reference``: a ##reference line."""
    from kgpex.common.genome import chrom_length

    samples = list(INDIVIDUALS) if samples is None else samples
    contigs = [chrom] if contigs is None else contigs
    record_chrom = record_chrom or (contigs[0] if contigs else chrom)
    lengths = {c: chrom_length("GRCh38", c) or 50_000_000 for c in contigs} | (lengths or {})
    header = ["##fileformat=VCFv4.2\n"]
    header += [f"##reference={reference}\n"] if reference else []
    header += [f"##contig=<ID={c},length={lengths[c]}>\n" for c in contigs]
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
        # No genome: these cohorts test salmon's path (the demo config aligns).
        "alignment": {"enabled": False},
        "genotypes": {
            "vcf_url": str(folder / "cohort_{chrom}.vcf.gz"),
            "vcf_url_chrX": "",
            "md5sums_url": "",
            "chromosomes": list(chroms),
        },
    }


def write_matrix_cohort(folder: Path, n_individuals: int = 60, n_genes: int = 24,
                        n_variants: int = 1200, chrom: str = "chr22", seed: int = 12) -> dict:
    """A cohort for the matrix entry point with its own annotation, and no reference: an
    individuals sheet, a GRCh38 VCF of ``chrom`` (real contig length), a gene x individual counts
    matrix whose genes (GENCODE-style IDs that no demo GTF has) carry planted cis effects, and
    the annotation table of those genes. Returns the config overrides that use them; the
    reference section points nowhere (any download of it would fail)."""
    import numpy as np

    from kgpex.common.genome import chrom_length

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    individuals = {
        f"HG{100 + i:05d}": ("GBR", "EUR", "male" if i % 2 else "female")
        for i in range(n_individuals)
    }
    ind, _ = write_sheets(folder, individuals, {})
    samples = list(individuals)
    start, span = 20_000_000, 2_000_000
    positions = np.sort(rng.choice(np.arange(start, start + span), n_variants, replace=False))
    freqs = rng.uniform(0.1, 0.5, n_variants)
    haps = rng.binomial(1, freqs[:, None], size=(n_variants, 2 * n_individuals))
    header = [
        "##fileformat=VCFv4.2\n",
        "##reference=GRCh38\n",
        f"##contig=<ID={chrom},length={chrom_length('GRCh38', chrom)}>\n",
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n',
        "\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT",
                   *samples]) + "\n",
    ]
    body = [
        "\t".join([chrom, str(pos), ".", "A", "G", ".", "PASS", ".", "GT",
                   *(f"{a}|{b}" for a, b in zip(h[0::2], h[1::2]))]) + "\n"
        for pos, h in zip(positions, haps)
    ]
    plain = folder / f"cohort_{chrom}.vcf"
    plain.write_text("".join(header + body))
    vcf = folder / f"cohort_{chrom}.vcf.gz"
    pysam.tabix_compress(str(plain), str(vcf), force=True)
    plain.unlink()
    pysam.tabix_index(str(vcf), preset="vcf", force=True)

    dosages = haps[:, 0::2] + haps[:, 1::2]
    tss = np.sort(rng.choice(np.arange(start + 50_000, start + span - 50_000), n_genes,
                             replace=False))
    gene_ids = [f"ENSG{90000 + g:011d}.{3 + g % 5}" for g in range(n_genes)]
    log_mean = 6 + rng.normal(0, 0.3, (n_genes, n_individuals))
    for g in range(0, n_genes, 2):  # every other gene: one causal variant near its TSS
        near = np.flatnonzero(np.abs(positions - tss[g]) < 20_000)
        j = near[np.argmax(dosages[near].std(axis=1))]
        d = dosages[j]
        log_mean[g] += 0.8 * (d - d.mean()) / d.std()
    counts = rng.poisson(np.exp(log_mean))
    matrix = folder / "counts.tsv"
    matrix.write_text(
        "gene_id\t" + "\t".join(samples) + "\n"
        + "".join(f"{gid}\t" + "\t".join(map(str, row)) + "\n" for gid, row in zip(gene_ids, counts))
    )
    annotation = folder / "annotation.tsv"
    annotation.write_text(
        "gene_id\tchrom\ttss\tstrand\tgene_name\tstart\tend\tgene_type\n"
        + "".join(
            f"{gid}\t{chrom}\t{t}\t+\tMATRIXGENE{g}\t{t}\t{t + 5000}\tprotein_coding\n"
            for g, (gid, t) in enumerate(zip(gene_ids, tss))
        )
    )
    nowhere = "https://ftp.ebi.ac.uk/pub/databases/gencode/nowhere"
    return {
        "samples": {"method": "sheets", "individuals": str(ind), "runs": "", "run_table": "",
                    "accession": ""},
        "reference": {
            "transcripts_url": f"{nowhere}/transcripts.fa.gz",
            "annotation_url": f"{nowhere}/annotation.gtf.gz",
            "genome_url": f"{nowhere}/genome.fa.gz",
            "md5sums_url": f"{nowhere}/MD5SUMS",
        },
        "expression": {"input": "matrix", "matrix": {
            "url": str(matrix), "kind": "counts", "tpm_url": "", "annotation_url": str(annotation),
        }},
        "genotypes": {
            "vcf_url": str(folder / "cohort_{chrom}.vcf.gz"), "vcf_url_chrX": "",
            "md5sums_url": "", "chromosomes": [chrom],
            "pca": {"n_pcs": 5, "n_covariate_pcs": 3},
        },
        "covariates": {"hidden_factors": 3},
        # Benjamini-Hochberg: R qvalue's pi0 smoother needs more than a few dozen p-values.
        "eqtl": {"window": 200_000, "permutations": 1000, "qvalue_lambda": 0},
    }
