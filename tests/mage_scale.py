"""A synthetic cohort in MAGE's real shape, for the full-scale dry-run test and benchmark.

779 libraries of 731 individuals (24 sequenced in triplicate), 17 batches of up to 48
libraries, 26 populations: MAGE's library table (``updated_metadata.tsv`` columns) and ENA's
run table for it (filereport columns), with the runs of the 2026 sample swap and its two
replacement runs, and the documented runs (kgpex.samples.mage), so resolution at this scale goes
through every rule of the join. IDs, read counts and accessions are drawn from a seed; nothing
is copied from MAGE's files.

    python tests/mage_scale.py DEST [--seed N]   # writes DEST/updated_metadata.tsv, run_table.tsv

``prepare`` also writes the inputs the checkpoint check_inputs reads, in small and in their
publishers' shape: GENCODE v38's GTF and transcripts with their MD5SUMS, and NYGC's 23 phased
VCFs (bgzipped, tabix-indexed; the 731 individuals among a 3,202-sample panel, GRCh38 contigs
and ##reference, a few records on each file's chromosome), all read through file:// URLs so that
download_reference and download_vcf stay in the DAG.

The run table shows the swap as first published (original labels, replacement runs present);
``generate``/``write`` take ``relabelled``, ``replacements`` and ``withdrawn`` for the other states
a fetched run table can show (``swap_state``).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from kgpex.common.genome import CHROM_LENGTHS
from kgpex.samples.mage import MAGE_KNOWN_RUNS, MAGE_SAMPLE_SWAP, METADATA_COLUMNS
from kgpex.samples.runtable import ENA_FIELDS

LIBRARIES, INDIVIDUALS, TRIPLICATES, BATCH_SIZE = 779, 731, 24, 48
POPULATIONS = {
    "AFR": ["YRI", "LWK", "GWD", "MSL", "ESN", "ASW", "ACB"],
    "AMR": ["MXL", "PUR", "CLM", "PEL"],
    "EAS": ["CHB", "JPT", "CHS", "CDX", "KHV"],
    "EUR": ["CEU", "TSI", "FIN", "GBR", "IBS"],
    "SAS": ["GIH", "PJL", "BEB", "STU", "ITU"],
}
# Individuals the join treats specially (the swap, the documented runs), with their populations.
NAMED = {
    "HG00237": ("EUR", "GBR", "female"),
    "NA11919": ("EUR", "CEU", "male"),
    "HG00100": ("EUR", "GBR", "female"),
}


def _coriell(kgp: str) -> str:
    return "GM" + kgp[2:] if kgp.startswith("NA") else kgp


def generate(
    seed: int = 20261122,
    relabelled: bool = False,
    replacements: bool = True,
    withdrawn: tuple[str, ...] = (),
) -> tuple[list[dict], list[dict]]:
    """(library table rows, run table rows); the keywords pick the swap's state (``swap_state``)."""
    rng = random.Random(seed)
    pops = [(sup, pop) for sup, names in POPULATIONS.items() for pop in names]
    ids = set(NAMED)
    while len(ids) < INDIVIDUALS:
        ids.add(rng.choice(["HG", "NA"]) + f"{rng.randrange(100, 21000):05d}")
    people = {}
    for kgp in sorted(ids):
        sup, pop = rng.choice(pops)
        people[kgp] = NAMED.get(kgp, (sup, pop, rng.choice(["male", "female"])))
    others = sorted(set(people) - set(NAMED))
    triplicated = ["HG00237"] + rng.sample(others, TRIPLICATES - 1)
    # Library names in sequencing order: one per individual, two more per triplicate.
    order = [(kgp, 0) for kgp in sorted(people)] + [(k, r) for k in triplicated for r in (1, 2)]
    rng.shuffle(order)
    counts = rng.sample(range(18_000_000, 91_000_000), len(order))
    libraries = []
    for i, ((kgp, rep), reads) in enumerate(zip(order, counts)):
        batch = i // BATCH_SIZE + 1
        sup, pop, sex = people[kgp]
        seq = _coriell(kgp) if rep == 0 else f"{_coriell(kgp)}-{batch}-{rep}"
        libraries.append(
            {
                "sequencing_id": seq,
                "coriell_id": _coriell(kgp),
                "kgp_id": kgp,
                "batch": str(batch),
                "file_path": f"${{fastqDir}}/batch{batch}/{seq}_R1_001.fastq.gz",
                "superpop": sup,
                "subpop": pop,
                "sex": sex,
                "hapmap": rng.choice(["yes", "no"]),
                "read_counts": str(reads),
            }
        )
    return libraries, swap_state(_runs(libraries, rng), relabelled, replacements, withdrawn)


def swap_state(
    runs: list[dict],
    relabelled: bool = False,
    replacements: bool = True,
    withdrawn: tuple[str, ...] = (),
) -> list[dict]:
    """The run table in another state of the 2026 sample swap: ``relabelled`` shows the
    mislabelled runs as SRA has since 2026-04-03 (sample_alias and sample_title of the true
    individual; library_name as submitted), ``replacements=False`` drops the replacement runs (an
    older snapshot), ``withdrawn`` drops those mislabelled runs. The defaults change nothing."""
    true = {fix.mislabelled_run: fix.true_individual for fix in MAGE_SAMPLE_SWAP}
    dropped = set(withdrawn)
    if not replacements:
        dropped |= {fix.replacement_run for fix in MAGE_SAMPLE_SWAP}
    out = []
    for row in runs:
        if row["run_accession"] in dropped:
            continue
        if relabelled and row["run_accession"] in true:
            individual = true[row["run_accession"]]
            title = f"LCL RNA-seq of {individual}"
            row = {**row, "sample_alias": individual, "sample_title": title}
        out.append(row)
    return out


def _runs(libraries: list[dict], rng: random.Random) -> list[dict]:
    by_seq = {lib["sequencing_id"]: lib for lib in libraries}
    special = {fix.mislabelled_run for fix in MAGE_SAMPLE_SWAP} | set(MAGE_KNOWN_RUNS)
    special |= {fix.replacement_run for fix in MAGE_SAMPLE_SWAP}
    accessions = iter(f"SRR{n}" for n in range(19762000, 19770000) if f"SRR{n}" not in special)
    fixed = {
        # The swapped pair, labelled as the notice says; HG00237's mapped library (a replicate
        # here) and HG00100's documented run.
        "SRR19762530": "HG00237",
        "SRR19762653": "GM11919",
        "SRR19762247": min(s for s in by_seq if s.startswith("HG00237-")),
        "SRR19762765": "HG00100",
    }
    rows = []
    assigned = {seq: run for run, seq in fixed.items()}
    for lib in libraries:
        seq = lib["sequencing_id"]
        run = assigned.get(seq) or next(accessions)
        replicate = seq != lib["coriell_id"]
        # Most runs name their library; a few triplicate runs only their individual, resolved
        # by read count as the join allows.
        library_name = seq if replicate and rng.random() < 0.7 else lib["coriell_id"]
        if run == "SRR19762530":
            library_name = ""  # named by sample_alias HG00237 and its read count
        rows.append(_run_row(run, lib["kgp_id"], library_name, int(lib["read_counts"])))
    for fix in MAGE_SAMPLE_SWAP:
        old = next(r for r in rows if r["run_accession"] == fix.mislabelled_run)
        rows.append(_run_row(fix.replacement_run, fix.true_individual, "", int(old["read_count"])))
    return sorted(rows, key=lambda r: r["run_accession"])


def _run_row(run: str, individual: str, library_name: str, reads: int) -> dict:
    ftp = f"ftp.sra.ebi.ac.uk/vol1/fastq/{run[:6]}/{run[-3:]}/{run}/{run}"
    digest = hashlib.md5(run.encode()).hexdigest()
    return {
        "run_accession": run,
        "study_accession": "SRP384216",
        # One experiment per run: MAGE sequenced each library once.
        "experiment_accession": f"SRX{int(run[3:]) + 5_000_000}",
        "sample_accession": f"SAMN{int(run[3:]) + 10_000_000}",
        "sample_alias": individual,
        "sample_title": f"LCL RNA-seq of {individual}",
        "library_name": library_name,
        "library_layout": "PAIRED",
        "read_count": str(reads),
        "base_count": str(reads * 300),
        "fastq_ftp": f"{ftp}_1.fastq.gz;{ftp}_2.fastq.gz",
        "fastq_md5": f"{digest};{digest[::-1]}",
        "fastq_bytes": f"{reads * 60};{reads * 61}",
    }


def write(dest: str | Path, seed: int = 20261122, **swap) -> tuple[Path, Path]:
    """Write ``updated_metadata.tsv`` and ``run_table.tsv`` under ``dest``; return their paths.
    ``swap``: ``generate``'s keywords for the swap's state."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    libraries, runs = generate(seed, **swap)
    meta, table = dest / "updated_metadata.tsv", dest / "run_table.tsv"
    for path, columns, rows in (
        (meta, METADATA_COLUMNS, libraries),
        (table, ENA_FIELDS, runs),
    ):
        with open(path, "w") as fh:
            fh.write("\t".join(columns) + "\n")
            fh.writelines("\t".join(row[c] for c in columns) + "\n" for row in rows)
    return meta, table


# The MAGE preset's reference and genotype inputs (config/presets/mage.yaml), in small.
GENCODE = "gencode.v38"
CHROMS = [f"chr{n}" for n in range(1, 23)] + ["chrX"]
# NYGC's high-coverage panel: the cohort among 3,202 samples.
PANEL_SIZE = 3202
NYGC_VCF = "CCDG_14151_B01_GRM_WGS_2020-08-05_{chrom}.filtered.shapeit2-duohmm-phased.vcf.gz"
NYGC_VCF_X = "CCDG_14151_B01_GRM_WGS_2020-08-05_chrX.filtered.eagle2-phased.v2.vcf.gz"
GRCH38_FASTA = (
    "ftp://ftp.1000genomes.ebi.ac.uk/vol1/ftp/technical/reference/GRCh38_reference_genome/"
    "GRCh38_full_analysis_set_plus_decoy_hla.fa"
)
GENES_PER_CHROM, RECORDS_PER_VCF = 2, 4
VCF_COLUMNS = ["POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT"]


def _file_url(path: Path) -> str:
    # Not Path.as_uri(): it percent-encodes the {chrom} placeholder, and kgpex reads a file://
    # URL's path as it stands (kgpex.common.sources.local_path).
    return f"file://{path}"


def write_reference(dest: str | Path, rng: random.Random) -> dict:
    """GENCODE's GTF and transcripts (gzipped, genes on every chromosome of ``CHROMS``) and
    the MD5SUMS GENCODE publishes beside them, under ``dest``; returns the config's
    ``reference`` section pointing at them."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    gtf = [
        (
            "##description: evidence-based annotation of the human genome (GRCh38), "
            "version 38 (Ensembl 104)\n"
        ),
        "##provider: GENCODE\n",
        "##contact: gencode-help@ebi.ac.uk\n",
        "##format: gtf\n",
        "##date: 2021-03-12\n",
    ]
    fasta = []
    for c, chrom in enumerate(CHROMS):
        length = CHROM_LENGTHS["GRCh38"][chrom[3:]]
        starts = sorted(rng.sample(range(100_000, length - 100_000), GENES_PER_CHROM))
        for g, start in enumerate(starts):
            number = c * GENES_PER_CHROM + g + 1
            gene_id, tx_id = f"ENSG{number:011d}.1", f"ENST{number:011d}.1"
            name, strand = f"SYNG{number}", rng.choice("+-")
            exons = [(start, start + rng.randrange(100, 1500))]
            end = exons[0][1] + rng.randrange(1000, 50_000)
            exons.append((end - rng.randrange(100, 1500), end))
            if strand == "-":
                exons.reverse()  # exon 1 is the 5'-most, the highest on the minus strand
            gene = f'gene_id "{gene_id}"; gene_type "protein_coding"; gene_name "{name}";'
            tx = (
                f'{gene} transcript_id "{tx_id}"; transcript_type "protein_coding"; '
                f'transcript_name "{name}-201";'
            )
            rows = [("gene", start, end, f"{gene} level 2;")]
            rows.append(("transcript", start, end, f"{tx} level 2;"))
            rows += [
                (
                    "exon",
                    a,
                    b,
                    f'{tx} exon_number {k}; exon_id "ENSE{number:09d}{k:02d}.1"; level 2;',
                )
                for k, (a, b) in enumerate(exons, start=1)
            ]
            gtf += [
                f"{chrom}\tHAVANA\t{kind}\t{a}\t{b}\t.\t{strand}\t.\t{attrs}\n"
                for kind, a, b, attrs in rows
            ]
            seq = "".join(rng.choices("ACGT", k=sum(b - a + 1 for a, b in exons)))
            # GENCODE's header: transcript|gene|havana ids|transcript name|gene name|length|type|
            fasta.append(
                f">{tx_id}|{gene_id}|-|-|{name}-201|{name}|{len(seq)}|protein_coding|\n"
                + "".join(seq[i : i + 60] + "\n" for i in range(0, len(seq), 60))
            )
    files = {
        "annotation_url": (dest / f"{GENCODE}.annotation.gtf.gz", "".join(gtf)),
        "transcripts_url": (dest / f"{GENCODE}.transcripts.fa.gz", "".join(fasta)),
    }
    sums = []
    for path, text in files.values():
        # mtime 0: the same seed writes the same bytes, so the same MD5SUMS.
        data = gzip.compress(text.encode(), mtime=0)
        path.write_bytes(data)
        sums.append(f"{hashlib.md5(data).hexdigest()}  {path.name}\n")
    md5sums = dest / "MD5SUMS"
    md5sums.write_text("".join(sorted(sums, key=lambda line: line.split()[1])))
    section = {key: _file_url(path) for key, (path, _) in files.items()}
    return {**section, "md5sums_url": _file_url(md5sums)}


def write_genotypes(dest: str | Path, individuals: list[str], rng: random.Random) -> dict:
    """NYGC's phased VCFs of ``CHROMS`` under ``dest``, bgzipped and tabix-indexed: the
    ``individuals`` among a ``PANEL_SIZE``-sample panel, every GRCh38 contig with its length,
    the ##reference line, and ``RECORDS_PER_VCF`` records on the file's chromosome. Returns
    the config's ``genotypes`` section pointing at them."""
    import pysam

    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    panel = set(individuals)
    if len(panel) > PANEL_SIZE:
        raise ValueError(f"{len(panel)} individuals do not fit a {PANEL_SIZE}-sample panel")
    while len(panel) < PANEL_SIZE:
        panel.add(rng.choice(["HG", "NA"]) + f"{rng.randrange(100, 40000):05d}")
    samples = sorted(panel)
    lengths = CHROM_LENGTHS["GRCh38"]
    header = [
        "##fileformat=VCFv4.2\n",
        '##FILTER=<ID=PASS,Description="All filters passed">\n',
        "##source=tests/mage_scale.py (synthetic, in the NYGC 3,202-sample panel's shape)\n",
        f"##reference={GRCH38_FASTA}\n",
        *(f"##contig=<ID=chr{name},length={length}>\n" for name, length in lengths.items()),
        '##INFO=<ID=AC,Number=A,Type=Integer,Description="Allele count in genotypes">\n',
        '##INFO=<ID=AN,Number=1,Type=Integer,Description="Total number of alleles">\n',
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Phased genotype">\n',
        "\t".join(["#CHROM", *VCF_COLUMNS, *samples]) + "\n",
    ]
    for chrom in CHROMS:
        positions = sorted(rng.sample(range(100_000, lengths[chrom[3:]]), RECORDS_PER_VCF))
        records = []
        for pos in positions:
            ref, alt = rng.sample("ACGT", 2)
            freq = rng.uniform(0.05, 0.5)
            haps = [int(rng.random() < freq) for _ in range(2 * len(samples))]
            gts = "\t".join(f"{a}|{b}" for a, b in zip(haps[::2], haps[1::2]))
            info = f"AC={sum(haps)};AN={len(haps)}"
            records.append(f"{chrom}\t{pos}\t.\t{ref}\t{alt}\t.\tPASS\t{info}\tGT\t{gts}\n")
        name = NYGC_VCF_X if chrom == "chrX" else NYGC_VCF.format(chrom=chrom)
        plain = dest / name.removesuffix(".gz")
        plain.write_text("".join(header + records))
        # bgzips to name (removing the plain file) and writes name.tbi beside it.
        pysam.tabix_index(str(plain), preset="vcf", force=True)
    return {
        "vcf_url": _file_url(dest / NYGC_VCF),
        "vcf_url_chrX": _file_url(dest / NYGC_VCF_X),
        "md5sums_url": "",
    }


def write_inputs(dest: str | Path, individuals: list[str], seed: int = 20261122) -> dict:
    """The reference under ``dest/gencode`` and the VCFs under ``dest/vcf``; returns the
    config sections (``reference``, ``genotypes``) pointing at them."""
    dest = Path(dest)
    rng = random.Random(f"{seed}-inputs")  # apart from generate()'s draws
    return {
        "reference": write_reference(dest / "gencode", rng),
        "genotypes": write_genotypes(dest / "vcf", individuals, rng),
    }


def prepare(workdir: str | Path, seed: int = 20261122) -> Path:
    """A scratch working directory for the MAGE preset on the synthetic cohort: the fixture
    under ``workdir/mage_scale/`` (library and run tables, reference, VCFs) and
    ``workdir/mage_scale.yaml``, a config layered over config/presets/mage.yaml that points the
    run table and MAGE's library table (with its sha256) at it, and the reference and genotype
    URLs at its files (file:// URLs, downloaded by the workflow's own rules), so that both
    checkpoints, resolve_samples and check_inputs, pass offline. Returns the overlay's path."""
    import yaml
    from workdirs import scratch_workdir

    workdir = Path(workdir).resolve()
    scratch_workdir(workdir, reuse_demo=False)
    meta, table = write(workdir / "mage_scale", seed)
    with open(meta, newline="") as fh:
        individuals = sorted({row["kgp_id"] for row in csv.DictReader(fh, delimiter="\t")})
    overlay = workdir / "mage_scale.yaml"
    samples = {
        "run_table": str(table),
        "mage_metadata": str(meta),
        "mage_metadata_sha256": hashlib.sha256(meta.read_bytes()).hexdigest(),
    }
    inputs = write_inputs(workdir / "mage_scale", individuals, seed)
    overlay.write_text(yaml.safe_dump({"samples": samples, **inputs}))
    return overlay


def snakemake_args(
    workdir: str | Path, overlay: Path, *args: str, also: tuple[Path, ...] = ()
) -> list[str]:
    """Arguments running the MAGE preset with ``overlay`` (then the overlays ``also``, each
    over the last) in ``workdir``."""
    from workdirs import ROOT
    from workdirs import snakemake_args as scratch_args

    preset = str(ROOT / "config/presets/mage.yaml")
    configs = [preset, str(overlay), *map(str, also)]
    return scratch_args(Path(workdir), "--configfile", *configs, *args)


# The checkpoint's outputs: the target that resolves the cohort (offline on this fixture).
RESOLVED = [
    "results/MAGE/samples/individuals.tsv",
    "results/MAGE/samples/runs.tsv",
    "results/MAGE/samples/run_sources.tsv",
    "results/MAGE/samples/run_mapping.tsv",
]
# The second checkpoint's output (paths.smk INPUTS_CHECKED): check_inputs passes on the
# fixture's reference and VCFs; the per-library jobs enter the DAG only after it.
CHECKED = ["results/MAGE/preflight/inputs_checked.tsv"]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dest")
    parser.add_argument("--seed", type=int, default=20261122)
    args = parser.parse_args()
    for path in write(args.dest, args.seed):
        print(path)
