"""Genotype preparation against the bare tools (issue 18, item 3): target <= 1.5x, RSS flat.

One synthetic phased panel per variant count, in the NYGC layout (3,202 samples, chr-prefixed,
ID '.', biallelic split records, FORMAT GT only, INFO AC/AN; bgzip + tabix; the generator of
benchmarks/genotypes_scale.py). On the same file and the same cohort (731 individuals, as MAGE)
it runs, one after the other, each in its own process:

- kgpex: ``kgpex.genotypes.cohort.cohort_genotypes``, the function rule cohort_genotypes calls
  (threads 2 and a 1,500 MB plink2 workspace, as the rule's defaults give it);
- the bare tools: ``bcftools view -S cohort -Ou -o cohort.bcf panel.vcf.gz`` then
  ``plink2 --bcf cohort.bcf --maf 0.01 --make-pgen``. plink2 reads its input twice, so
  ``bcftools view | plink2 --vcf /dev/stdin`` stops with "could not be scanned twice"; the
  uncompressed temporary BCF is the cheapest way the two tools meet. ``--maf`` makes both sides
  write the same variants (it costs plink2 nothing measurable).

It prints both wall times, their ratio (kgpex / tools), variants read per second and peak RSS:
the largest single process (exact: getrusage RUSAGE_SELF/RUSAGE_CHILDREN inside the measured
process) and the sum over the process tree (psutil, sampled every 0.1 s). Two variant counts show
whether RSS stays flat as the variant count grows. Each measurement is the best of --repeats.

    nice .venv/bin/python benchmarks/genotype_prep_vs_tools.py                 # 20k and 80k variants
    .venv/bin/python benchmarks/genotype_prep_vs_tools.py --variants 5000 --repeats 1   # quick look
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
sys.path.insert(0, str(Path(__file__).resolve().parent))

from genotypes_scale import write_panel

RSS = (
    "import resource\n"
    "print('MAXRSS_KIB', max(resource.getrusage(w).ru_maxrss "
    "for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)))\n"
    "print('CPU_S', sum(u.ru_utime + u.ru_stime for u in map(resource.getrusage, "
    "(resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))))\n"
)

KGPEX = (
    textwrap.dedent("""
    import json, sys
    sys.path.insert(0, {src!r})
    from kgpex.genotypes.cohort import cohort_genotypes
    n = cohort_genotypes({vcf!r}, "chr22", json.loads({sexes!r}), {out!r}, maf={maf!r},
                         threads={threads}, memory_mb={memory})
    print("WRITTEN", n)
    """)
    + RSS
)

TOOLS = (
    textwrap.dedent("""
    import subprocess
    subprocess.run(["bcftools", "view", "--no-version", "-S", {samples!r}, "-Ou", "-o", {bcf!r},
                    {vcf!r}], check=True)
    subprocess.run(["plink2", "--bcf", {bcf!r}, "--maf", "{maf}", "--make-pgen", "--threads",
                    "{threads}", "--memory", "{memory}", "--out", {out!r}],
                   check=True, stdout=subprocess.DEVNULL)
    with open({out!r} + ".pvar") as fh:
        print("WRITTEN", sum(1 for line in fh if not line.startswith("#")))
    """)
    + RSS
)


def measure(code: str) -> dict:
    """Run ``code`` in a fresh interpreter: wall time, largest process, process-tree peak RSS."""
    peak_tree = 0
    done = threading.Event()
    t0 = time.perf_counter()
    # Through sh, which forks the interpreter: Linux carries a process's peak RSS across exec,
    # so an interpreter started straight from this one would report this one's peak as its own.
    proc = subprocess.Popen(
        ["sh", "-c", '"$@"; exit $?', "sh", sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        text=True,
    )

    def sample() -> None:
        nonlocal peak_tree
        try:
            root = psutil.Process(proc.pid)
        except psutil.NoSuchProcess:
            return
        while not done.is_set():
            total = 0
            try:
                procs = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            for p in procs:
                try:
                    total += p.memory_info().rss
                except psutil.NoSuchProcess:
                    pass
            peak_tree = max(peak_tree, total)
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, _ = proc.communicate()
    wall = time.perf_counter() - t0
    done.set()
    sampler.join()
    if proc.returncode != 0:
        sys.exit(f"measured run failed ({proc.returncode})")
    return {
        "wall_s": wall,
        "written": int(stdout.split("WRITTEN")[1].split()[0]),
        "max_process_mib": int(stdout.split("MAXRSS_KIB")[1].split()[0]) / 1024,
        "peak_tree_mib": peak_tree / 2**20,
        "cpu_s": float(stdout.split("CPU_S")[1].split()[0]),
    }


def best(code: str, repeats: int) -> dict:
    runs = [measure(code) for _ in range(repeats)]
    fastest = min(runs, key=lambda r: r["wall_s"])
    fastest["max_process_mib"] = max(r["max_process_mib"] for r in runs)
    fastest["peak_tree_mib"] = max(r["peak_tree_mib"] for r in runs)
    return fastest


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--variants", type=int, nargs="+", default=[20_000, 80_000])
    parser.add_argument("--samples", type=int, default=3202)
    parser.add_argument("--cohort", type=int, default=731)
    parser.add_argument("--maf", type=float, default=0.01)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--memory-mb", type=int, default=1500)
    parser.add_argument(
        "--repeats", type=int, default=2, help="best of N runs of each side"
    )
    parser.add_argument(
        "--src",
        type=Path,
        default=ROOT / "src",
        help="kgpex source tree to time (before/after)",
    )
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true", help="keep panels and outputs")
    args = parser.parse_args()

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="kgpex_prep_vs_tools."))
    workdir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    rows = []
    try:
        for n_variants in args.variants:
            vcf = workdir / f"BENCH_{n_variants}_chr22.vcf.gz"
            t0 = time.perf_counter()
            samples = write_panel(vcf, n_variants, args.samples, seed=n_variants)
            cohort = sorted(
                rng.choice(samples, size=args.cohort, replace=False).tolist()
            )
            samples_file = workdir / f"cohort_{n_variants}.txt"
            samples_file.write_text("\n".join(cohort) + "\n")
            sexes = {s: ("male" if i % 2 else "female") for i, s in enumerate(cohort)}
            print(
                f"panel {n_variants:,} variants x {args.samples:,} samples "
                f"({vcf.stat().st_size / 2**20:.0f} MiB bgzip, built in "
                f"{time.perf_counter() - t0:.0f} s); cohort of {args.cohort}",
                flush=True,
            )
            common = {
                "vcf": str(vcf),
                "maf": args.maf,
                "threads": args.threads,
                "memory": args.memory_mb,
            }
            kgpex = best(
                KGPEX.format(
                    src=str(args.src.resolve()),
                    sexes=json.dumps(sexes),
                    out=str(workdir / f"kgpex_{n_variants}" / "chr22"),
                    **common,
                ),
                args.repeats,
            )
            tools = best(
                TOOLS.format(
                    samples=str(samples_file),
                    bcf=str(workdir / f"tools_{n_variants}.bcf"),
                    out=str(workdir / f"tools_{n_variants}"),
                    **common,
                ),
                args.repeats,
            )
            row = {"variants": n_variants, "kgpex": kgpex, "tools": tools}
            rows.append(row)
            for name, r in (("kgpex", kgpex), ("bare tools", tools)):
                print(
                    f"  {name:<10} {r['wall_s']:6.1f} s  (CPU {r['cpu_s']:5.1f} s)  "
                    f"{n_variants / r['wall_s']:8,.0f} variants/s  "
                    f"largest process {r['max_process_mib']:5.0f} MiB  tree {r['peak_tree_mib']:5.0f} MiB  "
                    f"{r['written']:,} written",
                    flush=True,
                )
            print(
                f"  ratio kgpex / bare tools: {kgpex['wall_s'] / tools['wall_s']:.2f}",
                flush=True,
            )
            if not args.keep:
                vcf.unlink()
                (workdir / f"tools_{n_variants}.bcf").unlink(missing_ok=True)
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)

    print(
        f"\ngenotype preparation, {args.cohort}-individual cohort of a {args.samples:,}-sample "
        f"panel, threads {args.threads}, best of {args.repeats}"
    )
    print(
        f"{'variants':>9} {'kgpex s':>8} {'tools s':>8} {'ratio':>6} {'kgpex var/s':>12} "
        f"{'kgpex RSS MiB':>14} {'tools RSS MiB':>14} {'kgpex tree MiB':>15} "
        f"{'kgpex CPU s':>12} {'tools CPU s':>12}"
    )
    for r in rows:
        k, t = r["kgpex"], r["tools"]
        print(
            f"{r['variants']:>9,} {k['wall_s']:>8.1f} {t['wall_s']:>8.1f} "
            f"{k['wall_s'] / t['wall_s']:>6.2f} {r['variants'] / k['wall_s']:>12,.0f} "
            f"{k['max_process_mib']:>14.0f} {t['max_process_mib']:>14.0f} {k['peak_tree_mib']:>15.0f} "
            f"{k['cpu_s']:>12.1f} {t['cpu_s']:>12.1f}"
        )
    print(
        "target: ratio <= 1.5; RSS flat in the variant count. CPU s: user + system of the whole "
        "job (wall time on a loaded machine penalises kgpex's parallel pipeline more)"
    )


if __name__ == "__main__":
    main()
