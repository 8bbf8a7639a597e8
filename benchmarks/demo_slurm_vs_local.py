"""Wall time of the whole demo cohort run locally and through profiles/slurm on a real SLURM.

Each run starts in its own scratch directory (the generated demo sheets hard-linked in, as the
tests do; nothing of an earlier run reused) and does every job: downloads, salmon index and
quantifications, genotypes, expression, covariates, mapping, fine-mapping, MAGE tables.
- local: ``snakemake --cores N``;
- SLURM: the single-node test cluster of tests/slurm_cluster.py (munged, slurmctld, slurmd on
  this host; needs root and the Debian packages slurm-wlm and munge), submitted with
  ``--profile profiles/slurm`` and the options the SLURM test uses (SlurmCluster.submit_args).
Prints, for each mode, the wall seconds and the number of Snakemake jobs; for SLURM also the
jobs the cluster saw end and how many of them did not complete. Run on an otherwise idle machine:

    nice .venv/bin/python benchmarks/demo_slurm_vs_local.py            # both modes
    .venv/bin/python benchmarks/demo_slurm_vs_local.py --mode local --cores 2
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from workdirs import scratch_workdir, snakemake_args  # noqa: E402


def run(args: list[str], cwd: Path) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=cwd,
                          capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"snakemake failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return wall, proc.stderr


def jobs_in(log: str) -> int:
    """Jobs planned, from Snakemake's first "Job stats" table (group jobs print no "rule X:"
    line per member on SLURM), less the target rule."""
    table = log.split("Job stats:", 1)[1].split("\n\n", 1)[0]
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", table, re.MULTILINE))
    return int(counts["total"]) - int(counts.get("all", 0))


def local(base: Path, cores: int) -> None:
    workdir = scratch_workdir(base / "local")
    wall, log = run(snakemake_args(workdir, "--cores", str(cores)), workdir)
    print(f"local --cores {cores}: {wall:.1f} s wall, {jobs_in(log)} jobs")


def slurm(base: Path) -> None:
    from slurm_cluster import running_cluster

    with running_cluster() as cluster:
        workdir = scratch_workdir(base / "slurm")
        before = len(cluster.finished_jobs())
        wall, log = run(
            snakemake_args(
                workdir,
                *cluster.submit_args(ROOT / "profiles" / "slurm"),
            ),
            workdir,
        )
        ended = list(cluster.finished_jobs().values())[before:]
        submitted = len(ended)
        failed = sum(job.get("JobState") != "COMPLETED" for job in ended)
    print(f"SLURM ({cluster.cpus} CPUs, 1 node): {wall:.1f} s wall, {jobs_in(log)} jobs,"
          f" {submitted} SLURM jobs ended ({failed} not COMPLETED)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("both", "local", "slurm"), default="both")
    parser.add_argument("--cores", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kgpex-bench-") as tmp:
        if args.mode in ("both", "local"):
            local(Path(tmp), args.cores)
        if args.mode in ("both", "slurm"):
            slurm(Path(tmp))


if __name__ == "__main__":
    main()
