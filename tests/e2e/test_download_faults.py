"""The demo cohort's download stage through the fault-injecting server (tests/faultserver.py).

A scratch working directory runs the demo config with its run table and VCF URL pointing at a
loopback server that serves the demo's mirror (resources/demo/generated/mirror), and with the
retry count, backoff and timeout set in download: of the config. Only the download jobs run:
download_fastq for three runs and download_vcf for chr22, given as explicit targets.

- Transient faults (every kind, on FASTQs, the VCF and its index) are recovered, resuming where
  the server allows it, with the config's backoff, and the files equal the mirror's, byte for
  byte (FASTQs and VCFs are stored as downloaded).
- Permanent faults (404; wrong bytes, 503 and stalls that never stop) stop each job with one
  line naming the run (or chromosome) and the URL, after exactly the config's retries.
- A watcher polls every final path during the runs: no file that failed verification is ever
  visible under its final name.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import threading
from datetime import datetime
from pathlib import Path

import pytest

from conftest import CLEAN_ENV
from faultserver import FaultServer
from workdirs import ROOT, scratch_workdir, snakemake_args

pytestmark = pytest.mark.e2e

CORES = os.environ.get("KGPEX_TEST_CORES", "2")
MIRROR = ROOT / "resources/demo/generated/mirror"
RUNS = ("SRR90000001", "SRR90000002", "SRR90000003")
CHROM = "chr22"
VCF_NAME = "DEMO_{chrom}.filtered.shapeit2-duohmm-phased.vcf.gz"
RETRIES, BACKOFF, TIMEOUT = 9, 0.01, 1.0
STALL = 10 * TIMEOUT  # what a stalled answer would cost without the client's timeout


def fastq_path(run: str, mate: int) -> str:
    return f"/fastq/{run}/{run}_{mate}.fastq.gz"


VCF_PATH = "/vcf/" + VCF_NAME.format(chrom=CHROM)
TBI_PATH = VCF_PATH + ".tbi"


def fastq_output(run: str, mate: int) -> str:
    return f"results/DEMO/download/{run}_{mate}.fastq.gz"


VCF_OUTPUT = f"results/DEMO/genotypes/vcf/{CHROM}.vcf.gz"
TBI_OUTPUT = VCF_OUTPUT + ".tbi"
# Final path in the working directory -> served path (the fault-free source, in the mirror).
OUTPUTS = {
    **{fastq_output(r, m): fastq_path(r, m) for r in RUNS for m in (1, 2)},
    VCF_OUTPUT: VCF_PATH,
    TBI_OUTPUT: TBI_PATH,
}

# Every transient kind on a FASTQ and on the VCF; ignore_range follows a fault that left a
# partial file, so that a Range request is what it ignores.
TRANSIENT_PLANS = {
    fastq_path(RUNS[0], 1): ["reset", "ignore_range"],
    fastq_path(RUNS[0], 2): ["503", "500", "503"],
    fastq_path(RUNS[1], 1): ["truncate", "truncate"],
    fastq_path(RUNS[1], 2): ["stall"],
    fastq_path(RUNS[2], 1): ["wrong_bytes"],
    fastq_path(RUNS[2], 2): ["stall_headers", "reset", "truncate"],
    VCF_PATH: [
        "reset",
        "503",
        "truncate",
        "stall",
        "wrong_bytes",
        "stall_headers",
        "500",
        "truncate",
        "ignore_range",
    ],
    TBI_PATH: ["truncate", "500"],
}
# Faults that leave part of the file behind: the next request must resume after it.
RESUMABLE = ("reset", "truncate", "stall")


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def source_bytes(served: str) -> bytes:
    return (MIRROR / served.lstrip("/")).read_bytes()


class FinalNameWatcher:
    """Polls final paths during a run; records every content seen under a final name."""

    def __init__(self, work: Path, paths):
        self.paths = {work / p: p for p in paths}
        self.seen: dict[str, set[str]] = {p: set() for p in paths}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self):
        last: dict[Path, tuple] = {}
        while not self._stop.wait(0.005):
            for path, name in self.paths.items():
                try:
                    st = path.stat()
                    key = (st.st_ino, st.st_size, st.st_mtime_ns)
                    if last.get(path) != key:  # hash only what changed
                        self.seen[name].add(md5(path.read_bytes()))
                        last[path] = key
                except FileNotFoundError:
                    last.pop(path, None)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def run_snakemake(work: Path, *targets: str, keep_going: bool = False):
    args = ["--cores", CORES, "--notemp", *(["--keep-going"] if keep_going else []), *targets]
    cmd = [sys.executable, "-m", "snakemake", *snakemake_args(work, *args)]
    return subprocess.run(cmd, env=CLEAN_ENV, capture_output=True, text=True, timeout=1200)


def remove_outputs(work: Path) -> None:
    for output in OUTPUTS:
        for path in (work / output, work / f"{output}.partial"):
            path.unlink(missing_ok=True)


@pytest.fixture(scope="module")
def faulty_demo(demo_run, tmp_path_factory):
    """A scratch demo whose downloads go through the fault server, checked up to the downloads
    (samples resolved, reference fetched, inputs checked) without faults."""
    assert (MIRROR / VCF_PATH.lstrip("/")).is_file(), "the demo cohort has not been generated"
    with FaultServer(MIRROR, stall_seconds=STALL) as server:
        work = tmp_path_factory.mktemp("download_faults")
        table = (ROOT / "resources/demo/generated/ena_filereport.tsv").read_text()
        # The generated run table names the mirror by file:// URLs; serve it over HTTP instead.
        table = re.sub(r"file://[^;\t\n]*/mirror/", f"{server.base}/", table)
        assert server.base in table and "file://" not in table
        overrides = {
            "samples": {"run_table": "faults_run_table.tsv"},
            "genotypes": {
                "vcf_url": f"{server.base}/vcf/{VCF_NAME}",
                "chromosomes": [CHROM],
            },
            "download": {
                "retries": RETRIES,
                "backoff_seconds": BACKOFF,
                "timeout_seconds": TIMEOUT,
                "allowed_hosts": ["127.0.0.1"],
                "allow_http": True,
                "keep_fastq": True,
            },
        }
        scratch_workdir(work, overrides)
        (work / "faults_run_table.tsv").write_text(table)
        proc = run_snakemake(work, "results/DEMO/preflight/inputs_checked.tsv")
        assert proc.returncode == 0, proc.stderr[-4000:]
        yield work, server


def test_transient_faults_are_recovered_and_files_equal_the_sources(faulty_demo):
    work, server = faulty_demo
    remove_outputs(work)
    server.clear_plans()
    for path, faults in TRANSIENT_PLANS.items():
        server.plan(path, faults)
    before = {path: len(server.requests(path)) for path in TRANSIENT_PLANS}

    with FinalNameWatcher(work, OUTPUTS) as watcher:
        proc = run_snakemake(work, *OUTPUTS)
    assert proc.returncode == 0, proc.stderr[-6000:]

    for output, served in OUTPUTS.items():
        good = source_bytes(served)
        assert (work / output).read_bytes() == good, output
        assert not (work / f"{output}.partial").exists()
        # Under its final name a file only ever held the source's bytes.
        assert watcher.seen[output] == {md5(good)}, output
    for path, faults in TRANSIENT_PLANS.items():
        requests = server.requests(path)[before[path] :]
        # ignore_range answers with the whole file: the last request when it ends the plan.
        ends = [] if faults[-1] == "ignore_range" else [None]
        assert [r.fault for r in requests] == [*faults, *ends], path
        for failed, after in zip(requests, requests[1:]):
            if failed.fault in RESUMABLE:
                # Resumed after what arrived, not from byte 0.
                assert after.range is not None and not after.range.startswith("bytes=0-"), path

    # The config's backoff: the delays double from download.backoff_seconds.
    log = (work / f"logs/DEMO/download_fastq/{RUNS[0]}.log").read_text()
    delays = re.findall(r"retrying in ([0-9.e-]+) s", log)
    assert [float(d) for d in delays] == [BACKOFF, BACKOFF, 2 * BACKOFF, 4 * BACKOFF]


def test_permanent_faults_stop_each_job_with_one_line_naming_it_and_the_url(faulty_demo):
    work, server = faulty_demo
    remove_outputs(work)
    server.clear_plans()
    permanent = {
        fastq_path(RUNS[0], 1): "404",
        fastq_path(RUNS[1], 1): "wrong_bytes",
        fastq_path(RUNS[2], 1): "503",
        VCF_PATH: "404",
    }
    for path, fault in permanent.items():
        server.plan(path, then=fault)
    before = {path: len(server.requests(path)) for path in permanent}

    with FinalNameWatcher(work, OUTPUTS) as watcher:
        proc = run_snakemake(work, *OUTPUTS, keep_going=True)
    assert proc.returncode != 0

    lines = [line for line in proc.stderr.splitlines() if line.startswith("kgpex error in rule")]
    assert len(lines) == len(permanent), "\n".join(lines)
    for path in permanent:
        url = server.url(path)
        mine = [line for line in lines if url + ":" in line]
        assert len(mine) == 1, (url, lines)
        name = CHROM if path == VCF_PATH else path.split("/")[2]
        assert name in mine[0]
    requests = {path: len(server.requests(path)) - before[path] for path in permanent}
    # 404 is not retried; the others use exactly the config's retries.
    assert requests == {
        fastq_path(RUNS[0], 1): 1,
        fastq_path(RUNS[1], 1): RETRIES + 1,
        fastq_path(RUNS[2], 1): RETRIES + 1,
        VCF_PATH: 1,
    }
    for path, problem in {
        fastq_path(RUNS[0], 1): "HTTP 404 Not Found",
        fastq_path(RUNS[1], 1): f"download failed after {RETRIES + 1} attempts: md5 mismatch",
        fastq_path(RUNS[2], 1): f"download failed after {RETRIES + 1} attempts: HTTP 503",
        VCF_PATH: "HTTP 404 Not Found",
    }.items():
        assert f"{server.url(path)}: {problem}" in "\n".join(lines)

    failed_outputs = [fastq_output(r, m) for r in RUNS for m in (1, 2)] + [VCF_OUTPUT, TBI_OUTPUT]
    for output in failed_outputs:
        # Nothing under a final name: not now, not for a moment during the run.
        assert not (work / output).exists(), output
        assert watcher.seen[output] == set(), output
    # What a wrong-bytes download wrote was discarded, not kept for resuming.
    assert not (work / f"{fastq_output(RUNS[1], 1)}.partial").exists()


def test_a_stall_that_never_ends_is_bounded_by_the_config_timeout(faulty_demo):
    work, server = faulty_demo
    remove_outputs(work)
    server.clear_plans()
    server.plan(TBI_PATH, then="stall_headers")
    proc = run_snakemake(work, VCF_OUTPUT)
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if line.startswith("kgpex error in rule")]
    assert len(lines) == 1 and server.url(TBI_PATH) in lines[0], lines
    assert f"download failed after {RETRIES + 1} attempts" in lines[0]
    assert "timed out" in lines[0]
    log = (work / f"logs/DEMO/download_vcf/{CHROM}.log").read_text()
    stamps = re.findall(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3}) ", log, re.MULTILINE)
    times = [datetime.fromisoformat(f"{s}.{ms}") for s, ms in stamps]
    elapsed = (times[-1] - times[0]).total_seconds()
    backoffs = sum(BACKOFF * 2**i for i in range(RETRIES))
    # Each attempt waits one timeout, not the server's stall of 10 timeouts.
    assert elapsed < (RETRIES + 1) * TIMEOUT + backoffs + 5
