"""The demo cohort through profiles/slurm on a real SLURM cluster (tests/slurm_cluster.py):
every job goes through sbatch and completes there, and the MAGE-style outputs equal the local
run's (the session fixture demo_run).

salmon 1.10 is not deterministic: the same reads quantified twice differ in the last digits of
NumReads (with -p 1 as with -p 2; COMBINE-lab/salmon#613). Measured on the demo's ten dropped
replicates quantified twice: gene-level NumReads differ by up to 0.002 reads, but reads shift
between a gene's isoforms, whose effective lengths differ, so the TPM of a multi-isoform gene
moved by up to 82% (33 reads either way); single-isoform genes moved by up to 0.4%. So that the
eQTL tables can be compared byte for byte, the SLURM run takes the local run's quantifications of the libraries that feed them
(one per individual, library_choice.tsv) and its salmon index; every other library (the
replicates the most-reads rule drops) is downloaded and quantified on SLURM in group jobs, and
everything downstream (samples, checks, genotypes, expression, covariates, both mapping passes,
fine-mapping, MAGE tables) runs there too. The all-libraries count and TPM matrices hold the
re-quantified libraries, which must agree with the local run within salmon's noise.
"""

from __future__ import annotations

import gzip
import io
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT, snakemake
from slurm_cluster import SlurmCluster, slurm_cluster  # noqa: F401 (fixture)
from workdirs import OMIT_REPORT, link_tree, scratch_workdir, snakemake_args

pytestmark = pytest.mark.e2e

# Rules without an action run in the Snakemake process itself, never on the cluster.
LOCAL_RULES = {"all"}
MAGE_OUTPUTS = Path("QTL_results")
GROUPED = {"download_fastq", "download_fastq_single", "salmon_quant", "star_align", "mbv_library"}
PROVENANCE = "provenance.json"


@dataclass
class SlurmDemo:
    results: Path
    log: str
    wall_seconds: float
    # Libraries downloaded and quantified on SLURM.
    requantified: list[str]


@pytest.fixture(scope="module")
def slurm_demo(demo_run, slurm_cluster: SlurmCluster, tmp_path_factory) -> SlurmDemo:  # noqa: F811
    """The demo in a scratch directory, submitted through the repository's SLURM profile."""
    workdir = scratch_workdir(tmp_path_factory.mktemp("slurm_demo"))
    chosen = set(pd.read_csv(demo_run / "expression" / "library_choice.tsv", sep="\t")["library"])
    results = workdir / "results" / demo_run.name
    # The samples, the input checks and the reference too: were they remade, the index
    # would be newer than every quantification (all would run again).
    # The STAR index, the het-SNP splits, the identity SNP panel and the downloaded VCFs they
    # come from too, for the same reason (a VCF downloaded anew would redo every alignment).
    for part in ("samples", "preflight", "reference", "alignment/reference", "alignment/het_snps",
                 "genotypes/vcf"):
        link_tree(demo_run / part, results / part)
    for name in ("common_exonic_snps.vcf.gz", "common_exonic_snps.vcf.gz.tbi"):
        link_tree(demo_run / "identity" / name, results / "identity" / name)
    # A chosen library's quantification, alignment records and mbv table: the others (the
    # replicates not chosen, and runs the identity check excluded) are downloaded, quantified,
    # aligned and checked again on SLURM, in one group job each.
    for run in sorted(chosen):
        link_tree(demo_run / "salmon" / run, results / "salmon" / run)
        link_tree(demo_run / "alignment" / run, results / "alignment" / run)
        link_tree(demo_run / "identity" / "mbv" / f"{run}.txt",
                  results / "identity" / "mbv" / f"{run}.txt")
    started = time.monotonic()
    proc = snakemake(
        *snakemake_args(
            workdir,
            *slurm_cluster.submit_args(ROOT / "profiles" / "slurm"),
            # The linked files have no Snakemake records in the scratch directory.
            "--rerun-triggers",
            "mtime",
            # Only the tables are compared (workdirs.REPORT_ONLY_RULES).
            *OMIT_REPORT,
        ),
        cwd=workdir,
    )
    requantified = sorted(set(pd.read_csv(results / "samples" / "runs.tsv", sep="\t")["library"]) - chosen)
    return SlurmDemo(results, proc.stderr, time.monotonic() - started, requantified)


def executed_jobs(log: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]], int]:
    """From a Snakemake log: the jobs it ran remotely and locally, as (rule, wildcards) once
    per execution (a retried job appears again), and the number of group jobs it ran."""
    remote: list[tuple[str, str]] = []
    local: list[tuple[str, str]] = []
    groups = 0
    header = None
    for line in log.splitlines():
        if re.match(r"^(?:\[.*\] )?Group job \S+ \(jobs in", line):
            groups += 1
        if match := re.match(r"^\s*(local)?(?:rule|checkpoint) (\w+):$", line):
            header = [match.group(1), match.group(2), ""]
        elif header and (match := re.match(r"^\s*wildcards: (.*)$", line)):
            header[2] = match.group(1)
        elif header and re.match(r"^\s*(resources|threads):", line):
            (local if header[0] else remote).append((header[1], header[2]))
            header = None
    return remote, local, groups


def test_every_job_went_through_sbatch(slurm_demo, slurm_cluster):  # noqa: F811
    # Snakemake reprints a failed job's log (show-failed-logs): only the lines before the first
    # reprint are this process's own.
    own_log = slurm_demo.log.split("\nLogfile ", 1)[0]
    remote, local, groups = executed_jobs(own_log)
    assert remote, "the SLURM run executed no jobs: it should have run the demo"
    assert {rule for rule, _ in local} <= LOCAL_RULES, f"rules run outside SLURM: {local}"
    quantified = sorted({w.removeprefix("library=") for rule, w in remote if rule == "salmon_quant"})
    assert quantified == slurm_demo.requantified, "salmon on SLURM ran for other runs than asked"
    # Each run's download and quantification went in one group job, and in one only
    # (--group-components was seen to submit the same runs in two group jobs at once).
    members = [(rule, w) for rule, w in remote if rule in GROUPED]
    assert groups >= len(quantified), (groups, quantified)
    assert len(members) == len(set(members)) or "Error in group" in own_log, (
        "a job ran in two group jobs: " + str(sorted(m for m in members if members.count(m) > 1))
    )
    submitted = re.findall(r"has been submitted with SLURM jobid (\d+)", slurm_demo.log)
    singles = sum(rule not in GROUPED for rule, _ in remote)
    assert len(submitted) == singles + groups, (len(submitted), singles, groups)
    finished = slurm_cluster.finished_jobs()
    run_uuid = re.search(r"SLURM run ID: (\S+)", slurm_demo.log).group(1)
    for job_id in submitted:
        assert job_id in finished, f"SLURM job {job_id} never ended in the controller's records"
        assert finished[job_id]["Name"] == run_uuid
    # A job that failed was resubmitted (the profile's retries) and Snakemake said so; the
    # run as a whole succeeded.
    failed = [j for j in submitted if finished[j]["JobState"] != "COMPLETED"]
    reported = len(re.findall(r"^Error in (?:rule|group) ", own_log, re.MULTILINE))
    assert len(failed) == reported, ([finished[j] for j in failed], reported)
    print(
        f"SLURM demo: {len(remote)} Snakemake jobs in {len(submitted)} sbatch jobs "
        f"({groups} group jobs, {len(failed)} failed and retried), "
        f"{slurm_demo.wall_seconds:.0f} s"
    )


def _files(results: Path) -> dict[str, Path]:
    base = results / MAGE_OUTPUTS
    return {str(p.relative_to(base)): p for p in sorted(base.rglob("*")) if p.is_file()}


def _content(path: Path) -> bytes:
    # gzip/bgzip headers may carry times; the data must be equal.
    data = path.read_bytes()
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def _table(path: Path) -> pd.DataFrame:
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    return pd.read_csv(io.BytesIO(_content(path)), sep="\t")


def _differences(name: str, ours: Path, theirs: Path) -> list[str]:
    """One line per differing column of two tables (or the file, if not a table)."""
    if name.endswith(PROVENANCE):
        # The record of the run: same config, run tables, tools and files. Its pipeline version
        # (git describe, "-dirty" included) may change between the two runs of a working copy.
        slurm, local = (json.loads(path.read_text()) for path in (ours, theirs))
        slurm.pop("pipeline_version"), local.pop("pipeline_version")
        return [] if slurm == local else [f"{name}: {slurm} != {local}"]
    if name.endswith(".tbi"):
        return [f"{name}: index differs"] if _content(ours) != _content(theirs) else []
    if not name.endswith(".parquet") and _content(ours) == _content(theirs):
        return []
    slurm, local = _table(ours), _table(theirs)
    if list(slurm.columns) != list(local.columns) or len(slurm) != len(local):
        return [f"{name}: columns or rows differ ({slurm.shape} vs {local.shape})"]
    lines = []
    for column in slurm.columns:
        a, b = slurm[column], local[column]
        unequal = ~((a == b) | (a.isna() & b.isna()))
        if unequal.any():
            detail = f"{int(unequal.sum())} of {len(a)} rows"
            if pd.api.types.is_numeric_dtype(a) and pd.api.types.is_numeric_dtype(b):
                detail += f", max |diff| {(a - b).abs().max():.3g}"
            lines.append(f"{name}: column {column}: {detail}")
    if not lines and not name.endswith(".parquet"):
        lines.append(f"{name}: same values, different text")
    return lines


ALL_LIBRARIES = re.compile(r"gene_(counts|tpm)\.allLibraries\.")
# salmon's run-to-run noise on the demo (module docstring), with room to spare: gene counts;
# TPM of single-isoform genes (relative); per-library correlation of log1p TPM over all genes.
COUNT_ATOL, SINGLE_ISOFORM_TPM_RTOL, LOG_TPM_MIN_R = 0.05, 0.02, 0.99


def single_isoform_genes(results: Path) -> set[str]:
    tx2gene = pd.read_csv(results / "reference" / "tx2gene.tsv", sep="\t")
    isoforms = tx2gene.groupby("gene_id").size()
    return set(isoforms.index[isoforms == 1])


def test_mage_outputs_equal_the_local_run(slurm_demo, demo_run):
    ours, theirs = _files(slurm_demo.results), _files(demo_run)
    assert theirs, f"the local demo has no MAGE-style outputs under {demo_run / MAGE_OUTPUTS}"
    assert sorted(ours) == sorted(theirs)
    differences = [
        line
        for name in sorted(theirs)
        if not ALL_LIBRARIES.search(name)
        for line in _differences(name, ours[name], theirs[name])
    ]
    assert not differences, "SLURM and local outputs differ:\n" + "\n".join(differences)


def test_all_library_matrices_agree_within_salmon_noise(slurm_demo, demo_run):
    ours, theirs = _files(slurm_demo.results), _files(demo_run)
    names = [name for name in theirs if ALL_LIBRARIES.search(name)]
    assert len(names) == 2, names
    for name in names:
        slurm, local = pd.read_parquet(ours[name]), pd.read_parquet(theirs[name])
        assert list(slurm.index) == list(local.index) and list(slurm.columns) == list(local.columns)
        requantified = slurm_demo.requantified
        kept = [run for run in local.columns if run not in requantified]
        # The libraries taken from the local run: the same numbers.
        pd.testing.assert_frame_equal(slurm[kept], local[kept], check_exact=True)
        # The libraries quantified on SLURM: salmon again, equal up to its noise.
        a, b = slurm[requantified], local[requantified]
        if "counts" in name:
            worst = (a - b).abs().max().max()
            assert worst <= COUNT_ATOL, f"{name}: counts differ by up to {worst}"
            continue
        sums = a.sum()
        assert ((sums - 1e6).abs() < 1.0).all(), f"{name}: TPM do not sum to 1e6: {sums.to_dict()}"
        single = sorted(single_isoform_genes(demo_run) & set(local.index))
        assert single, "the demo has no single-isoform gene to compare TPM on"
        a1, b1 = a.loc[single], b.loc[single]
        worst = ((a1 - b1).abs() / b1.abs().clip(lower=1.0)).max().max()
        assert worst <= SINGLE_ISOFORM_TPM_RTOL, f"{name}: single-isoform TPM differ by {worst:.2%}"
        for run in requantified:
            r = np.corrcoef(np.log1p(a[run]), np.log1p(b[run]))[0, 1]
            assert r >= LOG_TPM_MIN_R, f"{name}: {run} log1p TPM correlate at only {r:.4f}"
