"""Dry-run of the MAGE preset at MAGE's full scale, offline: wall time and number of jobs.

Builds the synthetic cohort in MAGE's shape (tests/mage_scale.py: 779 libraries of 731
individuals, 24 triplicates, seeded), resolves it through the workflow's own rules with the run
table and MAGE's library table pointed at local files (target: the checkpoint's outputs), then
times ``snakemake -n`` of the whole MAGE preset (23 chromosomes). Prints, for each repeat, the
dry-run's wall and CPU seconds and its number of jobs. Target: under 10 s wall on the 2-core
development machine.

    nice .venv/bin/python benchmarks/mage_dry_run.py            # 3 repeats
    .venv/bin/python benchmarks/mage_dry_run.py --repeats 1 --keep
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import mage_scale  # noqa: E402


def snakemake(args: list[str]) -> tuple[subprocess.CompletedProcess, float, float]:
    """Run Snakemake; return the process, its wall seconds and its CPU seconds."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", *args], cwd=ROOT, capture_output=True, text=True
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        sys.exit(f"snakemake {' '.join(args)} failed:\n{(proc.stdout + proc.stderr)[-4000:]}")
    return proc, wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=20261122)
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = parser.parse_args()
    # Jobs must not inherit an embedded R's library path (tests/conftest.py explains).
    os.environ.pop("LD_LIBRARY_PATH", None)
    workdir = Path(tempfile.mkdtemp(prefix="kgpex-mage-dry-run-"))
    try:
        overlay = mage_scale.prepare(workdir, args.seed)
        _, wall, _ = snakemake(
            mage_scale.snakemake_args(workdir, overlay, "--cores", "1", *mage_scale.RESOLVED)
        )
        print(f"resolution (fetch_run_table, fetch_sample_metadata, resolve_samples): {wall:.1f} s")
        command = mage_scale.snakemake_args(workdir, overlay, "-n", "--quiet", "rules")
        print("dry-run: snakemake " + " ".join(command))
        for i in range(args.repeats):
            proc, wall, cpu = snakemake(command)
            totals = re.findall(r"^total\s+(\d+)$", proc.stdout + proc.stderr, re.M)
            jobs = int(totals[0]) if totals else -1
            print(f"repeat {i + 1}: {wall:.2f} s wall, {cpu:.2f} s CPU, {jobs} jobs")
    finally:
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
