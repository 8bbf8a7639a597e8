"""Shared fixtures. End-to-end tests share one run of the demo cohort (session scope)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# The environment before any test imports rpy2: embedding R sets LD_LIBRARY_PATH (R's ldpaths),
# and Snakemake jobs inheriting it load system libraries into the venv's Python.
CLEAN_ENV = dict(os.environ)


def snakemake(*args: str, cwd: Path = ROOT, check: bool = True, timeout: int = 3000):
    """Run the workflow with this interpreter's Snakemake; return the CompletedProcess."""
    cmd = [sys.executable, "-m", "snakemake", *args]
    proc = subprocess.run(
        cmd, cwd=cwd, env=CLEAN_ENV, capture_output=True, text=True, timeout=timeout
    )
    if check and proc.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-6000:]}")
    return proc


@pytest.fixture(scope="session")
def demo_run() -> Path:
    """Run (or bring up to date) the demo cohort once; return results/DEMO."""
    cores = os.environ.get("KGPEX_TEST_CORES", "2")
    snakemake("--cores", cores)
    return ROOT / "results" / "DEMO"
