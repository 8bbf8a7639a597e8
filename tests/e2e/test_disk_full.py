"""A disk that fills during a run, through Snakemake: a small tmpfs mounted over one stage's
results folder of a scratch copy of the finished demo (samples, input checks and reference
hard-linked in), filled up, and one run quantified again. The job stops with one line naming the
path and "no space left on device", nothing carries a final name, and the same command, run
again once the filler is deleted, completes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from conftest import CLEAN_ENV
from diskfull import small_disk
from workdirs import link_tree, scratch_workdir, snakemake_args

pytestmark = pytest.mark.e2e

CORES = os.environ.get("KGPEX_TEST_CORES", "2")
NO_SPACE = "no space left on device"


@pytest.fixture
def workdir(demo_run, tmp_path) -> Path:
    workdir = scratch_workdir(tmp_path / "work")
    for part in ("samples", "preflight", "reference"):
        link_tree(demo_run / part, workdir / "results" / "DEMO" / part)
    return workdir


def run_snakemake(workdir: Path, target: str) -> subprocess.CompletedProcess:
    # mtime: a scratch directory has no records of the linked outputs' code and parameters.
    cmd = [sys.executable, "-m", "snakemake",
           *snakemake_args(workdir, target, "--cores", CORES, "--rerun-triggers", "mtime")]
    return subprocess.run(cmd, cwd=workdir, env=CLEAN_ENV, capture_output=True, text=True,
                          timeout=600)


def visible(folder: Path) -> list[str]:
    """Files under ``folder`` other than the filler, hidden temporaries included."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")
                  if p.name != ".filler" and not p.is_dir())


# (stage folder mounted, rule that must fail, what it writes there)
CASES = {
    "download": ("download", "download_fastq", "{run}_1.fastq.gz"),
    "salmon": ("salmon", "salmon_quant", "{run}"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_full_disk_stops_with_one_line_and_the_same_command_completes(demo_run, workdir, case):
    stage, rule, named = CASES[case]
    run = sorted(p.parent.name for p in (demo_run / "salmon").glob("*/quant.sf"))[0]
    target = f"results/DEMO/salmon/{run}/quant.sf"
    folder = workdir / "results" / "DEMO" / stage
    with small_disk(folder, "8m") as disk:
        disk.fill(leave=64 * 1024)
        proc = run_snakemake(workdir, target)
        assert proc.returncode != 0, "the run succeeded on a full disk"
        # The one line (Snakemake's report and a script's log, shown with it, come around it).
        lines = [line for line in proc.stderr.splitlines() if line.startswith("kgpex error")]
        assert len(lines) == 1, f"expected one 'kgpex error' line:\n{proc.stderr[-6000:]}"
        line = lines[0]
        assert line.startswith(f"kgpex error in rule {rule}: ") and NO_SPACE in line, line
        assert "Traceback" not in proc.stderr, proc.stderr[-6000:]
        assert f"results/DEMO/{stage}/{named.format(run=run)}" in line, line
        assert f"free space on {folder}, then rerun the same command" in line, line
        assert visible(folder) == [], f"left on the full disk: {visible(folder)}"
        assert not (workdir / target).exists()

        disk.free()
        proc = run_snakemake(workdir, target)
        assert proc.returncode == 0, proc.stderr[-6000:]
        assert NO_SPACE not in proc.stderr
        ours = pd.read_csv(workdir / target, sep="\t", index_col=0)
        theirs = pd.read_csv(demo_run / "salmon" / run / "quant.sf", sep="\t", index_col=0)
        assert list(ours.index) == list(theirs.index)
        # salmon is not deterministic in the last digits (tests/e2e/test_resume.py).
        assert (ours["NumReads"] - theirs["NumReads"]).abs().sum() < 0.05 * theirs["NumReads"].sum()
