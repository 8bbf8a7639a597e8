"""STAR 2.7.10b: the genome index, and one library's alignment with MAGE's settings.

MAGE's flags (01_align_dev.sh; ../shared MAGE_METHODS_MORE.md 1.1) are :data:`MAGE_ALIGN_OPTIONS`,
with two differences, both listed in the README's "Differences from MAGE":

- ``--quantMode GeneCounts`` without ``TranscriptomeSAM``: MAGE wrote a second, transcriptome
  BAM that nothing downstream read (expression comes from salmon on the reads).
- ``--runThreadN`` is the job's threads (MAGE: 24).

A library's runs are aligned together (comma-separated lists, mates in the same order), as salmon
quantifies them. STAR writes into a hidden folder beside the outputs; the BAM is indexed there,
then every output is renamed into place, the BAM last but one and its index last, so a killed
job never leaves a file under its final name that is not whole (Snakemake does not recheck
jobs found through a checkpoint for incomplete markers).
"""

from __future__ import annotations

import gzip
import math
import os
import shutil
import subprocess
from pathlib import Path

from kgpex.common.errors import KgpexError

# Every MAGE flag but the run-specific ones (genome, reads, prefix, threads, VCF, read group).
MAGE_ALIGN_OPTIONS = [
    "--runMode", "alignReads",
    "--twopassMode", "Basic",
    "--waspOutputMode", "SAMtag",
    "--readFilesCommand", "zcat",
    "--outSAMtype", "BAM", "SortedByCoordinate",
    "--outSAMunmapped", "Within",
    "--outFilterMultimapNmax", "20",
    "--alignSJoverhangMin", "8",
    "--alignSJDBoverhangMin", "1",
    "--outFilterMismatchNmax", "999",
    "--outFilterMismatchNoverLmax", "0.1",
    "--alignIntronMin", "20",
    "--alignIntronMax", "1000000",
    "--alignMatesGapMax", "1000000",
    "--outFilterType", "BySJout",
    "--outFilterScoreMinOverLread", "0.33",
    "--outFilterMatchNminOverLread", "0.33",
    "--outFilterMatchNmin", "0",
    "--limitSjdbInsertNsj", "1200000",
    "--outSAMstrandField", "intronMotif",
    "--outFilterIntronMotifs", "None",
    "--alignSoftClipAtReferenceEnds", "Yes",
    "--quantMode", "GeneCounts",
    "--outSAMattributes", "NH", "HI", "AS", "nM", "NM", "ch",
    "--chimOutJunctionFormat", "0",
    "--chimSegmentMin", "15",
    "--chimJunctionOverhangMin", "15",
    "--chimOutType", "Junctions", "WithinBAM", "SoftClip",
    "--chimMainSegmentMultNmax", "1",
    "--genomeLoad", "NoSharedMemory",
]  # fmt: skip

# The files STAR writes that a library keeps, each renamed ``{library}.<STAR's name>``.
STAR_OUTPUTS = (
    "Log.final.out",
    "SJ.out.tab",
    "ReadsPerGene.out.tab",
    "Aligned.sortedByCoord.out.bam",
)


def sa_index_bases(genome_length: int) -> int:
    """STAR's --genomeSAindexNbases for a genome: min(14, log2(length) / 2 - 1) (STAR manual
    2.2.5); 14 for the human genome, smaller for small genomes, which crash STAR otherwise."""
    if genome_length <= 0:
        raise KgpexError("STAR index: the genome FASTA holds no sequence")
    return max(4, min(14, int(math.log2(genome_length) / 2 - 1)))


def fasta_length(path: str | Path) -> int:
    """Total sequence length of a (gzipped) FASTA."""
    opener = gzip.open if str(path).endswith(".gz") else open
    total = 0
    with opener(path, "rt") as fh:
        for line in fh:
            if not line.startswith(">"):
                total += len(line.strip())
    return total


def _unpack_fasta(src: str | Path, dest: Path) -> tuple[int, set[str]]:
    """Copy a (gzipped) FASTA to plain text at ``dest``; return its length and contig names,
    counted on the way so that the genome is read once."""
    opener = gzip.open if str(src).endswith(".gz") else open
    total, names = 0, set()
    with opener(src, "rb") as fin, open(dest, "wb") as fout:
        for line in fin:
            fout.write(line)
            if line.startswith(b">"):
                names.add(line[1:].split(None, 1)[0].decode() if line[1:].strip() else "")
            else:
                total += len(line.rstrip())
    return total, names


def _unpack_gtf(src: str | Path, dest: Path) -> set[str]:
    """Copy a (gzipped) GTF to plain text at ``dest``; return the contigs it names."""
    opener = gzip.open if str(src).endswith(".gz") else open
    contigs = set()
    with opener(src, "rb") as fin, open(dest, "wb") as fout:
        for line in fin:
            fout.write(line)
            if not line.startswith(b"#") and line.strip():
                contigs.add(line.split(b"\t", 1)[0].decode())
    return contigs


def read_length(run_table_rows: list[dict], layouts: dict[str, str]) -> int:
    """The longest read of the cohort's runs, from the run table's base_count / read_count
    (ENA: bases over both mates, read_count in spots)."""
    lengths = []
    for row in run_table_rows:
        run = row.get("run_accession", "")
        if run not in layouts:
            continue
        try:
            bases, spots = int(row["base_count"]), int(row["read_count"])
        except (KeyError, TypeError, ValueError):
            # csv.DictReader gives None for a short row, ENA an empty string for unknown counts.
            raise KgpexError(
                f"run table: run {run} has no numeric base_count and read_count for the read "
                "length; set alignment.sjdb_overhang"
            ) from None
        if spots > 0:
            lengths.append(round(bases / spots / (2 if layouts[run] == "paired" else 1)))
    if not lengths:
        raise KgpexError(
            "run table: no run with reads to take the read length from; set alignment.sjdb_overhang"
        )
    return max(lengths)


def index_command(genome_fa: str, gtf: str, out_dir: str, sjdb_overhang: int,
                  sa_bases: int, threads: int, tmp_dir: str) -> list[str]:  # fmt: skip
    return [
        "STAR", "--runMode", "genomeGenerate", "--runThreadN", str(threads),
        "--genomeDir", out_dir, "--genomeFastaFiles", genome_fa, "--sjdbGTFfile", gtf,
        "--sjdbOverhang", str(sjdb_overhang), "--genomeSAindexNbases", str(sa_bases),
        "--outFileNamePrefix", f"{tmp_dir}/", "--outTmpDir", f"{tmp_dir}/_STARtmp",
    ]  # fmt: skip


def align_command(index: str, mates: list[list[str]], prefix: str, threads: int,
                  library: str, het_vcf: str | None, max_read_pairs: int,
                  two_pass: bool = True) -> list[str]:  # fmt: skip
    """STAR's argv for one library: ``mates`` is [r1 files] and [r2 files] (paired) or
    [files] (single-end); ``het_vcf`` None aligns without WASP (an individual with no
    heterozygous SNP); ``max_read_pairs`` 0 aligns every read."""
    options = list(MAGE_ALIGN_OPTIONS)
    if not two_pass:
        at = options.index("--twopassMode")
        options[at + 1] = "None"
    if het_vcf is None:
        at = options.index("--waspOutputMode")
        del options[at : at + 2]
    argv = ["STAR", *options, "--runThreadN", str(threads), "--genomeDir", index,
            "--outFileNamePrefix", prefix, "--outTmpDir", f"{prefix}_STARtmp",
            "--outSAMattrRGline", f"ID:{library}", f"SM:{library}",
            "--readFilesIn", *[",".join(files) for files in mates]]  # fmt: skip
    if het_vcf is not None:
        argv += ["--varVCFfile", het_vcf]
    if max_read_pairs:
        argv += ["--readMapNumber", str(max_read_pairs)]
    return argv


def run_logged(argv: list[str], log_fh, what: str) -> None:
    """Run a tool with its output in the job's log; one line when it fails."""
    log_fh.write("$ " + " ".join(argv) + "\n")
    log_fh.flush()
    proc = subprocess.run(argv, stdout=log_fh, stderr=subprocess.STDOUT, check=False)
    if proc.returncode != 0:
        log = getattr(log_fh, "name", "the job's log")
        raise KgpexError(f"{what}: {argv[0]} exited with status {proc.returncode} (see {log})")


def build_index(genome_fa: str | Path, gtf: str | Path, out_dir: str | Path,
                sjdb_overhang: int, threads: int, log_path: str | Path) -> None:  # fmt: skip
    """The STAR index of a (gzipped) genome FASTA and GTF, built in a hidden folder and renamed
    to ``out_dir`` when STAR has finished."""
    out_dir = Path(out_dir)
    partial = out_dir.parent / f".{out_dir.name}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        with open(log_path, "w") as log_fh:
            # STAR reads neither gzipped FASTA nor gzipped GTF.
            plain_fa, plain_gtf = partial / "genome.fa", partial / "annotation.gtf"
            length, fasta_contigs = _unpack_fasta(genome_fa, plain_fa)
            if length == 0:
                raise KgpexError(f"STAR index {out_dir}: the genome {genome_fa} holds no sequence")
            gtf_contigs = _unpack_gtf(gtf, plain_gtf)
            # STAR skips exons on contigs the genome lacks without a word unless none is left
            # (chrM against MT would silently lose those genes' counts).
            absent = sorted(gtf_contigs - fasta_contigs)
            if absent:
                raise KgpexError(
                    f"STAR index {out_dir}: the GTF {gtf} names contigs the genome {genome_fa} "
                    f"lacks: {', '.join(absent[:5])}{', ...' if len(absent) > 5 else ''}"
                )
            sa_bases = sa_index_bases(length)
            log_fh.write(f"genome {genome_fa}: --genomeSAindexNbases {sa_bases}, "
                         f"--sjdbOverhang {sjdb_overhang}\n")  # fmt: skip
            run_logged(
                index_command(str(plain_fa), str(plain_gtf), str(partial / "index"),
                              sjdb_overhang, sa_bases, threads, str(partial / "log")),
                log_fh, f"STAR index {out_dir}",
            )  # fmt: skip
        shutil.rmtree(out_dir, ignore_errors=True)
        os.replace(partial / "index", out_dir)
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def library_outputs(out_dir: str | Path, library: str) -> dict[str, Path]:
    """The files one library's alignment keeps: ``{library}.<STAR name>`` and the BAM index."""
    out_dir = Path(out_dir)
    paths = {name: out_dir / f"{library}.{name}" for name in STAR_OUTPUTS}
    paths["bai"] = out_dir / f"{library}.Aligned.sortedByCoord.out.bam.bai"
    return paths


def align_library(index: str | Path, mates: list[list[str]], library: str,
                  outputs: dict[str, str | Path], het_vcf: str | Path | None, threads: int,
                  max_read_pairs: int, two_pass: bool, work_dir: str | Path,
                  log_fh) -> dict[str, str]:  # fmt: skip
    """Align one library into ``work_dir`` (emptied first), index the BAM, check it, and rename
    every output into place (``outputs``: the keys of :func:`library_outputs`). Returns STAR's
    summary (Log.final.out's fields)."""
    work = Path(work_dir)
    if not (Path(index) / "SA").is_file():
        raise KgpexError(f"STAR alignment of {library}: {index} is not a STAR index (no SA file)")
    finals = [Path(outputs[name]) for name in [*STAR_OUTPUTS, "bai"]]
    # A file left under a final name by an earlier run would pass for this run's output.
    for dest in finals:
        dest.unlink(missing_ok=True)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    prefix = f"{work}/"
    # STAR ignores the exit status of --readFilesCommand, so a gzip file cut short at a record
    # boundary (in both mates) aligns as a smaller library; gzip -t runs beside STAR to catch it.
    # With max_read_pairs STAR reads only the head of each file, which is all that must be whole.
    gzipped = [f for files in mates for f in files if not max_read_pairs]
    check = subprocess.Popen(
        ["bash", "-c", 'for f; do gzip -t "$f" || exit 1; done', "gzip-test", *gzipped],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        run_logged(
            align_command(str(index), mates, prefix, threads, library,
                          None if het_vcf is None else str(het_vcf), max_read_pairs, two_pass),
            log_fh, f"STAR alignment of {library}",
        )  # fmt: skip
        _, gzip_errors = check.communicate()
        if check.returncode != 0:
            last = (gzip_errors.strip().splitlines() or ["no message"])[-1]
            raise KgpexError(f"STAR alignment of {library}: a FASTQ is not whole gzip: {last}")
        bam = work / "Aligned.sortedByCoord.out.bam"
        run_logged(["samtools", "index", "-@", str(threads), str(bam)], log_fh,
                   f"BAM index of {library}")  # fmt: skip
        summary = read_final_log(work / "Log.final.out")
        if int(summary.get("Number of input reads", "0")) == 0:
            raise KgpexError(f"STAR alignment of {library}: no read was read from {mates[0][0]}")
        renames = [(work / name, Path(outputs[name])) for name in STAR_OUTPUTS if name != bam.name]
        renames += [(bam, Path(outputs[bam.name])), (Path(f"{bam}.bai"), Path(outputs["bai"]))]
        for src, dest in renames:
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(src, dest)
    except BaseException:
        check.kill()
        check.wait()
        # A failed run's outputs are not this library's; STAR's temp (tens of GB for a deep
        # library) goes too, its error already being in the job's log.
        for dest in finals:
            dest.unlink(missing_ok=True)
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return summary


def read_final_log(path: str | Path) -> dict[str, str]:
    """STAR's Log.final.out as field -> value ('Uniquely mapped reads %' -> '99.95%')."""
    fields = {}
    try:
        with open(path) as fh:
            for line in fh:
                if "|" in line:
                    key, value = line.split("|", 1)
                    fields[key.strip()] = value.strip()
    except FileNotFoundError:
        raise KgpexError(f"{path}: STAR wrote no Log.final.out (did it finish?)") from None
    return fields
