"""Documents Snakemake 9.27.1's behaviour behind issue 13 ("5 of 5 steps (100%) done", exit 0,
and no results), on a workflow of a few rules, and shows that kgpex's workaround avoids it.

The cause (snakemake/dag.py, DAG.update_needrun): jobs are first judged one by one in
topological order, and every descendant of a job that must run is *masked*, i.e. not judged on its
own, because a breadth-first pass is expected to reach it from that job. That pass does not
follow an ``ancient()`` edge whose file exists. So a job that is reachable from a job that must
run only through an ancient edge is never judged at all, even when its own output is missing,
and it silently drops out of the run.

kgpex met this after the checkpoint ``resolve_samples`` re-ran on restored results: the input
check (``check_inputs``, whose output every per-run job took as an ``ancient()`` input so that
re-checking does not redo 779 quantifications) had to run again; every job behind the per-run
jobs (the matrices, the mapping, the MAGE tables, ``rule all``) was masked and never reached.

kgpex's workaround (workflow/rules/common.smk ``after_checkpoint``): the per-run, reference and
genotype jobs wait for the input check through a checkpoint input function, which adds no
file once the check has passed, so there is no ancient edge to stop the pass.

If a Snakemake release fixes the masking, ``test_snakemake_drops_jobs_behind_an_ancient_edge``
fails: then the workaround may go (docs/architecture.md, "Snakemake workarounds").
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import CLEAN_ENV

pytestmark = pytest.mark.snakemake_behaviour

# check stands for check_inputs, quant for salmon_quant, agg for everything behind the runs.
# GATE is the only part that differs between the two workflows.
WORKFLOW = """
def samples():
    with open(checkpoints.resolve.get().output[0]) as fh:
        return fh.read().split()

def after_checkpoint(gate):
    def inputs(wildcards):
        gate.get()
        return []
    return inputs

rule all:
    input: "agg.txt"

rule fetch:
    input: "sheet.txt"
    output: "table.txt"
    shell: "cp {input} {output}"

checkpoint resolve:
    input: "table.txt"
    output: "samples.txt"
    shell: "cp {input} {output}"

%s check:
    input: "samples.txt"
    output: "checked.txt"
    shell: "cp {input} {output}"

rule quant:
    input: "reads/{s}.txt", checked=%s
    output: "quant/{s}.txt"
    shell: "cp {input[0]} {output}"

rule agg:
    input: lambda wildcards: expand("quant/{s}.txt", s=samples())
    output: "agg.txt"
    shell: "cat {input} > {output}"
"""
ANCIENT = WORKFLOW % ("rule", 'ancient("checked.txt")')
GATED = WORKFLOW % ("checkpoint", "after_checkpoint(checkpoints.check)")
# What a user restores: the sheets, the input check and the per-run results; not agg.txt.
RESTORED = ("table.txt", "samples.txt", "checked.txt", "quant")


def _snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "1", "--workflow-profile", "none", *args],
        check=False, cwd=workdir, env=CLEAN_ENV, capture_output=True, text=True, timeout=300,
    )


def fresh_workdir(workdir: Path, snakefile: str) -> Path:
    """A folder with the workflow, its sheet (samples a and b) and their reads."""
    (workdir / "reads").mkdir(parents=True)
    (workdir / "Snakefile").write_text(snakefile)
    (workdir / "sheet.txt").write_text("a b\n")
    for sample in "ab":
        (workdir / "reads" / f"{sample}.txt").write_text(f"{sample}\n")
    return workdir


def restored_results(tmp_path: Path, snakefile: str) -> Path:
    """A finished run's sheets, input check and per-run results, restored into a fresh folder
    (times kept, as ``cp -a`` keeps them) whose run table is then fetched again, so the
    checkpoint re-runs; the downstream result agg.txt is not restored."""
    first = fresh_workdir(tmp_path / "first", snakefile)
    second = fresh_workdir(tmp_path / "second", snakefile)
    finished = _snakemake(first)
    assert finished.returncode == 0, finished.stderr
    assert (first / "agg.txt").read_text() == "a\nb\n"
    # Restored with times in the order the first run wrote them, all older than the sheet,
    # which is newer: fetch and then the checkpoint run again.
    now = time.time()
    for age, name in zip((40, 30, 20, 10), RESTORED):
        src = first / name
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, second / name)
        for path in [second / name, *(second / name).rglob("*")]:
            os.utime(path, (now - age, now - age))
    for path in (second / "reads").iterdir():
        os.utime(path, (now - 50, now - 50))
    os.utime(second / "sheet.txt", (now, now))
    return second


def test_snakemake_drops_jobs_behind_an_ancient_edge(tmp_path):
    workdir = restored_results(tmp_path, ANCIENT)
    proc = _snakemake(workdir)
    # Snakemake's behaviour, documented: it succeeds, says it is done, and agg never ran.
    assert proc.returncode == 0, proc.stderr
    assert "Updating checkpoint dependencies." in proc.stderr
    assert "3 of 3 steps (100%) done" in proc.stderr, proc.stderr
    assert not (workdir / "agg.txt").exists()
    # A second invocation finishes the job.
    assert _snakemake(workdir).returncode == 0
    assert (workdir / "agg.txt").read_text() == "a\nb\n"


def test_the_checkpoint_gate_keeps_every_job(tmp_path):
    workdir = restored_results(tmp_path, GATED)
    proc = _snakemake(workdir)
    assert proc.returncode == 0, proc.stderr
    assert (workdir / "agg.txt").read_text() == "a\nb\n"
    # Re-checking did not redo the restored per-run results (what ancient() was there for).
    assert "rule quant:" not in proc.stderr, proc.stderr


def test_the_gate_still_orders_the_check_first(tmp_path):
    # A first run: quant may start only once the check has passed.
    workdir = fresh_workdir(tmp_path / "fresh", GATED)
    proc = _snakemake(workdir)
    assert proc.returncode == 0, proc.stderr
    started = [line.split()[-1].rstrip(":") for line in proc.stderr.splitlines()
               if line.strip().startswith(("localrule ", "localcheckpoint "))]
    assert started.index("check") < started.index("quant"), started
