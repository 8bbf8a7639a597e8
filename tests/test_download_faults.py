"""kgpex.common.fetch.fetch against the fault-injecting loopback server (tests/faultserver.py).

Every fault kind, alone and in sequence: transient ones are recovered (resuming where the server
allows it), permanent ones fail at once or after the configured retries with one line naming
the destination and the URL, and no file that failed verification ever has its final name.
Then the download policy: allowed hosts, schemes, redirects, the working directory.
"""

from __future__ import annotations

import gzip
import hashlib
import random
import threading
import time
import urllib.request

import pytest
from faultserver import FAULTS, TRANSIENT, FaultServer

from kgpex.common import http as common_http
from kgpex.common.errors import KgpexError
from kgpex.common.fetch import check_gzip, fetch
from kgpex.common.http import allowed_url

TIMEOUT = 0.3
FAST = dict(retries=3, backoff=0.01, timeout=TIMEOUT)
PATH = "/vol1/fastq/SRR0000001/SRR0000001_1.fastq.gz"


def reads_gz(n: int = 4000, seed: int = 7) -> bytes:
    """A gzipped FASTQ of ~100 kB: random enough that a corrupted byte breaks the gzip CRC."""
    rng = random.Random(seed)
    records = []
    for i in range(n):
        seq = "".join(rng.choice("ACGT") for _ in range(50))
        qual = "".join(rng.choice("#5?EI") for _ in range(50))
        records.append(f"@r{i}/1\n{seq}\n+\n{qual}\n")
    return gzip.compress("".join(records).encode(), mtime=0)


DATA = reads_gz()
MD5 = hashlib.md5(DATA).hexdigest()


@pytest.fixture
def server():
    with FaultServer(stall_seconds=5 * TIMEOUT) as srv:
        srv.add(PATH, DATA)
        yield srv


def one_line(err: pytest.ExceptionInfo) -> str:
    message = str(err.value)
    assert "\n" not in message
    return message


# -- transient faults: recovered ---------------------------------------------------------------


@pytest.mark.parametrize("fault", ["reset", "truncate", "stall"])
def test_interrupted_transfer_resumes_where_it_stopped(server, tmp_path, fault):
    dest = fetch(server.url(PATH), tmp_path / "r_1.fastq.gz", md5=MD5, size=len(DATA), **FAST)
    server.plan(PATH, [fault])
    dest = fetch(server.url(PATH), tmp_path / "again.fastq.gz", md5=MD5, size=len(DATA), **FAST)
    assert dest.read_bytes() == DATA
    first, second = server.requests(PATH)[-2:]
    assert first.fault == fault and first.range is None
    assert second.fault is None and second.status == 206
    resumed_from = int(second.range.removeprefix("bytes=").rstrip("-"))
    assert resumed_from == len(DATA) // 2  # exactly what the server sent before failing
    assert not (tmp_path / "again.fastq.gz.partial").exists()


@pytest.mark.parametrize("status", ["500", "503"])
def test_server_errors_are_retried_then_the_file_arrives(server, tmp_path, status):
    server.plan(PATH, [status, status])
    dest = fetch(server.url(PATH), tmp_path / "r.fastq.gz", md5=MD5, **FAST)
    assert dest.read_bytes() == DATA
    assert [r.status for r in server.requests(PATH)] == [int(status), int(status), 200]


def test_wrong_bytes_are_discarded_and_downloaded_again_from_scratch(server, tmp_path):
    server.plan(PATH, ["wrong_bytes"])
    dest = fetch(server.url(PATH), tmp_path / "r.fastq.gz", md5=MD5, size=len(DATA), **FAST)
    assert dest.read_bytes() == DATA
    # The second request starts at byte 0: nothing of the wrong copy is kept.
    assert [(r.fault, r.range) for r in server.requests(PATH)] == [
        ("wrong_bytes", None),
        (None, None),
    ]


def test_a_server_that_ignores_range_restarts_cleanly(server, tmp_path):
    server.plan(PATH, ["truncate", "ignore_range"])
    dest = fetch(server.url(PATH), tmp_path / "r.fastq.gz", md5=MD5, size=len(DATA), **FAST)
    assert dest.read_bytes() == DATA  # the whole body written over the half, not appended
    ranges = [(r.range, r.status) for r in server.requests(PATH)]
    assert ranges == [(None, 200), (f"bytes={len(DATA) // 2}-", 200)]


def test_a_stall_before_the_answer_is_bounded_by_the_timeout(server, tmp_path):
    server.plan(PATH, ["stall_headers"])
    t0 = time.monotonic()
    fetch(server.url(PATH), tmp_path / "r.fastq.gz", md5=MD5, **FAST)
    assert time.monotonic() - t0 < 4 * TIMEOUT  # one timeout, not the server's 5


def test_every_transient_fault_in_one_download(server, tmp_path):
    """All transient kinds in a row on one file, watched: its final name only ever holds the
    right bytes."""
    server.plan(PATH, list(TRANSIENT))
    dest = tmp_path / "r.fastq.gz"
    seen, stop = set(), threading.Event()

    def watch():
        while not stop.is_set():
            if dest.exists():
                seen.add(hashlib.md5(dest.read_bytes()).hexdigest())
            time.sleep(0.001)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        fetch(
            server.url(PATH),
            dest,
            md5=MD5,
            size=len(DATA),
            check=check_gzip,
            retries=len(TRANSIENT),
            backoff=0.001,
            timeout=TIMEOUT,
        )
    finally:
        time.sleep(0.02)  # the watcher sees the final file at least once
        stop.set()
        watcher.join()
    assert dest.read_bytes() == DATA
    assert seen == {MD5}
    assert server.faults_served(PATH) == list(TRANSIENT)


# -- permanent faults: one line, nothing under the final name ----------------------------------


def test_404_fails_at_once_with_one_line(server, tmp_path):
    server.plan(PATH, then="404")
    dest = tmp_path / "SRR0000001_1.fastq.gz"
    with pytest.raises(KgpexError) as err:
        fetch(server.url(PATH), dest, md5=MD5, label="run SRR0000001 mate 1", **FAST)
    assert one_line(err) == f"run SRR0000001 mate 1: {server.url(PATH)}: HTTP 404 Not Found"
    assert len(server.requests(PATH)) == 1  # not retried
    assert not dest.exists()


def test_wrong_bytes_every_time_fail_after_the_retries(server, tmp_path):
    server.plan(PATH, then="wrong_bytes")
    dest = tmp_path / "SRR0000001_1.fastq.gz"
    with pytest.raises(KgpexError) as err:
        fetch(server.url(PATH), dest, md5=MD5, label="run SRR0000001 mate 1", **FAST)
    message = one_line(err)
    assert message.startswith(
        f"run SRR0000001 mate 1: {server.url(PATH)}: download failed after 4 attempts: "
    )
    assert f"md5 mismatch: expected {MD5}" in message
    assert len(server.requests(PATH)) == 4
    assert not dest.exists() and not (tmp_path / "SRR0000001_1.fastq.gz.partial").exists()


@pytest.mark.parametrize("fault", ["reset", "truncate", "stall", "503", "stall_headers"])
def test_a_fault_that_persists_fails_after_the_retries_keeping_the_partial_file(
    server, tmp_path, fault
):
    server.plan(PATH, then=fault)
    dest = tmp_path / "r.fastq.gz"
    t0 = time.monotonic()
    with pytest.raises(KgpexError) as err:
        fetch(server.url(PATH), dest, md5=MD5, retries=2, backoff=0.01, timeout=TIMEOUT)
    elapsed = time.monotonic() - t0
    assert f"{server.url(PATH)}: download failed after 3 attempts" in one_line(err)
    assert len(server.requests(PATH)) == 3
    assert elapsed < 3 * TIMEOUT + 1.5  # stalls cost a timeout each, never the server's 5x
    assert not dest.exists()
    partial = tmp_path / "r.fastq.gz.partial"
    if fault in ("reset", "truncate", "stall"):
        # What arrived is kept for the next run, and it is a prefix of the file.
        assert 0 < partial.stat().st_size < len(DATA)
        assert DATA.startswith(partial.read_bytes())


# -- retries and backoff come from the arguments (the config) ----------------------------------


@pytest.mark.parametrize("retries, backoff", [(0, 1.0), (2, 0.25), (4, 0.1)])
def test_retry_count_and_backoff_are_the_arguments(server, tmp_path, monkeypatch, retries, backoff):
    delays = []
    monkeypatch.setattr(time, "sleep", delays.append)
    server.plan(PATH, then="503")
    with pytest.raises(KgpexError, match=f"download failed after {retries + 1} attempts"):
        fetch(
            server.url(PATH), tmp_path / "r.gz", retries=retries, backoff=backoff, timeout=TIMEOUT
        )
    assert len(server.requests(PATH)) == retries + 1
    assert delays == [backoff * 2**i for i in range(retries)]


def test_timeout_is_the_argument(server, tmp_path):
    server.plan(PATH, ["stall"])
    t0 = time.monotonic()
    fetch(server.url(PATH), tmp_path / "r.gz", md5=MD5, retries=1, backoff=0, timeout=0.2)
    assert time.monotonic() - t0 < 1.0


# -- content checks without an md5 -------------------------------------------------------------


def test_corrupt_content_without_an_md5_is_downloaded_once_more(server, tmp_path):
    server.plan(PATH, ["wrong_bytes"])
    dest = fetch(server.url(PATH), tmp_path / "r.gz", check=check_gzip, **FAST)
    assert dest.read_bytes() == DATA
    assert len(server.requests(PATH)) == 2


def test_corrupt_content_twice_without_an_md5_fails_naming_the_file(server, tmp_path):
    server.plan(PATH, then="wrong_bytes")
    dest = tmp_path / "r.gz"
    with pytest.raises(KgpexError) as err:
        fetch(server.url(PATH), dest, check=check_gzip, **FAST)
    message = one_line(err)
    assert message.startswith(f"{server.url(PATH)}: {dest}: not a complete gzip file")
    assert ".partial" not in message
    assert len(server.requests(PATH)) == 2
    assert not dest.exists() and not (tmp_path / "r.gz.partial").exists()


def test_content_that_matches_its_md5_but_fails_the_check_is_not_downloaded_again(server, tmp_path):
    bad = DATA[: len(DATA) // 2]  # broken at the source
    server.add("/cut.gz", bad)
    with pytest.raises(KgpexError, match="not a complete gzip file"):
        fetch(
            server.url("/cut.gz"),
            tmp_path / "c.gz",
            md5=hashlib.md5(bad).hexdigest(),
            check=check_gzip,
            **FAST,
        )
    assert len(server.requests("/cut.gz")) == 1


def test_every_fault_kind_is_covered_here():
    covered = {
        "reset",
        "truncate",
        "stall",
        "500",
        "503",
        "wrong_bytes",
        "ignore_range",
        "stall_headers",
        "404",
    }
    assert covered == set(FAULTS)


# -- where downloads may go --------------------------------------------------------------------

HOSTS = ["127.0.0.1"]


def test_a_host_not_allowed_is_never_contacted(server, tmp_path):
    dest = tmp_path / "r.gz"
    with pytest.raises(KgpexError) as err:
        fetch(server.url(PATH), dest, allowed_hosts=["ftp.sra.ebi.ac.uk"], **FAST)
    assert one_line(err) == (
        f"{server.url(PATH)}: host 127.0.0.1 is not in download.allowed_hosts "
        "(ftp.sra.ebi.ac.uk)"
    )
    assert server.requests() == []


def test_an_allowed_host_is_fetched(server, tmp_path):
    dest = fetch(server.url(PATH), tmp_path / "r.gz", md5=MD5, allowed_hosts=HOSTS, **FAST)
    assert dest.read_bytes() == DATA


def test_redirects_are_followed_only_to_allowed_hosts(server, tmp_path):
    elsewhere = server.url(PATH).replace("127.0.0.1", "localhost")
    server.plan("/moved.gz", then=f"redirect:{elsewhere}")
    with pytest.raises(KgpexError) as err:
        fetch(server.url("/moved.gz"), tmp_path / "m.gz", allowed_hosts=HOSTS, **FAST)
    assert (
        f"redirected to {elsewhere}: host localhost is not in download.allowed_hosts"
        in one_line(err)
    )
    assert server.requests(PATH) == []  # the redirect target was never asked
    dest = fetch(
        server.url("/moved.gz"),
        tmp_path / "m.gz",
        md5=MD5,
        allowed_hosts=HOSTS + ["localhost"],
        **FAST,
    )
    assert dest.read_bytes() == DATA


def test_redirects_to_other_schemes_or_down_to_http_are_refused():
    handler = common_http._redirect_handler(["h.org"], allow_http=True)()
    to_file = urllib.request.Request("https://h.org/a")
    with pytest.raises(KgpexError, match="redirected to file:///etc/passwd: only https or http"):
        handler.redirect_request(to_file, None, 302, "Found", {}, "file:///etc/passwd")
    with pytest.raises(KgpexError, match="redirected from https down to http"):
        handler.redirect_request(to_file, None, 302, "Found", {}, "http://h.org/a")
    strict = common_http._redirect_handler(["h.org"], allow_http=False)()
    with pytest.raises(KgpexError, match="only https redirects are followed"):
        strict.redirect_request(
            urllib.request.Request("http://h.org/a"), None, 302, "Found", {}, "http://h.org/b"
        )


def test_plain_http_is_upgraded_to_https_unless_allowed(server, tmp_path):
    nygc = "http://ftp.1000genomes.ebi.ac.uk/vol1/ftp/x.vcf.gz"
    hosts = ["ftp.1000genomes.ebi.ac.uk"]
    assert allowed_url(nygc, hosts, allow_http=False) == nygc.replace("http://", "https://")
    assert allowed_url(nygc, hosts, allow_http=True) == nygc
    # The loopback server speaks no TLS: the upgraded request fails, naming both URLs.
    dest = tmp_path / "r.gz"
    with pytest.raises(KgpexError) as err:
        fetch(
            server.url(PATH),
            dest,
            allowed_hosts=HOSTS,
            allow_http=False,
            retries=0,
            backoff=0,
            timeout=TIMEOUT,
        )
    https = server.url(PATH).replace("http://", "https://")
    assert one_line(err).startswith(f"{https} (given as {server.url(PATH)}): download failed")
    assert not dest.exists()


@pytest.mark.parametrize(
    "url, kwargs, problem",
    [
        ("s3://bucket/key", {}, "unsupported URL scheme 's3'"),
        ("gopher://h.org/x", {}, "unsupported URL scheme 'gopher'"),
        ("file:///etc/hostname", {"allow_file": False}, "local files are not allowed"),
        ("file://evil.org/etc/hostname", {}, "a file:// URL names a host"),
        ("https:///nohost", {}, "no host in the URL"),
        ("ftp://ftp.evil.org/x", {"allowed_hosts": ["ftp.sra.ebi.ac.uk"]}, "host ftp.evil.org"),
    ],
)
def test_urls_outside_the_policy_are_refused(tmp_path, url, kwargs, problem):
    dest = tmp_path / "x"
    with pytest.raises(KgpexError) as err:
        fetch(url, dest, **kwargs, **FAST)
    assert one_line(err).startswith(f"{url}: {problem}")
    assert not dest.exists()


def test_host_names_match_without_case_and_any_port():
    assert allowed_url("https://FTP.SRA.EBI.AC.UK:8443/x", ["ftp.sra.ebi.ac.uk"]).startswith(
        "https"
    )
    with pytest.raises(KgpexError):
        allowed_url("https://ftp.sra.ebi.ac.uk.evil.org/x", ["ftp.sra.ebi.ac.uk"])


def test_destinations_outside_the_working_directory_are_refused(server, tmp_path, monkeypatch):
    workdir = tmp_path / "work"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    for dest in ("../outside.gz", str(tmp_path / "outside.gz"), "results/../../outside.gz"):
        with pytest.raises(KgpexError, match="outside the working directory"):
            fetch(server.url(PATH), dest, within_workdir=True, **FAST)
    assert server.requests() == [] and not (tmp_path / "outside.gz").exists()
    fetch(server.url(PATH), "results/download/r.gz", md5=MD5, within_workdir=True, **FAST)
    assert (workdir / "results/download/r.gz").read_bytes() == DATA
