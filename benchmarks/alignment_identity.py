"""Time the alignment stage, the identity check and the junction counting and intron clustering
of the splicing arm on the demo cohort's real files.

Builds the STAR index of the demo genome once, then for ``--libraries`` runs (each its own
individual's library): the individual's heterozygous SNPs (bcftools +split, then
kgpex.alignment.het_snps.personal_vcf), STAR two-pass with WASP tags through
kgpex.alignment.star.align_library, and QTLtools mbv (kgpex.identity.mbv.run_mbv) against the
cohort's common exonic SNPs (kgpex.identity.snps, as rule identity_snps builds them).

Printed per library and in one summary block: STAR seconds per million read pairs, STAR's peak
RSS (each library aligned in its own forked process, whose RUSAGE_CHILDREN holds STAR, samtools
and gzip only), the in-flight disk peak of one run (the FASTQs plus the work folder, sampled
every 0.05 s while STAR runs: BAM being sorted, STAR's temp and two-pass genome), and mbv
seconds per library; junction extraction (kgpex.splicing.junctions, MAGE's regtools
-a 8 -m 50 -M 500000) per library beside STAR's time, and LeafCutter clustering
(kgpex.splicing.clusters) over the libraries' junctions. The demo data comes from ``make demo`` (its first rule writes
resources/demo/generated/ from src/kgpex/demo).

    PYTHONPATH=src .venv/bin/python benchmarks/alignment_identity.py --libraries 3 --threads 2
"""

from __future__ import annotations

import argparse
import csv
import gzip
import multiprocessing
import os
import platform
import resource
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from kgpex.alignment import het_snps, star
from kgpex.identity import mbv
from kgpex.identity.snps import common_exonic_snps
from kgpex.splicing.clusters import cluster_introns
from kgpex.splicing.junctions import extract_junctions, write_junc

DEMO = ROOT / "resources" / "demo" / "generated"


def sh(command: str) -> None:
    subprocess.run(["bash", "-o", "pipefail", "-c", command], check=True)


def cpu_model() -> str:
    with open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def folder_bytes(path: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_blocks * 512
            except FileNotFoundError:  # STAR removes temp files as it goes
                pass
    return total


def first_read_length(fastq: Path) -> int:
    with gzip.open(fastq, "rt") as fh:
        fh.readline()
        return len(fh.readline().strip())


def in_child(target, *args):
    """Run ``target(*args)`` in a forked process; return its result and the peak RSS (KiB) of
    the programs it ran (a fresh process's RUSAGE_CHILDREN counts only its own children)."""
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()

    def wrapper():
        try:
            result = target(*args)
            queue.put((result, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, None))
        except Exception as err:  # noqa: BLE001 - the parent stops with its message
            queue.put((None, 0, f"{type(err).__name__}: {err}"))

    proc = ctx.Process(target=wrapper)
    proc.start()
    result, maxrss, error = queue.get()
    proc.join()
    if error:
        raise SystemExit(error)
    return result, maxrss


def align_one(index, mates, run, outputs, het_vcf, threads, max_pairs, work, log_path):
    with open(log_path, "w") as log_fh:
        return star.align_library(index, mates, run, outputs, het_vcf, threads, max_pairs, True,
                                  work, log_fh)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--demo", type=Path, default=DEMO, help="the demo's generated folder")
    parser.add_argument("--libraries", type=int, default=3, help="libraries to align [3]")
    parser.add_argument("--threads", type=int, default=2, help="STAR --runThreadN [2]")
    parser.add_argument("--max-read-pairs", type=int, default=0,
                        help="STAR --readMapNumber per library; 0: all [0]")  # fmt: skip
    parser.add_argument("--work", type=Path, help="scratch folder [a new temp folder]")
    args = parser.parse_args()

    mirror = args.demo / "mirror"
    genome = mirror / "gencode" / "GRCh38.DEMO.genome.fa.gz"
    gtf = mirror / "gencode" / "gencode.vDEMO.annotation.gtf.gz"
    vcfs = sorted((mirror / "vcf").glob("*.vcf.gz"))
    if not (genome.exists() and gtf.exists() and vcfs):
        raise SystemExit(f"no demo data under {args.demo}: run `make demo` (or its first rule, "
                         "which writes resources/demo/generated/ from src/kgpex/demo)")  # fmt: skip
    work = args.work or Path(tempfile.mkdtemp(prefix="kgpex_align_bench_"))
    work.mkdir(parents=True, exist_ok=True)

    with open(args.demo / "ena_filereport.tsv", newline="") as fh:
        individual_of = {r["run_accession"]: r["sample_alias"] for r in csv.DictReader(fh, delimiter="\t")}
    sexes = {}
    with open(ROOT / "resources" / "demo" / "individuals.tsv", newline="") as fh:
        sexes = {r["individual"]: r["sex"] for r in csv.DictReader(fh, delimiter="\t")}
    runs = sorted(p.name for p in (mirror / "fastq").iterdir() if p.name in individual_of)
    runs = runs[: args.libraries]
    mates_of = {r: [[str(mirror / "fastq" / r / f"{r}_{m}.fastq.gz")] for m in (1, 2)] for r in runs}
    read_len = first_read_length(Path(mates_of[runs[0]][0][0]))

    t0 = time.perf_counter()
    index = work / "star_index"
    _, index_rss = in_child(star.build_index, genome, gtf, index, read_len - 1, args.threads,
                            work / "index.log")  # fmt: skip
    index_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    # The panel rule identity_snps builds: the cohort's common biallelic exonic autosomal SNPs.
    autosomes = [c for c in (v.name.split("_")[1].split(".")[0] for v in vcfs) if c != "chrX"]
    n_common = common_exonic_snps([v for v in vcfs if v.name.split("_")[1].split(".")[0]
                                   in autosomes], gtf, sorted(sexes), autosomes, 0.05,
                                  work / "common_exonic.vcf.gz")  # fmt: skip
    common_s = time.perf_counter() - t0

    samples = work / "samples.txt"
    samples.write_text("".join(f"{individual_of[r]}\n" for r in runs))
    chroms = [v.name.split("_")[1].split(".")[0] for v in vcfs]
    split_dirs = {}
    t0 = time.perf_counter()
    for chrom, vcf in zip(chroms, vcfs):
        split_dirs[chrom] = work / "split" / chrom
        sh(het_snps.split_command(str(vcf), str(samples), str(split_dirs[chrom])))
    split_s = time.perf_counter() - t0

    rows = []
    for run in runs:
        ind = individual_of[run]
        het_vcf = work / f"{ind}.het.vcf"
        keep = het_snps.chromosomes_for(chroms, sexes.get(ind, "unknown"))
        n_het = het_snps.personal_vcf([split_dirs[c] for c in keep], ind, het_vcf)
        fastq_bytes = sum(os.path.getsize(f) for files in mates_of[run] for f in files)
        outputs = star.library_outputs(work / "aligned", run)
        run_work = work / "aligned" / f"work.{run}"
        peak = [0]
        done = threading.Event()

        def sample(run_work=run_work, peak=peak, done=done):
            while not done.wait(0.05):
                peak[0] = max(peak[0], folder_bytes(run_work))

        sampler = threading.Thread(target=sample)
        sampler.start()
        t0 = time.perf_counter()
        try:
            summary, star_rss = in_child(align_one, index, mates_of[run], run, outputs, het_vcf,
                                         args.threads, args.max_read_pairs, run_work,
                                         work / f"{run}.align.log")  # fmt: skip
        finally:
            done.set()
            sampler.join()
        align_s = time.perf_counter() - t0
        pairs = int(summary["Number of input reads"])
        t0 = time.perf_counter()
        table = mbv.run_mbv(outputs["Aligned.sortedByCoord.out.bam"], work / "common_exonic.vcf.gz",
                            work / f"{run}.mbv.txt", work / f"{run}.mbv.log")  # fmt: skip
        mbv_s = time.perf_counter() - t0
        call = mbv.call_identity(run, ind, mbv.read_mbv(table))
        t0 = time.perf_counter()
        junctions = extract_junctions(outputs["Aligned.sortedByCoord.out.bam"])
        junc_path = work / "junctions" / f"{run}.Aligned.sortedByCoord.out.bam.junc"
        junc_path.parent.mkdir(exist_ok=True)
        write_junc(junctions, junc_path)
        junc_s = time.perf_counter() - t0
        row = {"run": run, "individual": ind, "het_snps": n_het, "pairs": pairs,
               "unique": summary["Uniquely mapped reads %"], "align_s": align_s,
               "s_per_M": align_s / (pairs / 1e6), "star_rss_mib": star_rss / 1024,
               "disk_peak_mib": (fastq_bytes + peak[0]) / 2**20, "mbv_s": mbv_s,
               "junc_s": junc_s, "junctions": len(junctions),
               "verdict": call.verdict, "best": call.best_individual}  # fmt: skip
        rows.append(row)
        print(f"{run} ({ind}): {pairs} pairs, {row['unique']} unique, {align_s:.1f} s "
              f"({row['s_per_M']:.0f} s per M pairs), STAR RSS {row['star_rss_mib']:.0f} MiB, "
              f"disk peak {row['disk_peak_mib']:.1f} MiB, mbv {mbv_s:.2f} s, junctions "
              f"{junc_s:.2f} s ({100 * junc_s / align_s:.1f} % of STAR) -> {call.verdict} "
              f"(best {call.best_individual}; {call.het_sites} het / {call.hom_sites} hom "
              "sites covered)",
              flush=True)  # fmt: skip

    # LeafCutter's clustering needs the cohort (50 reads per cluster pooled over libraries): the
    # demo run's junction files when make demo has run, else this run's few libraries.
    cohort_junc = sorted((ROOT / "results" / "DEMO" / "alignment").glob("*/*.junc"))
    t0 = time.perf_counter()
    clustering = cluster_introns(cohort_junc or sorted((work / "junctions").glob("*.junc")),
                                 work / "leafcutter_perind.counts.gz")
    cluster_s = time.perf_counter() - t0
    total_pairs = sum(r["pairs"] for r in rows)
    total_align = sum(r["align_s"] for r in rows)
    per_library = ", ".join(f"{r['s_per_M']:.0f}" for r in rows)
    calls = ", ".join(f"{r['run']}={r['verdict']}" for r in rows)
    print("\n=== alignment + identity benchmark ===")
    print(f"machine:        {os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), "
          f"{cpu_model()}")  # fmt: skip
    print(f"command:        {' '.join(shlex.quote(a) for a in sys.argv)}")
    star_v = subprocess.run(["STAR", "--version"], capture_output=True, text=True, check=True)
    bcf_v = subprocess.run(["bcftools", "--version"], capture_output=True, text=True, check=True)
    print(f"tools:          STAR {star_v.stdout.strip()}, {bcf_v.stdout.splitlines()[0]}")
    print(f"genome:         {genome.name}, {star.fasta_length(genome) / 1e6:.2f} Mb; "
          f"read length {read_len}")  # fmt: skip
    print(f"STAR index:     {index_s:.1f} s, peak RSS {index_rss / 1024:.0f} MiB, "
          f"{folder_bytes(index) / 2**20:.0f} MiB on disk")  # fmt: skip
    print(f"common VCF:     {n_common} exonic biallelic SNPs, MAF >= 0.05, autosomes "
          f"({common_s:.1f} s); +split of {len(runs)} individuals: {split_s:.1f} s")  # fmt: skip
    print(f"libraries:      {len(rows)}, threads {args.threads}, max read pairs "
          f"{args.max_read_pairs or 'all'}")  # fmt: skip
    print(f"STAR 2-pass+WASP: {total_align / (total_pairs / 1e6):.0f} s per million read pairs "
          f"(mean over {total_pairs} pairs; per library "
          f"{per_library})")  # fmt: skip
    print(f"STAR peak RSS:  {max(r['star_rss_mib'] for r in rows):.0f} MiB")
    print(f"disk peak/run:  {max(r['disk_peak_mib'] for r in rows):.1f} MiB "
          "(FASTQs + work folder while STAR runs)")  # fmt: skip
    print(f"mbv:            {sum(r['mbv_s'] for r in rows) / len(rows):.2f} s per library; "
          f"calls: {calls}")  # fmt: skip
    junc_total = sum(r["junc_s"] for r in rows)
    print(f"junctions:      {junc_total / len(rows):.2f} s per library "
          f"({junc_total / (total_pairs / 1e6):.1f} s per million read pairs), "
          f"{100 * junc_total / total_align:.1f} % of STAR's time; "
          f"{sum(r['junctions'] for r in rows) / len(rows):.0f} junctions per library")
    print(f"clustering:     {cluster_s:.2f} s for {clustering['libraries']} libraries "
          f"({clustering['clusters']} clusters, {clustering['introns']} introns)")
    print(f"scratch:        {work}")


if __name__ == "__main__":
    main()
