"""kgpex.common.fetch and kgpex.download.reads against servers started here: loopback HTTP
(Range, faults) and FTP (REST)."""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import random
import re
import socket
import socketserver
import stat
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from kgpex.common import fetch as fetch_module
from kgpex.common.errors import KgpexError
from kgpex.common.fetch import Progress, check_gzip, fetch, md5sums_lookup
from kgpex.download.reads import check_fastq_gz, sra_to_fastq

FAST = dict(retries=3, backoff=0.001, timeout=10)


def payload(n: int = 300_000, seed: int = 1) -> bytes:
    return random.Random(seed).randbytes(n)


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


# -- loopback HTTP server ---------------------------------------------------------------------


class ServerState:
    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.faults: list[str] = []  # consumed one per request: "503", "drop"
        self.ignore_range = False
        self.slow: float | None = None  # seconds between pieces of SLOW_PIECE bytes
        self.requests: list[tuple[str, str | None]] = []  # (path, Range header)
        self.lock = threading.Lock()


SLOW_PIECE = 16_000


class RangeHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # one request per connection: a drop is a closed socket

    def log_message(self, *args):
        pass

    def do_GET(self):
        state: ServerState = self.server.state
        with state.lock:
            state.requests.append((self.path, self.headers.get("Range")))
            fault = state.faults.pop(0) if state.faults else None
        if fault == "503":
            self.send_error(503, "Service Unavailable")
            return
        body = state.files.get(self.path)
        if body is None:
            self.send_error(404, "Not Found")
            return
        start = 0
        range_header = self.headers.get("Range")
        if range_header and not state.ignore_range:
            start = int(range_header.removeprefix("bytes=").split("-")[0])
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        part = body[start:]
        self.send_header("Content-Length", str(len(part)))
        self.end_headers()
        if fault == "drop":
            self.wfile.write(part[: len(part) // 2])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if state.slow:
            for start in range(0, len(part), SLOW_PIECE):
                self.wfile.write(part[start : start + SLOW_PIECE])
                self.wfile.flush()
                time.sleep(state.slow)
            return
        self.wfile.write(part)


@pytest.fixture
def http_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), RangeHandler)
    server.state = ServerState()
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
    )
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    yield base, server.state
    server.shutdown()
    server.server_close()


def test_http_download_verifies_md5_and_size(http_server, tmp_path):
    base, state = http_server
    data = payload()
    state.files["/a.bin"] = data
    dest = fetch(f"{base}/a.bin", tmp_path / "a.bin", md5=md5(data), size=len(data), **FAST)
    assert dest.read_bytes() == data
    assert not (tmp_path / "a.bin.partial").exists()


def test_http_resumes_after_dropped_connection(http_server, tmp_path):
    base, state = http_server
    data = payload()
    state.files["/a.bin"] = data
    state.faults = ["drop"]
    fetch(f"{base}/a.bin", tmp_path / "a.bin", md5=md5(data), size=len(data), **FAST)
    assert (tmp_path / "a.bin").read_bytes() == data
    assert len(state.requests) == 2
    assert state.requests[0][1] is None
    assert state.requests[1][1] == f"bytes={len(data) // 2}-"


def test_http_resumes_a_partial_file_left_by_a_killed_job(http_server, tmp_path):
    base, state = http_server
    data = payload()
    state.files["/a.bin"] = data
    (tmp_path / "a.bin.partial").write_bytes(data[:1000])
    fetch(f"{base}/a.bin", tmp_path / "a.bin", md5=md5(data), **FAST)
    assert (tmp_path / "a.bin").read_bytes() == data
    assert state.requests == [("/a.bin", "bytes=1000-")]


def test_http_complete_partial_file_is_not_fetched_again(http_server, tmp_path):
    base, state = http_server
    data = payload(5000)
    state.files["/a.bin"] = data
    (tmp_path / "a.bin.partial").write_bytes(data)
    fetch(f"{base}/a.bin", tmp_path / "a.bin", md5=md5(data), **FAST)  # no size: asks, gets 416
    assert (tmp_path / "a.bin").read_bytes() == data
    assert state.requests == [("/a.bin", "bytes=5000-")]


def test_http_restarts_when_server_ignores_range(http_server, tmp_path):
    base, state = http_server
    data = payload()
    state.files["/a.bin"] = data
    state.ignore_range = True
    (tmp_path / "a.bin.partial").write_bytes(b"x" * 1000)  # would corrupt the file if appended to
    fetch(f"{base}/a.bin", tmp_path / "a.bin", **FAST)
    assert (tmp_path / "a.bin").read_bytes() == data


def test_http_retries_server_errors_with_exponential_backoff(http_server, tmp_path, monkeypatch):
    base, state = http_server
    data = payload(1000)
    state.files["/a.bin"] = data
    state.faults = ["503", "503", "503"]
    delays = []
    monkeypatch.setattr(time, "sleep", delays.append)
    fetch(f"{base}/a.bin", tmp_path / "a.bin", retries=5, backoff=0.5, timeout=10)
    assert (tmp_path / "a.bin").read_bytes() == data
    assert delays == [0.5, 1.0, 2.0]


def test_http_gives_up_after_retries(http_server, tmp_path):
    base, state = http_server
    state.files["/a.bin"] = payload(1000)
    state.faults = ["503"] * 10
    with pytest.raises(KgpexError, match=r"/a\.bin: download failed after 3 attempts: .*503"):
        fetch(f"{base}/a.bin", tmp_path / "a.bin", retries=2, backoff=0.001, timeout=10)
    assert not (tmp_path / "a.bin").exists()


def test_http_404_fails_at_once(http_server, tmp_path):
    base, state = http_server
    with pytest.raises(KgpexError, match=r"/missing\.bin: HTTP 404"):
        fetch(f"{base}/missing.bin", tmp_path / "m.bin", **FAST)
    assert len(state.requests) == 1


def test_md5_mismatch_uses_the_retries_then_leaves_nothing(http_server, tmp_path):
    base, state = http_server
    data = payload()
    state.files["/a.bin"] = data
    wrong = "0" * 32
    url = f"{base}/a.bin"
    with pytest.raises(KgpexError) as err:
        fetch(url, tmp_path / "a.bin", md5=wrong, **FAST)
    message = str(err.value)
    assert url in message and wrong in message and md5(data) in message
    assert not (tmp_path / "a.bin").exists()
    assert not (tmp_path / "a.bin.partial").exists()
    # FAST has 3 retries: four full downloads, none resumed from the discarded bytes.
    assert [r[1] for r in state.requests] == [None] * 4


def test_size_mismatch_is_an_error(http_server, tmp_path):
    base, state = http_server
    state.files["/a.bin"] = payload(1000)
    with pytest.raises(KgpexError, match="server reports 1000 bytes, expected 999"):
        fetch(f"{base}/a.bin", tmp_path / "a.bin", size=999, **FAST)
    assert not (tmp_path / "a.bin").exists()


def test_failed_check_removes_the_download_and_names_the_url(http_server, tmp_path):
    base, state = http_server
    good = fastq_gz_bytes(5)
    state.files["/r_1.fastq.gz"] = good[: len(good) - 20]  # truncated at the source
    with pytest.raises(KgpexError) as err:
        fetch(f"{base}/r_1.fastq.gz", tmp_path / "r_1.fastq.gz", check=check_fastq_gz, **FAST)
    message = str(err.value)
    assert f"{base}/r_1.fastq.gz" in message and str(tmp_path / "r_1.fastq.gz") in message
    assert ".partial" not in message
    assert not (tmp_path / "r_1.fastq.gz").exists()
    assert not (tmp_path / "r_1.fastq.gz.partial").exists()


# -- file:// ----------------------------------------------------------------------------------


def test_file_url_copies_and_verifies(tmp_path):
    data = payload(10_000)
    src = tmp_path / "src.bin"
    src.write_bytes(data)
    dest = fetch(src.as_uri(), tmp_path / "out" / "copy.bin", md5=md5(data), size=len(data), **FAST)
    assert dest.read_bytes() == data
    with pytest.raises(KgpexError, match="md5 mismatch"):
        fetch(src.as_uri(), tmp_path / "bad.bin", md5="f" * 32, **FAST)
    assert not (tmp_path / "bad.bin").exists() and not (tmp_path / "bad.bin.partial").exists()
    with pytest.raises(KgpexError, match="no such file"):
        fetch((tmp_path / "absent.bin").as_uri(), tmp_path / "x.bin", **FAST)


def test_unsupported_scheme(tmp_path):
    with pytest.raises(KgpexError, match="unsupported URL scheme 's3'"):
        fetch("s3://bucket/key", tmp_path / "x", **FAST)


# -- progress lines ---------------------------------------------------------------------------

# "<done> of <total> <unit> (<n> %) at <rate> <unit>/s, H:MM:SS left"
PROGRESS_LINE = re.compile(
    r"progress (?P<url>\S+): (?P<done>[\d.]+) of (?P<total>[\d.]+) kB \((?P<percent>\d+) %\) "
    r"at (?P<rate>[\d.]+) (?P<rate_unit>[kM]?B)/s, (?P<left>\d+:\d\d:\d\d) left$"
)


def test_a_slow_download_logs_bytes_rate_and_time_left(http_server, tmp_path, monkeypatch, caplog):
    base, state = http_server
    data = payload(320_000)
    state.files["/slow.bin"] = data
    state.slow = 0.02  # 20 pieces of 16 kB: about 0.4 s
    # A resumed transfer: the rate and time left count only what arrives now.
    (tmp_path / "slow.bin.partial").write_bytes(data[:64_000])
    monkeypatch.setattr(fetch_module, "PROGRESS_SECONDS", 0.05)
    caplog.set_level(logging.INFO, logger="kgpex.common.fetch")
    fetch(f"{base}/slow.bin", tmp_path / "slow.bin", md5=md5(data), **FAST)
    assert (tmp_path / "slow.bin").read_bytes() == data
    lines = [m for r in caplog.records if (m := PROGRESS_LINE.match(r.getMessage()))]
    assert len(lines) >= 3, [r.getMessage() for r in caplog.records]
    done = [float(m["done"]) for m in lines]
    assert done == sorted(done) and 64.0 <= done[0] and done[-1] < 320.0
    for m in lines:
        assert m["url"] == f"{base}/slow.bin" and m["total"] == "320.0"
        assert abs(int(m["percent"]) - float(m["done"]) / 3.2) <= 1
        assert float(m["rate"]) > 0
        hours, minutes, seconds = map(int, m["left"].split(":"))
        # Whatever the machine's speed, well under the run's few seconds: a rate that
        # counted the resumed bytes would say less, one in the wrong unit far more.
        assert hours == minutes == 0 and seconds <= 5
    last = caplog.records[-1].getMessage()
    assert re.fullmatch(
        rf"fetched {re.escape(base)}/slow.bin: 320.0 of 320.0 kB \(100 %\) at [\d.]+ [kM]?B/s "
        r"in 0:00:0\d",
        last,
    ), last


def test_progress_rate_excludes_the_resumed_offset_and_gives_time_left(monkeypatch, caplog):
    now = [100.0]
    progress = Progress("https://x/a.gz", offset=50_000_000, total=100_000_000, clock=lambda: now[0])
    monkeypatch.setattr(fetch_module, "PROGRESS_SECONDS", 30.0)
    caplog.set_level(logging.INFO, logger="kgpex.common.fetch")
    now[0] = 110.0
    progress.add(10_000_000)  # not due: 10 s since the start
    assert caplog.records == []
    now[0] = 130.0
    progress.add(20_000_000)  # 30 MB in 30 s: 1 MB/s, 20 MB left
    assert [r.getMessage() for r in caplog.records] == [
        "progress https://x/a.gz: 80.0 of 100.0 MB (80 %) at 1.00 MB/s, 0:00:20 left"
    ]
    assert Progress("s", 0, 5_000_000_000, clock=lambda: 0.0).line() == (
        "0.0 of 5.0 GB (0 %) at 0.00 B/s, time left unknown"
    )
    unknown = Progress("sra", 0, None, clock=iter([0.0, 4.0]).__next__)
    unknown.done = 2_000
    assert unknown.line() == "2.0 kB at 500.00 B/s"
    assert fetch_module.clock_time(3 * 3600 + 62.4) == "3:01:02"


# -- FTP (minimal loopback server: USER PASS TYPE SIZE PASV REST RETR QUIT) --------------------


class FTPHandler(socketserver.StreamRequestHandler):
    def reply(self, text: str) -> None:
        self.wfile.write((text + "\r\n").encode())

    def handle(self):
        state = self.server.state
        self.reply("220 kgpex test FTP")
        rest, listener = 0, None
        for raw in self.rfile:
            cmd, _, arg = raw.decode().strip().partition(" ")
            cmd = cmd.upper()
            state.commands.append(f"{cmd} {arg}".strip())
            if cmd == "USER":
                self.reply("331 password please")
            elif cmd == "PASS":
                self.reply("230 logged in")
            elif cmd == "TYPE":
                self.reply("200 type set")
            elif cmd == "SIZE":
                body = state.files.get(arg)
                self.reply(f"213 {len(body)}" if body is not None else "550 no such file")
            elif cmd == "PASV":
                listener = socket.create_server(("127.0.0.1", 0))
                port = listener.getsockname()[1]
                self.reply(f"227 Entering Passive Mode (127,0,0,1,{port >> 8},{port & 255})")
            elif cmd == "REST":
                rest = int(arg)
                self.reply(f"350 restarting at {rest}")
            elif cmd == "RETR":
                body = state.files.get(arg)
                data_conn, _ = listener.accept()
                listener.close()
                if body is None:
                    data_conn.close()
                    self.reply("550 no such file")
                    continue
                self.reply("150 opening data connection")
                part = body[rest:]
                rest = 0
                if state.faults and state.faults.pop(0) == "drop":
                    data_conn.sendall(part[: len(part) // 2])
                    data_conn.close()
                    self.reply("426 connection closed; transfer aborted")
                    continue
                data_conn.sendall(part)
                data_conn.close()
                self.reply("226 transfer complete")
            elif cmd == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("502 not implemented")


@pytest.fixture
def ftp_server():
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), FTPHandler)
    server.daemon_threads = True
    server.state = ServerState()
    server.state.commands = []
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
    )
    thread.start()
    yield f"ftp://127.0.0.1:{server.server_address[1]}", server.state
    server.shutdown()
    server.server_close()


def test_ftp_resumes_with_rest_after_dropped_transfer(ftp_server, tmp_path):
    base, state = ftp_server
    data = payload()
    state.files["/vol1/a.fastq.gz"] = data
    state.faults = ["drop"]
    fetch(f"{base}/vol1/a.fastq.gz", tmp_path / "a.bin", md5=md5(data), **FAST)
    assert (tmp_path / "a.bin").read_bytes() == data
    assert f"REST {len(data) // 2}" in state.commands


def test_ftp_missing_file_is_an_error(ftp_server, tmp_path):
    base, _ = ftp_server
    with pytest.raises(KgpexError, match="FTP error 550"):
        fetch(f"{base}/nope.gz", tmp_path / "n.gz", **FAST)


# -- FASTQ and gzip checks --------------------------------------------------------------------


def fastq_text(n: int, length: int = 20) -> str:
    rng = random.Random(n)
    records = []
    for i in range(1, n + 1):
        seq = "".join(rng.choice("ACGT") for _ in range(length))
        records.append(f"@read{i}/1\n{seq}\n+\n{'I' * length}\n")
    return "".join(records)


def fastq_gz_bytes(n: int) -> bytes:
    return gzip.compress(fastq_text(n).encode())


def test_check_fastq_gz_counts_records(tmp_path):
    path = tmp_path / "ok.fastq.gz"
    path.write_bytes(fastq_gz_bytes(25))
    assert check_fastq_gz(path) == 25
    check_gzip(path)


def test_check_fastq_gz_accepts_missing_final_newline(tmp_path):
    path = tmp_path / "ok.fastq.gz"
    path.write_bytes(gzip.compress(fastq_text(3).rstrip("\n").encode()))
    assert check_fastq_gz(path) == 3


def test_truncated_gzip_is_rejected_with_file_name(tmp_path):
    data = gzip.compress(fastq_text(2000).encode())
    path = tmp_path / "cut.fastq.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(KgpexError, match=r"cut\.fastq\.gz: not a complete gzip file"):
        check_fastq_gz(path)
    with pytest.raises(KgpexError, match=r"cut\.fastq\.gz: not a complete gzip file"):
        check_gzip(path)


def test_not_gzip_is_rejected(tmp_path):
    path = tmp_path / "plain.fastq.gz"
    path.write_text(fastq_text(2))
    with pytest.raises(KgpexError, match=r"plain\.fastq\.gz: not a complete gzip file"):
        check_fastq_gz(path)


def test_non_fastq_is_rejected_at_record_1(tmp_path):
    path = tmp_path / "notes.fastq.gz"
    path.write_bytes(gzip.compress(b"<html>\nnot found\n</html>\n\n"))
    with pytest.raises(
        KgpexError, match=r"notes\.fastq\.gz: record 1: header does not start with '@'"
    ):
        check_fastq_gz(path)


def test_fastq_record_with_short_quality_is_named(tmp_path):
    lines = fastq_text(5).splitlines()
    lines[4 * 2 + 3] = lines[4 * 2 + 3][:-1]  # record 3's quality one shorter
    path = tmp_path / "bad.fastq.gz"
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    with pytest.raises(
        KgpexError, match=r"bad\.fastq\.gz: record 3: sequence has 20 bases, quality 19"
    ):
        check_fastq_gz(path)


def test_fastq_with_incomplete_last_record_is_rejected(tmp_path):
    lines = fastq_text(5).splitlines()[:-2]
    path = tmp_path / "short.fastq.gz"
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    with pytest.raises(KgpexError, match=r"short\.fastq\.gz: record 5: incomplete FASTQ record"):
        check_fastq_gz(path)


def test_empty_fastq_is_rejected(tmp_path):
    path = tmp_path / "empty.fastq.gz"
    path.write_bytes(gzip.compress(b""))
    with pytest.raises(KgpexError, match="no reads"):
        check_fastq_gz(path)


# -- MD5SUMS ----------------------------------------------------------------------------------


def test_md5sums_lookup(tmp_path):
    sums = tmp_path / "MD5SUMS"
    sums.write_text(
        f"{'a' * 32}  gencode.v38.annotation.gtf.gz\n"
        f"{'B' * 32} *gencode.v38.transcripts.fa.gz\n"
    )
    assert md5sums_lookup(sums, "gencode.v38.annotation.gtf.gz") == "a" * 32
    assert md5sums_lookup(sums, "/some/dir/gencode.v38.transcripts.fa.gz") == "b" * 32
    with pytest.raises(KgpexError, match="no md5 listed for GRCh38.genome.fa.gz"):
        md5sums_lookup(sums, "GRCh38.genome.fa.gz")
    sums.write_text("not-an-md5  file\n")
    with pytest.raises(KgpexError, match="MD5SUMS line 1"):
        md5sums_lookup(sums, "file")


# -- SRA fallback (sra-tools replaced on PATH by scripts that behave like them) ----------------


def _tool(bin_dir: Path, name: str, body: str) -> None:
    path = bin_dir / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


def test_sra_fallback_reports_a_failing_tool(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _tool(bin_dir, "prefetch", "echo 'err: item not found' >&2; exit 3\n")
    _tool(bin_dir, "fasterq-dump", "exit 0\n")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(
        KgpexError,
        match=r"SRA fallback for SRR1: 'prefetch SRR1' failed with exit code 3: err: item not found",
    ):
        sra_to_fastq("SRR1", tmp_path / "out")
    assert not list((tmp_path / "out").glob("*.gz"))


def test_sra_fallback_gzips_and_checks_both_mates(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    mate = tmp_path / "mate.fastq"
    mate.write_text(fastq_text(7))
    _tool(bin_dir, "prefetch", 'mkdir -p "$5/$1" && touch "$5/$1/$1.sra"\n')
    # fasterq-dump <dir> --split-files --threads N --outdir OUT --temp TMP
    _tool(
        bin_dir,
        "fasterq-dump",
        f'mkdir -p "$6"; r=$(basename "$1"); cp {mate} "$6/${{r}}_1.fastq"; cp {mate} "$6/${{r}}_2.fastq"\n',
    )
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    r1, r2 = sra_to_fastq("SRR2", tmp_path / "out", threads=2)
    assert r1 == tmp_path / "out" / "SRR2_1.fastq.gz" and r2 == tmp_path / "out" / "SRR2_2.fastq.gz"
    assert gzip.decompress(r1.read_bytes()).decode() == fastq_text(7)
    assert check_fastq_gz(r2) == 7
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "SRR2_1.fastq.gz",
        "SRR2_2.fastq.gz",
    ]


def _fake_sra_tools(tmp_path, monkeypatch, names: list[str], reads: int = 5) -> None:
    """prefetch and a fasterq-dump that writes ``names`` ({r}: the run), each ``reads`` reads."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(parents=True)
    fq = tmp_path / "reads.fastq"
    fq.write_text(fastq_text(reads))
    _tool(bin_dir, "prefetch", 'mkdir -p "$5/$1" && touch "$5/$1/$1.sra"\n')
    copies = "; ".join(f'cp {fq} "$6/{name.format(r="${r}")}"' for name in names)
    _tool(bin_dir, "fasterq-dump", f'mkdir -p "$6"; r=$(basename "$1"); {copies}\n')
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")


@pytest.mark.parametrize("dumped", ["{r}.fastq", "{r}_1.fastq"])
def test_sra_fallback_single_end_gives_one_checked_file(tmp_path, monkeypatch, dumped):
    _fake_sra_tools(tmp_path, monkeypatch, [dumped], reads=6)
    (reads,) = sra_to_fastq("SRR3", tmp_path / "out", layout="single")
    assert reads == tmp_path / "out" / "SRR3.fastq.gz"
    assert check_fastq_gz(reads) == 6
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["SRR3.fastq.gz"]


def test_sra_fallback_layout_must_match_what_fasterq_dump_wrote(tmp_path, monkeypatch):
    _fake_sra_tools(tmp_path, monkeypatch, ["{r}_1.fastq", "{r}_2.fastq"])
    with pytest.raises(KgpexError, match=r"SRA fallback for SRR4: the run table says single-end .*found: SRR4_1.fastq, SRR4_2.fastq\)"):
        sra_to_fastq("SRR4", tmp_path / "out", layout="single")
    with pytest.raises(KgpexError, match=r"did not write paired files .*found: SRR5.fastq\); if the run is single-end"):
        _fake_sra_tools(tmp_path / "b", monkeypatch, ["{r}.fastq"])
        sra_to_fastq("SRR5", tmp_path / "out", layout="paired")
    assert not list((tmp_path / "out").glob("*.gz"))


def test_sra_prefetch_logs_bytes_and_rate_while_it_runs(tmp_path, monkeypatch, caplog):
    _fake_sra_tools(tmp_path, monkeypatch, ["{r}_1.fastq", "{r}_2.fastq"])
    # A prefetch that takes about 0.4 s, writing 50 kB at a time.
    _tool(
        tmp_path / "bin",
        "prefetch",
        'mkdir -p "$5/$1"; for i in 1 2 3 4 5 6 7 8; do '
        'head -c 50000 /dev/zero >> "$5/$1/$1.sra"; sleep 0.05; done\n',
    )
    monkeypatch.setattr(fetch_module, "PROGRESS_SECONDS", 0.05)
    caplog.set_level(logging.INFO, logger="kgpex.common.fetch")
    sra_to_fastq("SRR6", tmp_path / "out")
    messages = [r.getMessage() for r in caplog.records]
    running = [m for m in messages if m.startswith("progress prefetch SRR6: ")]
    assert len(running) >= 2, messages
    for m in running:
        assert re.fullmatch(r"progress prefetch SRR6: [\d.]+ k?B at [\d.]+ [kM]?B/s", m), m
    assert re.fullmatch(r"done prefetch SRR6: 400\.0 kB at [\d.]+ [kM]?B/s in 0:00:0\d", messages[-1])
