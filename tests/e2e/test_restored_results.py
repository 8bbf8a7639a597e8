"""Issue 13's scenario: a user restores a partial results folder (the samples, the input check,
the reference and salmon's quantifications of a finished run) and runs the workflow again, and
the checkpoint resolve_samples re-runs (here: the run table is fetched anew). Snakemake 9.27.1
then dropped every job behind the quantifications, said "5 of 5 steps (100%) done" and exited 0
without a single MAGE table (docs/architecture.md, "Snakemake workarounds").

- With the workaround (the checkpoint check_inputs and its input-function gate) the run ends
  with every final output, and the restored quantifications are not redone.
- With the workaround undone in a copy of this checkout, Snakemake drops the jobs again, and
  the final-outputs guard (provenance.smk onsuccess) fails the run with its one line.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import pytest
from conftest import ROOT, snakemake
from workdirs import link_tree, scratch_workdir

pytestmark = pytest.mark.e2e

CORES = os.environ.get("KGPEX_TEST_CORES", "2")
# With the alignments' records, the identity calls and the downloaded VCFs they were made from:
# without them the BAMs (temporary) would be made again, and their FASTQs downloaded again,
# which would redo the quantifications too.
RESTORED = ("samples", "preflight", "reference", "salmon", "alignment", "identity",
            "genotypes/vcf")
GUARD_LINE = re.compile(
    r"^kgpex: the run ended with (\d+) of the (\d+) final outputs of rule all not written: "
    r".*rerun the same command$",
    re.MULTILINE,
)


def restore_partial_results(demo_run: Path, workdir: Path) -> Path:
    """The finished demo's samples, input check, reference and quantifications restored into
    ``workdir`` (hard links keep their times, as ``cp -a`` would), with a run table fetched
    anew: newer than the resolved sheets, so resolve_samples re-runs."""
    results = workdir / "results" / demo_run.name
    for part in RESTORED:
        link_tree(demo_run / part, results / part)
    run_table = results / "samples" / "run_table.tsv"
    # A copy, not the link: the demo's own file keeps its time.
    run_table.unlink()
    shutil.copy(demo_run / "samples" / "run_table.tsv", run_table)
    now = time.time()
    os.utime(run_table, (now, now))
    return results


def final_tables(results: Path) -> list[str]:
    base = results / "QTL_results"
    return sorted(str(p.relative_to(base)) for p in base.rglob("*") if p.is_file()) if base.is_dir() else []


def test_restored_results_end_with_every_final_output(demo_run, tmp_path):
    workdir = scratch_workdir(tmp_path / "restored")
    results = restore_partial_results(demo_run, workdir)
    proc = snakemake("-s", str(ROOT / "Snakefile"), "-d", str(workdir), "--cores", CORES,
                     check=False)
    assert proc.returncode == 0, proc.stderr[-6000:]
    assert re.search(r"^(local)?checkpoint resolve_samples:$", proc.stderr, re.MULTILINE), (
        "the scenario needs resolve_samples to re-run"
    )
    assert final_tables(results) == final_tables(demo_run)
    # The re-check (check_inputs) did not redo the restored quantifications.
    assert not re.search(r"^(local)?rule salmon_quant:$", proc.stderr, re.MULTILINE)
    assert not GUARD_LINE.search(proc.stderr)


def checkout_without_workaround(dest: Path) -> Path:
    """A copy of this checkout whose per-run, reference and genotype jobs take the input check
    as an ancient() input again, and whose aggregates over libraries do not wait for it (as
    before issue 13)."""
    dest.mkdir(parents=True)
    for name in ("Snakefile", "workflow", "src", "envs", "profiles"):
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, dest / name)
    preflight = dest / "workflow/rules/preflight.smk"
    text = preflight.read_text()
    gate = "AFTER_INPUTS_CHECKED = after_checkpoint(checkpoints.check_inputs)"
    assert gate in text and "\ncheckpoint check_inputs:" in text
    text = text.replace(gate, "AFTER_INPUTS_CHECKED = ancient(INPUTS_CHECKED)")
    preflight.write_text(text.replace("\ncheckpoint check_inputs:", "\nrule check_inputs:"))
    # The aggregates over libraries wait for the checkpoint too (common.smk per_library).
    common = dest / "workflow/rules/common.smk"
    text = common.read_text()
    aggregate_gate = "        checkpoint_output(checkpoints.check_inputs)\n"
    assert text.count(aggregate_gate) == 1
    common.write_text(text.replace(aggregate_gate, ""))
    return dest


def test_the_guard_fails_a_run_that_snakemake_cut_short(demo_run, tmp_path):
    checkout = checkout_without_workaround(tmp_path / "checkout")
    workdir = scratch_workdir(tmp_path / "restored")
    results = restore_partial_results(demo_run, workdir)
    proc = snakemake("-s", str(checkout / "Snakefile"), "-d", str(workdir), "--cores", CORES,
                     check=False)
    # Snakemake's "done" comes first; the guard then fails the run.
    assert re.search(r"^\d+ of \d+ steps \(100%\) done$", proc.stderr, re.MULTILINE), proc.stderr[-4000:]
    assert proc.returncode != 0, proc.stderr[-4000:]
    found = GUARD_LINE.findall(proc.stderr)
    assert len(found) == 1, proc.stderr[-4000:]
    missing, total = map(int, found[0])
    # Every final output missing but those restored with the identity calls (identity.tsv, its
    # plot and provenance.json: final outputs the restored folder already holds).
    restored_finals = [p for p in (demo_run / "identity").iterdir()
                       if p.is_file() and not p.name.startswith("common_exonic_snps")]
    assert len(restored_finals) == 3, restored_finals
    assert missing == total - len(restored_finals) > 0
    assert final_tables(results) == []
