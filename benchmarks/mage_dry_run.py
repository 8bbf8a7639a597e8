"""Dry-run of the MAGE preset at MAGE's full scale, offline: wall time and number of jobs.

Builds the synthetic cohort in MAGE's shape (tests/mage_scale.py: 779 libraries of 731
individuals, 24 triplicates, seeded) with small GENCODE and NYGC inputs behind file:// URLs,
then runs both checkpoints through the workflow's own rules (resolve_samples, then
download_reference and check_inputs; the per-library jobs enter the DAG only after the check)
and times ``snakemake -n`` of the whole MAGE preset (23 chromosomes) twice per repeat: the eQTL
arm alone (aFC-n, the interaction test and the hidden factor scan off, through a second
overlay) and every arm on. Prints, per arm set and repeat, the dry-run's wall and CPU seconds
and its number of jobs, then the medians. Target: at most 5 s wall with every arm on, on the
idle 2-core development machine.

    nice .venv/bin/python benchmarks/mage_dry_run.py            # 3 repeats
    .venv/bin/python benchmarks/mage_dry_run.py --repeats 1 --keep
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import mage_scale

TARGET_SECONDS = 5.0
# The optional arms (config/README.md): effect_sizes.afcn (with its DESeq2 input's consumer
# and aFC plot), effect_sizes.interaction and covariates.factor_scan. DESeq2, QC and the
# report plots have no switch of their own: they stay in both sets.
ARMS = {
    "eqtl-only": {
        "effect_sizes": {"afcn": False, "interaction": False},
        "covariates": {"factor_scan": {"enabled": False}},
    },
    "all arms": {
        "effect_sizes": {"afcn": True, "interaction": True},
        "covariates": {"factor_scan": {"enabled": True}},
    },
}


def snakemake(args: list[str]) -> tuple[subprocess.CompletedProcess, float, float]:
    """Run Snakemake; return the process, its wall seconds and its CPU seconds."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", *args],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr)[-4000:]
        sys.exit(f"snakemake {' '.join(args)} failed:\n{tail}")
    return proc, wall, cpu


def total_jobs(proc: subprocess.CompletedProcess) -> int:
    """The job stats table's total (-1 if Snakemake printed none)."""
    totals = re.findall(r"^total\s+(\d+)$", proc.stdout + proc.stderr, re.MULTILINE)
    return int(totals[0]) if totals else -1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=20261122)
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = parser.parse_args()
    if args.repeats < 1:
        sys.exit(f"--repeats must be at least 1, not {args.repeats}")
    # Jobs must not inherit an embedded R's library path (tests/conftest.py explains).
    os.environ.pop("LD_LIBRARY_PATH", None)
    workdir = Path(tempfile.mkdtemp(prefix="kgpex-mage-dry-run-"))
    try:
        overlay = mage_scale.prepare(workdir, args.seed)
        targets = [*mage_scale.RESOLVED, *mage_scale.CHECKED]
        _, wall, _ = snakemake(
            mage_scale.snakemake_args(workdir, overlay, "--cores", "1", *targets)
        )
        print(
            "setup (fetch_run_table, fetch_sample_metadata, resolve_samples, "
            f"download_reference, check_inputs): {wall:.1f} s"
        )
        commands = {}
        for name, arms in ARMS.items():
            arms_yaml = workdir / f"arms_{name.replace(' ', '_')}.yaml"
            arms_yaml.write_text(yaml.safe_dump(arms))
            commands[name] = mage_scale.snakemake_args(
                workdir, overlay, "-n", "--quiet", "rules", also=(arms_yaml,)
            )
            print(f"dry-run, {name}: snakemake " + " ".join(commands[name]))
        walls: dict[str, list[float]] = {name: [] for name in ARMS}
        jobs: dict[str, int] = {}
        # Arm sets alternate within a repeat, so that a drift in machine load hits both.
        for i in range(args.repeats):
            for name, command in commands.items():
                proc, wall, cpu = snakemake(command)
                walls[name].append(wall)
                jobs[name] = total_jobs(proc)
                print(
                    f"{name} repeat {i + 1}: {wall:.2f} s wall, {cpu:.2f} s CPU, {jobs[name]} jobs"
                )
        medians = {name: statistics.median(values) for name, values in walls.items()}
        verdict = "met" if medians["all arms"] <= TARGET_SECONDS else "missed"
        print(
            f"median of {args.repeats}: eqtl-only {medians['eqtl-only']:.2f} s "
            f"({jobs['eqtl-only']} jobs), all arms {medians['all arms']:.2f} s "
            f"({jobs['all arms']} jobs); target <= {TARGET_SECONDS:.0f} s wall, all arms: "
            f"{verdict}"
        )
    finally:
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
