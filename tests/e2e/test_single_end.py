"""Single-end runs end to end: resolution, download_fastq_single and salmon quant -r.

A scratch working directory (tests/workdirs.py) runs the demo config with a run table of one's
own reads (``run_accession fastq_1 fastq_2``) in which three of the demo's runs give only their
mate-1 FASTQ (fastq_2 empty: single-end) and every other run both mates. Only those runs'
salmon outputs, and one paired run's for comparison, are asked for; the demo's generated cohort
is hard-linked in (or made in the scratch directory when the repository has none).

- run_sources.tsv marks the three runs single and the others paired;
- salmon ran with ``-r`` (cmd_info.json: unmatedReads) on each single-end run, ``-1/-2`` on the
  paired one, every read of the FASTQ processed, and a sensible share of them mapped.
"""

from __future__ import annotations

import csv
import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import CLEAN_ENV
from workdirs import GENERATED, ROOT, scratch_workdir, snakemake_args

pytestmark = pytest.mark.e2e

CORES = os.environ.get("KGPEX_TEST_CORES", "2")
SINGLE = ("SRR90000001", "SRR90000002", "SRR90000003")
PAIRED = "SRR90000004"
SALMON = Path("results/DEMO/salmon")
SOURCES = Path("results/DEMO/samples/run_sources.tsv")


def _snakemake(work: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "snakemake", *snakemake_args(work, "--cores", CORES, *args)]
    proc = subprocess.run(cmd, env=CLEAN_ENV, capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-6000:]}")
    return proc


def _reads(path: Path) -> int:
    with gzip.open(path, "rb") as fh:
        return sum(1 for _ in fh) // 4


@pytest.fixture(scope="module")
def single_end_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("single_end")
    scratch_workdir(work)
    # The demo's FASTQs (a no-op when the repository's generated cohort was linked in).
    _snakemake(work, str(GENERATED / "ena_filereport.tsv"))
    with open(work / "resources/demo/runs.tsv", newline="") as fh:
        runs = [row["run_accession"] for row in csv.DictReader(fh, delimiter="\t")]
    assert set(SINGLE) | {PAIRED} <= set(runs)
    fastq = work / GENERATED / "mirror/fastq"
    lines = ["run_accession\tfastq_1\tfastq_2"]
    for run in runs:
        mate2 = "" if run in SINGLE else str(fastq / run / f"{run}_2.fastq.gz")
        lines.append(f"{run}\t{fastq / run / f'{run}_1.fastq.gz'}\t{mate2}")
    (work / "own_reads.tsv").write_text("\n".join(lines) + "\n")
    # The config names the table only now: it must exist when the workflow is parsed.
    scratch_workdir(work, {"samples": {"run_table": "own_reads.tsv"}})
    targets = [str(SALMON / run / "quant.sf") for run in (*SINGLE, PAIRED)]
    proc = _snakemake(work, *targets)
    return work, runs, proc


def test_run_sources_mark_each_runs_layout(single_end_run):
    work, runs, _ = single_end_run
    with open(work / SOURCES, newline="") as fh:
        rows = {row["run_accession"]: row for row in csv.DictReader(fh, delimiter="\t")}
    assert sorted(rows) == sorted(runs)
    assert {r: rows[r]["layout"] for r in SINGLE} == {r: "single" for r in SINGLE}
    assert {rows[r]["layout"] for r in runs if r not in SINGLE} == {"paired"}
    assert all(rows[r]["url_2"] == "" for r in SINGLE)


def test_single_end_runs_downloaded_one_file_and_ran_salmon_with_r(single_end_run):
    work, _, proc = single_end_run
    assert "download_fastq_single" in proc.stderr
    for run in SINGLE:
        out = work / SALMON / run
        cmd = json.loads((out / "cmd_info.json").read_text())
        assert "unmatedReads" in cmd and "mates1" not in cmd and "mates2" not in cmd, cmd
        assert Path(cmd["unmatedReads"]).name == f"{run}.fastq.gz"
        assert cmd["libType"] == "A"
        meta = json.loads((out / "aux_info/meta_info.json").read_text())
        # Every read of the one file processed, and most of them mapped (mate 1 of the demo's
        # simulated pairs is a read of an annotated transcript).
        assert meta["num_processed"] == _reads(work / GENERATED / f"mirror/fastq/{run}/{run}_1.fastq.gz")
        assert meta["percent_mapped"] > 50, (run, meta["percent_mapped"])
        fmt = json.loads((out / "lib_format_counts.json").read_text())
        assert fmt["expected_format"] in ("U", "SF", "SR"), fmt["expected_format"]
        log = (work / f"logs/DEMO/salmon_quant/{run}.log").read_text()
        assert "unmatedReads" in log and "mates1" not in log
        assert (work / f"logs/DEMO/download_fastq_single/{run}.log").is_file()
        # download.keep_fastq is false: the FASTQ was temporary.
        assert not (work / f"results/DEMO/download/single/{run}.fastq.gz").exists()


def test_paired_run_beside_them_still_ran_with_both_mates(single_end_run):
    work, _, _ = single_end_run
    out = work / SALMON / PAIRED
    cmd = json.loads((out / "cmd_info.json").read_text())
    assert "mates1" in cmd and "mates2" in cmd and "unmatedReads" not in cmd, cmd
    paired = json.loads((out / "aux_info/meta_info.json").read_text())
    assert paired["num_processed"] == _reads(
        work / GENERATED / f"mirror/fastq/{PAIRED}/{PAIRED}_1.fastq.gz"
    )
    # Single-end reads map about as well as the pairs they come from.
    single = json.loads((work / SALMON / SINGLE[0] / "aux_info/meta_info.json").read_text())
    assert single["percent_mapped"] > paired["percent_mapped"] - 15


def test_mage_settings_give_single_end_runs_library_type_u(single_end_run):
    # Last in the module: it rewrites the scratch config (a dry run: nothing is run).
    work, _, _ = single_end_run
    scratch_workdir(work, {"samples": {"run_table": "own_reads.tsv"}, "salmon": {"settings": "mage"}})
    targets = [str(SALMON / run / "quant.sf") for run in (SINGLE[0], PAIRED)]
    # The targets before --forcerun, which takes every rule name after it.
    proc = _snakemake(work, *targets, "-n", "-p", "--forcerun", "salmon_quant")
    out = proc.stdout + proc.stderr
    shells = [line.strip() for line in out.splitlines() if "salmon quant -i" in line]
    assert len(shells) == 2, out[-3000:]
    single = next(s for s in shells if SINGLE[0] in s)
    paired = next(s for s in shells if PAIRED in s)
    assert f"-l U -r results/DEMO/download/single/{SINGLE[0]}.fastq.gz " in single
    assert "-l IU -1 " in paired and f"-2 results/DEMO/download/{PAIRED}_2.fastq.gz " in paired
