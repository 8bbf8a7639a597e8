"""Scale and memory of the genotype stage's per-chromosome job (kgpex.genotypes.cohort.cohort_genotypes).

Builds synthetic phased panels in the NYGC layout (3,202 samples, chr-prefixed, biallelic
records, INFO AC/AN, bgzip + tabix) at several sizes, runs the same function rule
cohort_genotypes calls on a 100-individual cohort, and prints wall time, peak RSS and throughput.

Peak RSS is measured two ways: the sum over the job's whole process tree (Python, bcftools x4,
tee, plink2), sampled every 0.1 s with psutil; and the largest single process's maxrss
(getrusage RUSAGE_SELF and RUSAGE_CHILDREN inside the job, exact). Target: flat as variants grow, under 2 GB.

    nice .venv/bin/python benchmarks/genotypes_scale.py                  # 50k and 200k variants
    .venv/bin/python benchmarks/genotypes_scale.py --variants 2000 --keep  # quick look
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import psutil

ROOT = Path(__file__).resolve().parents[1]
CHUNK = 2000


def write_panel(path: Path, n_variants: int, n_samples: int, seed: int) -> list[str]:
    """A phased chr22 panel; returns its sample IDs. Allele frequencies ~ Beta(0.1, 1), as in
    real panels most variants are rare; every 25th record is a 1-bp deletion."""
    rng = np.random.default_rng(seed)
    samples = [f"{'HG' if i % 2 else 'NA'}{i:05d}" for i in range(n_samples)]
    header = (
        "##fileformat=VCFv4.2\n"
        '##FILTER=<ID=PASS,Description="All filters passed">\n'
        "##contig=<ID=chr22,length=50818468>\n"
        '##INFO=<ID=AC,Number=A,Type=Integer,Description="Allele count">\n'
        '##INFO=<ID=AN,Number=1,Type=Integer,Description="Allele number">\n'
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Phased genotype">\n'
        + "\t".join(
            ["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT", *samples]
        )
        + "\n"
    )
    bgzip = subprocess.Popen(
        ["bgzip", "-@", "2", "-c"], stdin=subprocess.PIPE, stdout=open(path, "wb")
    )
    bgzip.stdin.write(header.encode())
    pos = 10_000_000
    bases = np.frombuffer(b"ACGT", dtype=np.uint8)
    for start in range(0, n_variants, CHUNK):
        m = min(CHUNK, n_variants - start)
        af = rng.beta(0.1, 1.0, size=m)
        haps = rng.random((m, n_samples, 2)) < af[:, None, None]
        text = np.empty((m, n_samples, 4), dtype=np.uint8)
        text[:, :, 0] = ord("0") + haps[:, :, 0]
        text[:, :, 1] = ord("|")
        text[:, :, 2] = ord("0") + haps[:, :, 1]
        text[:, :, 3] = ord("\t")
        text[:, -1, 3] = ord("\n")
        ac = haps.sum(axis=(1, 2))
        rows = text.reshape(m, -1)
        steps = rng.integers(1, 60, size=m)
        refs = rng.integers(0, 4, size=m)
        out = []
        for j in range(m):
            pos += int(steps[j])
            ref = chr(bases[refs[j]])
            alt = chr(bases[(refs[j] + 1) % 4])
            if (start + j) % 25 == 0:
                ref, alt = ref + alt, ref
            out.append(
                f"chr22\t{pos}\t.\t{ref}\t{alt}\t.\tPASS\tAC={ac[j]};AN={2 * n_samples}\tGT\t".encode()
            )
            out.append(rows[j].tobytes())
        bgzip.stdin.write(b"".join(out))
    bgzip.stdin.close()
    if bgzip.wait() != 0:
        sys.exit("bgzip failed")
    subprocess.run(["tabix", "-f", "-p", "vcf", str(path)], check=True)
    return samples


JOB = textwrap.dedent("""
    import json, logging, sys
    sys.path.insert(0, {src!r})
    logging.basicConfig(level=logging.INFO, format="    %(message)s")
    from kgpex.genotypes.cohort import cohort_genotypes
    sexes = json.loads({sexes!r})
    n = cohort_genotypes({vcf!r}, "chr22", sexes, {out!r}, maf=0.01, threads={threads}, memory_mb={memory})
    import resource
    # Largest single process of the job: this interpreter or any tool it ran (all waited for).
    rss = max(resource.getrusage(w).ru_maxrss for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    print("WRITTEN", n, "MAXRSS_KIB", rss)
    """)


def run_job(vcf: Path, sexes: dict[str, str], out: Path, threads: int, memory_mb: int) -> dict:
    code = JOB.format(
        src=str(ROOT / "src"),
        sexes=json.dumps(sexes),
        vcf=str(vcf),
        out=str(out),
        threads=threads,
        memory=memory_mb,
    )
    peak_tree = 0
    done = threading.Event()
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)

    def sample() -> None:
        nonlocal peak_tree
        root = psutil.Process(proc.pid)
        while not done.is_set():
            try:
                procs = [root, *root.children(recursive=True)]
                total = 0
                for p in procs:
                    try:
                        total += p.memory_info().rss
                    except psutil.NoSuchProcess:
                        pass
                peak_tree = max(peak_tree, total)
            except psutil.NoSuchProcess:
                return
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, _ = proc.communicate()
    wall = time.perf_counter() - t0
    done.set()
    sampler.join()
    if proc.returncode != 0:
        sys.exit(f"cohort_genotypes failed ({proc.returncode})")
    written = int(stdout.split("WRITTEN")[1].split()[0])
    return {
        "wall_s": wall,
        "peak_tree_rss_mb": peak_tree / 2**20,
        "max_process_rss_mb": int(stdout.split("MAXRSS_KIB")[1].split()[0]) / 1024,
        "written": written,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--variants", type=int, nargs="+", default=[50_000, 200_000])
    parser.add_argument("--samples", type=int, default=3202)
    parser.add_argument("--cohort", type=int, default=100)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--memory-mb", type=int, default=1500, help="plink2 workspace (rule: mem_mb - 500)"
    )
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the synthetic panels")
    args = parser.parse_args()

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="kgpex_genotypes_bench."))
    workdir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    rows = []
    try:
        for n_variants in args.variants:
            vcf = workdir / f"BENCH_{n_variants}_chr22.filtered.shapeit2-duohmm-phased.vcf.gz"
            t0 = time.perf_counter()
            samples = write_panel(vcf, n_variants, args.samples, seed=n_variants)
            build = time.perf_counter() - t0
            cohort = sorted(rng.choice(samples, size=args.cohort, replace=False).tolist())
            sexes = {s: ("male" if i % 2 else "female") for i, s in enumerate(cohort)}
            print(
                f"panel {n_variants:,} variants x {args.samples:,} samples: "
                f"{vcf.stat().st_size / 2**20:.0f} MiB bgzip, built in {build:.0f} s",
                flush=True,
            )
            result = run_job(
                vcf, sexes, workdir / f"out_{n_variants}" / "chr22", args.threads, args.memory_mb
            )
            result.update(variants=n_variants, per_s=n_variants / result["wall_s"])
            rows.append(result)
            print(
                f"  cohort_genotypes: {result['wall_s']:.1f} s, peak RSS tree {result['peak_tree_rss_mb']:.0f} MiB, "
                f"largest process {result['max_process_rss_mb']:.0f} MiB, {result['per_s']:,.0f} variants/s, "
                f"{result['written']:,} written",
                flush=True,
            )
            if not args.keep:
                vcf.unlink()
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    print(
        f"\nper-chromosome job on a {args.cohort}-individual cohort of a {args.samples:,}-sample panel"
    )
    print(
        f"{'variants':>10} {'wall s':>8} {'peak RSS tree MiB':>18} {'largest proc MiB':>17} {'variants/s':>11} {'written':>9}"
    )
    for r in rows:
        print(
            f"{r['variants']:>10,} {r['wall_s']:>8.1f} {r['peak_tree_rss_mb']:>18.0f} "
            f"{r['max_process_rss_mb']:>17.0f} {r['per_s']:>11,.0f} {r['written']:>9,}"
        )


if __name__ == "__main__":
    main()
