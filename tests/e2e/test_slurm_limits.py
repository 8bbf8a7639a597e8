"""A rule that no SLURM node can run stops the run before anything is submitted, with one line
(the onstart handler in workflow/rules/common.smk, kgpex.common.slurm).

Without the check, salmon_index (threads: 8) on a 2-CPU node was accepted by sbatch, pended
with Reason=PartitionConfig forever, and Snakemake polled it in silence. On the real test
cluster (tests/slurm_cluster.py, root only) the demo runs through profiles/slurm without
--max-threads; elsewhere stand-ins for sinfo and sbatch on PATH play a small cluster. A run that
fits, and a local run, pass the check without a word (a local run never calls sinfo).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import CLEAN_ENV, ROOT
from slurm_cluster import SlurmCluster, slurm_cluster  # noqa: F401 (fixture)
from workdirs import scratch_workdir, snakemake_args

pytestmark = pytest.mark.e2e

PROFILE = ROOT / "profiles" / "slurm"
# The check runs before the first job: a run it stops ends within seconds, never hangs.
TIMEOUT = 300
SUBMITTED = re.compile(r"has been submitted with SLURM jobid")
# Options of SlurmCluster.submit_args that keep every job within the node; --cores also caps
# threads, so it would hide the problem too.
CAPS = ("--max-threads", "--cores", "--resources")
# salmon_index's threads in workflow/rules/reference.smk.
SALMON_INDEX_THREADS = 8


def run_snakemake(workdir: Path, *args: str, path: Path | None = None):
    """Snakemake on the demo in ``workdir`` (``path`` first on PATH); the CompletedProcess and
    its wall time."""
    env = dict(CLEAN_ENV)
    if path is not None:
        env["PATH"] = f"{path}{os.pathsep}{env.get('PATH', '')}"
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", *snakemake_args(workdir, *args)],
        check=False,
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    return proc, time.monotonic() - started


def without(args: list[str], options: tuple[str, ...]) -> list[str]:
    """``args`` less each of ``options`` and its value."""
    kept, values = [], iter(args)
    for arg in values:
        if arg in options:
            next(values)
        else:
            kept.append(arg)
    return kept


def last_line(stderr: str) -> str:
    return stderr.rstrip("\n").rsplit("\n", 1)[-1]


def assert_stopped_at_once(proc, seconds: float) -> str:
    """The run failed, with one line last and no traceback, submitted nothing: that line."""
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert seconds < 120, f"the run took {seconds:.0f} s to stop"
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert not SUBMITTED.search(proc.stderr), "a job was submitted"
    line = last_line(proc.stderr)
    assert line.startswith("kgpex: "), proc.stderr[-3000:]
    return line


def test_a_rule_no_node_can_run_stops_the_run_before_submission(
    slurm_cluster: SlurmCluster, tmp_path  # noqa: F811
):
    workdir = scratch_workdir(tmp_path / "work")
    args = without(slurm_cluster.submit_args(PROFILE), CAPS)
    assert "--max-threads" not in args and "--slurm-status-command" in args
    threads = SALMON_INDEX_THREADS
    if slurm_cluster.cpus >= threads:
        # A node this big runs salmon_index as it is: ask for more than it has.
        threads = slurm_cluster.cpus + 1
        args += ["--set-threads", f"salmon_index={threads}"]
    before = slurm_cluster.finished_jobs()
    proc, seconds = run_snakemake(workdir, *args)
    line = assert_stopped_at_once(proc, seconds)
    assert line.startswith(
        f"kgpex: no node of SLURM partition {slurm_cluster.partition} (largest: "
        f"{slurm_cluster.cpus} CPUs, {slurm_cluster.real_memory_mb} MB) can run rule "
    ), line
    assert f"rule salmon_index ({threads} threads)" in line, line
    assert f"--max-threads {slurm_cluster.cpus} or --set-threads " in line, line
    assert f"salmon_index={slurm_cluster.cpus}" in line, line
    # Nothing reached the controller: no job ended, none is queued.
    assert slurm_cluster.finished_jobs() == before
    queue = subprocess.run(
        ["squeue", "--noheader", "-p", slurm_cluster.partition],
        capture_output=True,
        text=True,
        check=True,
    )
    assert queue.stdout.strip() == ""
    print(f"stopped in {seconds:.1f} s: {line}")


def test_a_run_within_the_node_passes_the_check(
    slurm_cluster: SlurmCluster, tmp_path  # noqa: F811
):
    # submit_args caps threads at the node's CPUs; every rule of the workflow is checked, and
    # the one job asked for goes through sbatch.
    workdir = scratch_workdir(tmp_path / "work")
    before = slurm_cluster.finished_jobs()
    # The target first: --resources takes every word after it.
    args = slurm_cluster.submit_args(PROFILE)
    proc, seconds = run_snakemake(workdir, "download_reference", *args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "kgpex:" not in proc.stderr
    submitted = re.findall(r"has been submitted with SLURM jobid (\d+)", proc.stderr)
    assert len(submitted) == 1, proc.stderr[-3000:]
    assert set(slurm_cluster.finished_jobs()) - set(before) == set(submitted)
    print(f"one job through sbatch in {seconds:.1f} s")


@pytest.fixture
def fake_slurm(tmp_path) -> Path:
    """A folder with stand-ins for sinfo (a 2-CPU, 1998 MB node in the default partition
    debug, or what $FAKE_SINFO says) and sbatch (refuses); each logs its calls to ./calls."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = bin_dir / "calls"
    scripts = {
        "sinfo": f'echo "sinfo $*" >> {calls}\n'
        'if [ -n "$FAKE_SINFO_FAIL" ]; then echo "$FAKE_SINFO_FAIL" >&2; exit 1; fi\n'
        'echo "debug* d1 2 1998"\n',
        "sbatch": f'echo "sbatch $*" >> {calls}\nexit 1\n',
    }
    for name, body in scripts.items():
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}")
        (bin_dir / name).chmod(0o755)
    return bin_dir


def calls(fake_slurm: Path) -> list[str]:
    log = fake_slurm / "calls"
    return log.read_text().splitlines() if log.exists() else []


SLURM_ARGS = ["--profile", str(PROFILE), "--slurm-status-command", "squeue", "--slurm-no-account"]


def test_the_stop_line_names_each_rule_and_what_to_do(fake_slurm, tmp_path):
    workdir = scratch_workdir(tmp_path / "work")
    proc, seconds = run_snakemake(workdir, *SLURM_ARGS, path=fake_slurm)
    line = assert_stopped_at_once(proc, seconds)
    assert line.startswith(
        "kgpex: no node of SLURM partition debug (largest: 2 CPUs, 1998 MB) can run rule "
    ), line
    assert "; rule salmon_index (8 threads, 16000 MB); " in line, line
    assert "lower them with --max-threads 2 or --set-threads " in line, line
    assert " salmon_index:mem_mb=1998 " in line, line
    assert calls(fake_slurm) == ["sinfo --noheader --Node --format=%P %N %c %m"]


def test_a_failing_sinfo_stops_the_run_with_one_line(fake_slurm, tmp_path, monkeypatch):
    monkeypatch.setitem(CLEAN_ENV, "FAKE_SINFO_FAIL", "slurm_load_partitions: Unable to contact")
    workdir = scratch_workdir(tmp_path / "work")
    proc, seconds = run_snakemake(workdir, *SLURM_ARGS, path=fake_slurm)
    line = assert_stopped_at_once(proc, seconds)
    assert line == (
        "kgpex: sinfo --noheader --Node --format=%P %N %c %m failed: "
        "slurm_load_partitions: Unable to contact"
    )
    assert [call.split()[0] for call in calls(fake_slurm)] == ["sinfo"]


def test_a_local_run_never_calls_sinfo(fake_slurm, tmp_path):
    workdir = scratch_workdir(tmp_path / "work")
    dry, _ = run_snakemake(workdir, "-n", path=fake_slurm)
    assert dry.returncode == 0, dry.stderr[-3000:]
    # A real local job: Snakemake calls onstart, which leaves the local executor alone.
    proc, _ = run_snakemake(workdir, "--cores", "1", "download_reference", path=fake_slurm)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "kgpex:" not in proc.stderr
    assert calls(fake_slurm) == []
