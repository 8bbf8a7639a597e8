"""Kill and resume: the demo killed with SIGKILL at several points, then resumed with the
documented command (README "Resuming after a crash or kill"), ends with the same MAGE-style
outputs, byte for byte, as an uninterrupted run.

salmon 1.10 is not deterministic (the same reads quantified twice differ in the last digits of
NumReads, with -p 1 too; COMBINE-lab/salmon#613), so no two runs that quantify the reads each
time can be equal byte for byte. Hence two checks:
- the resumed run's quantifications (every run, including the one killed mid-way) agree with
  the uninterrupted demo_run's within salmon's noise: same transcripts, gene-level NumReads
  within 0.05 reads (measured: 0.002);
- a clean, uninterrupted run in another scratch directory that starts from the resumed run's
  quantifications (samples, input checks, reference, salmon/, the alignment records, identity
  calls and downloaded VCFs hard-linked; everything else recomputed: genotypes, expression,
  covariates, mapping, fine-mapping) writes the same MAGE-style tables
  byte for byte. This is also the "two clean runs give the same bytes" check for everything
  downstream of salmon.

After each kill, every output Snakemake counts as complete (no incomplete marker) must be whole.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from conftest import CLEAN_ENV
from workdirs import OMIT_REPORT, link_tree, scratch_workdir, snakemake_args

pytestmark = pytest.mark.e2e

CORES = os.environ.get("KGPEX_TEST_CORES", "2")
# Where the run is killed: while a job of one of these rules runs (download, quantification,
# genotype preparation, cis-eQTL mapping). Each run is killed as soon as a job of a rule not yet
# killed starts, so each kill point is met even where the scheduler interleaves the stages.
KILL_RULES = ("download_fastq", "salmon_quant", "star_align", "cohort_genotypes",
              "map_cis_permutations")
# Seconds between a job's start and the kill: long enough that the job is writing (star_align:
# STAR is mapping or sorting; a library of 2,000 pairs in one pass takes ~1 s).
KILL_DELAY = {"download_fastq": 0.5, "salmon_quant": 1.5, "star_align": 0.7,
              "cohort_genotypes": 1.0, "map_cis_permutations": 3.0}
SEGMENT_TIMEOUT = 3000
# Results that are not tables and differ between runs by design: the provenance record
# (versions, checkout state). Plots live outside QTL_results.
NOT_COMPARED = {"provenance.json"}
# Outputs of the rules Snakemake reaches through the checkpoint resolve_samples.
CHECKPOINT_FED = re.compile(r"results/DEMO/(download|salmon|alignment|identity/mbv)/")
JOB_START = re.compile(r"^(?:local)?rule (\w+):$", re.MULTILINE)


def resume_command(workdir: Path) -> list[list[str]]:
    """The README's resume command: release the lock the killed run left, then rerun with
    --rerun-incomplete (redo every job that was running when it died). The report's rules are
    left out (workdirs.OMIT_REPORT): only tables are compared."""
    base = [sys.executable, "-m", "snakemake", *snakemake_args(workdir)]
    return [base + ["--unlock"], base + ["--cores", CORES, "--rerun-incomplete", *OMIT_REPORT]]


def incomplete_outputs(workdir: Path) -> set[str]:
    """Outputs Snakemake marks incomplete (.snakemake/incomplete: urlsafe base64 of the path,
    split into '@'-prefixed pieces when long)."""
    root = workdir / ".snakemake" / "incomplete"
    marked = set()
    if not root.is_dir():
        return marked
    for path in root.rglob("*"):
        if path.is_file():
            encoded = "".join(part.lstrip("@") for part in path.relative_to(root).parts)
            marked.add(base64.urlsafe_b64decode(encoded).decode())
    return marked


def whole_file_problem(path: Path) -> str | None:
    """Why a file that claims to be complete is not, or None."""
    name = path.name
    data_check = None
    try:
        # BAMs are BGZF: gzip reads them to the end, or fails on a cut-short block.
        if name.endswith((".gz", ".tbi", ".bam")):
            with gzip.open(path, "rb") as fh:
                while fh.read(1 << 20):
                    pass
        elif name.endswith(".parquet"):
            import pyarrow.parquet as pq

            pq.read_metadata(path)
        elif name.endswith(".json"):
            json.loads(path.read_text())
        elif name.endswith(".png"):
            data_check = path.read_bytes()[-8:-4] == b"IEND"
        elif name.endswith((".tsv", ".sf", ".txt", ".bed", ".pvar", ".psam", ".out", ".tab")):
            data = path.read_bytes()
            data_check = bool(data) and data.endswith(b"\n")
    except Exception as err:  # any reader error means the file is not whole
        return f"{type(err).__name__}: {err}"
    if data_check is False:
        return "truncated"
    return None


def check_complete_outputs_whole(workdir: Path) -> int:
    """Every result file without an incomplete marker reads back whole; return how many were
    checked."""
    marked = incomplete_outputs(workdir)
    problems, checked = [], 0
    for path in sorted((workdir / "results").rglob("*")):
        rel = str(path.relative_to(workdir))
        # A hidden file or folder is a job's work in progress (an atomic write, STAR's work
        # folder), never a final name.
        hidden = any(part.startswith(".") for part in path.relative_to(workdir).parts)
        if not path.is_file() or hidden or "salmon_index" in path.parts:
            continue
        if rel in marked or any(rel.startswith(m.rstrip("/") + "/") for m in marked):
            continue
        checked += 1
        problem = whole_file_problem(path)
        if problem:
            problems.append(f"{rel}: {problem}")
    assert not problems, "complete-looking outputs are damaged:\n" + "\n".join(problems)
    return checked


def run_until_kill(cmd: list[str], workdir: Path, log: Path, targets: set[str]) -> str | None:
    """Run ``cmd`` in its own process group; SIGKILL the group once a job of a rule in
    ``targets`` has run for its delay. Return the rule killed in, or None if the run finished."""
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, cwd=workdir, env=CLEAN_ENV, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + SEGMENT_TIMEOUT
    try:
        while time.monotonic() < deadline:
            started = [r for r in JOB_START.findall(log.read_text()) if r in targets]
            if started:
                time.sleep(KILL_DELAY[started[0]])
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
                    return started[0]
            if proc.poll() is not None:
                break
            time.sleep(0.2)
        else:
            os.killpg(proc.pid, signal.SIGKILL)
            pytest.fail(f"{' '.join(cmd)} ran past {SEGMENT_TIMEOUT} s")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    if proc.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} failed ({proc.returncode}):\n{log.read_text()[-6000:]}")
    return None


def mage_files(results: Path) -> dict[str, Path]:
    root = results / "QTL_results"
    return {str(p.relative_to(root)): p for p in sorted(root.rglob("*"))
            if p.is_file() and p.name not in NOT_COMPARED}


# Kill-and-resume covers STAR, not the identity calls (tests/e2e/test_identity.py) nor the
# splicing arm (tests/e2e/test_sqtl.py): one pass over 2,000 pairs per library keeps the repeat
# short, report keeps every library whatever the shallower alignments say, and so few junction
# reads would leave LeafCutter's filters next to nothing to keep.
RESUME_CONFIG = {"alignment": {"two_pass": False, "max_read_pairs": 2000},
                 "identity": {"on_mismatch": "report"}, "splicing": {"enabled": False}}


def test_kill_and_resume_reproduces_the_uninterrupted_outputs(demo_run, tmp_path):
    workdir = scratch_workdir(tmp_path / "resume", RESUME_CONFIG)
    unlock, resume = resume_command(workdir)
    remaining = set(KILL_RULES)
    killed_in = []
    first = True
    for segment in range(1, 2 * len(KILL_RULES) + 2):
        if not first:
            subprocess.run(unlock, cwd=workdir, env=CLEAN_ENV, check=True, capture_output=True)
        first = False
        killed = run_until_kill(resume, workdir, tmp_path / f"segment{segment}.log", remaining)
        if killed is None:
            break
        killed_in.append(killed)
        remaining.discard(killed)
        assert incomplete_outputs(workdir), f"killed in {killed}, yet nothing marked incomplete"
        check_complete_outputs_whole(workdir)
    else:
        pytest.fail(f"the run never finished after kills in {killed_in}")
    print(f"kill points exercised: {len(killed_in)} ({', '.join(killed_in)})")
    assert sorted(killed_in) == sorted(KILL_RULES), f"kill points met: {killed_in}"
    # Snakemake 9.27.1 does not recheck the incomplete markers of jobs it finds through a
    # checkpoint (download_fastq, salmon_quant, star_align and mbv_library, behind
    # resolve_samples): a job killed after its files were in place keeps its markers, and its
    # files are used. Those rules rename
    # whole, verified outputs into place, so such files must read back whole (and every quant.sf
    # is compared with the uninterrupted run's below).
    left = incomplete_outputs(workdir)
    unexpected = sorted(path for path in left if not CHECKPOINT_FED.match(path))
    assert not unexpected, f"outputs still marked incomplete after the resumed run: {unexpected}"
    damaged = [f"{path}: {problem}" for path in sorted(left) if (workdir / path).is_file()
               and (problem := whole_file_problem(workdir / path))]
    assert not damaged, "outputs of killed jobs used while damaged:\n" + "\n".join(damaged)

    resumed = workdir / "results" / "DEMO"
    check_quantifications_agree(resumed, demo_run)

    # The uninterrupted run, from the same quantifications.
    clean = scratch_workdir(tmp_path / "uninterrupted", RESUME_CONFIG)
    # The alignments' records, identity calls and the VCFs they come from too: the BAMs are
    # temporary, so aligning again would mean downloading again (the identity calls are
    # compared through run_status.tsv).
    for part in ("samples", "preflight", "reference", "salmon", "alignment", "identity",
                 "genotypes/vcf"):
        link_tree(resumed / part, clean / "results" / "DEMO" / part)
    cmd = [sys.executable, "-m", "snakemake",
           *snakemake_args(clean, "--cores", CORES, "--rerun-triggers", "mtime", *OMIT_REPORT)]
    proc = subprocess.run(cmd, cwd=clean, env=CLEAN_ENV, capture_output=True, text=True,
                          timeout=SEGMENT_TIMEOUT)
    assert proc.returncode == 0, proc.stderr[-6000:]
    assert "rule salmon_quant:" not in proc.stderr, "the clean run quantified again"
    assert "rule star_align:" not in proc.stderr, "the clean run aligned again"
    assert "rule map_cis_permutations:" in proc.stderr, "the clean run did not map"

    expected = mage_files(clean / "results" / "DEMO")
    got = mage_files(resumed)
    assert sorted(got) == sorted(expected), "MAGE-style file sets differ"
    differ = [name for name in expected if expected[name].read_bytes() != got[name].read_bytes()]
    assert not differ, f"MAGE-style outputs differ from the uninterrupted run: {differ}"
    print(f"MAGE-style files identical to the uninterrupted run: {len(expected)}")


def gene_counts(quant: Path, tx2gene: dict[str, str]) -> dict[str, float]:
    table = pd.read_csv(quant, sep="\t", index_col=0)
    return table["NumReads"].groupby(table.index.map(tx2gene)).sum().to_dict()


def check_quantifications_agree(resumed: Path, reference: Path) -> None:
    tx2gene = pd.read_csv(reference / "reference" / "tx2gene.tsv", sep="\t")
    tx2gene = dict(zip(tx2gene["transcript_id"], tx2gene["gene_id"]))
    runs = sorted(p.parent.name for p in (reference / "salmon").glob("*/quant.sf"))
    assert runs and runs == sorted(p.parent.name for p in (resumed / "salmon").glob("*/quant.sf"))
    problems = []
    for run in runs:
        ours = pd.read_csv(resumed / "salmon" / run / "quant.sf", sep="\t", index_col=0)
        theirs = pd.read_csv(reference / "salmon" / run / "quant.sf", sep="\t", index_col=0)
        if list(ours.index) != list(theirs.index):
            problems.append(f"{run}: transcripts differ")
            continue
        a = gene_counts(resumed / "salmon" / run / "quant.sf", tx2gene)
        b = gene_counts(reference / "salmon" / run / "quant.sf", tx2gene)
        worst = max(abs(a[g] - b[g]) for g in b)
        if worst > 0.05:
            problems.append(f"{run}: gene NumReads differ by up to {worst}")
    assert not problems, "resumed quantifications disagree:\n" + "\n".join(problems)
