"""The one download function every stage uses (reads, reference, VCFs, run tables, metadata, matrices), and the checks around it.

``fetch`` moves a file from an https://, ftp:// or file:// URL (http:// where the config allows
it) to ``dest`` through ``<dest>.partial``: interrupted transfers resume (HTTP Range, FTP REST),
network errors, server errors, stalls longer than the timeout and transfers that fail
verification are retried with exponential backoff, and the size, md5 and an optional content
check are verified before the file gets its final name. A transfer logs its progress (bytes,
rate, time left) every PROGRESS_SECONDS (class Progress, which SRA's prefetch uses too). A full
disk is not retried: it stops at once with one line naming ``dest`` (the partial file of an
HTTP/FTP transfer stays, so the rerun after space is freed resumes). Only hosts on the allowed
list are contacted, redirects included. Only the standard library is used, so the module runs in
any conda env or container that has Python.
"""

from __future__ import annotations

import ftplib
import gzip
import hashlib
import http.client
import logging
import os
import re
import time
import urllib.error
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path
from urllib.parse import unquote, urlparse

from kgpex.common.diskspace import is_no_space, naming_no_space, no_space_error
from kgpex.common.errors import KgpexError
from kgpex.common.http import UrlPolicy, open_url

log = logging.getLogger(__name__)


CHUNK = 1 << 20

# How often a running transfer logs a progress line (class Progress).
PROGRESS_SECONDS = 30.0


class TransientError(Exception):
    """A failure worth retrying: network error, server error (5xx), short read."""


class _RestartFromScratch(Exception):
    """The partial file cannot be resumed (wrong range, too large): delete it and start over."""


class _FailedVerification(Exception):
    """A complete transfer whose bytes are wrong (md5, size): download again from scratch."""


class _FailedCheck(_FailedVerification):
    """A complete transfer that failed the content check, with no md5 to tell transfer from
    source: download once more."""


def _check_dest(dest: Path) -> None:
    """``dest`` must lie under the working directory (compared without resolving symlinks, so
    a results folder linked to scratch storage stays allowed)."""
    workdir = os.getcwd()
    absolute = os.path.normpath(os.path.join(workdir, dest))
    if os.path.commonpath([workdir, absolute]) != workdir:
        raise KgpexError(f"{dest}: download destination outside the working directory {workdir}")


def fetch(
    url: str,
    dest: str | os.PathLike,
    md5: str | None = None,
    size: int | None = None,
    retries: int = 5,
    backoff: float = 2.0,
    timeout: float = 120,
    check: Callable[[Path], None] | None = None,
    allowed_hosts: Iterable[str] | None = None,
    allow_http: bool = True,
    allow_file: bool = True,
    within_workdir: bool = False,
    label: str | None = None,
) -> Path:
    """Download ``url`` to ``dest``; return ``dest``.

    Data goes to ``<dest>.partial`` (kept between attempts and between runs, so a killed job
    resumes). Network errors, 5xx/408/429 answers, short reads, stalls of more than ``timeout``
    seconds and md5 or size mismatches (the partial file is discarded first) each use one of
    ``retries`` retries, after ``backoff * 2**(n-1)`` seconds. A permanent error (4xx, a missing
    file, a host not allowed) fails at once. ``check(path)`` runs on the complete, verified
    partial file before the rename; if it fails the partial file is removed and, when no md5
    vouched for the bytes, the file is downloaded once more (a transfer corrupted on the way
    looks like a corrupt file); otherwise the check's KgpexError is final. Every failure is one KgpexError line
    naming the URL, after ``label`` when one is given (e.g. "run SRR1 mate 1"); a failed check
    names ``dest``. ``allowed_hosts``, ``allow_http``, ``allow_file``: see ``allowed_url``;
    ``within_workdir``: ``dest`` must lie under the working directory.
    """
    dest = Path(dest)
    prefix = f"{label}: " if label else ""
    try:
        if within_workdir:
            _check_dest(dest)
        hosts = None if allowed_hosts is None else tuple(allowed_hosts)
        policy = UrlPolicy(hosts, allow_http, allow_file, timeout, retries, backoff)
        source = policy.check(url)
    except KgpexError as err:
        raise KgpexError(f"{prefix}{err}") from None
    where = f"{prefix}{source}" + (f" (given as {url})" if source != url else "")
    with naming_no_space(dest, f"while downloading {where}"):
        dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".partial")
    md5 = md5.strip().lower() if md5 else None
    size = int(size) if size not in (None, "") else None

    attempt = 0
    check_retries_left = 0 if md5 else 1
    while True:
        try:
            _transfer(source, partial, size, policy)
            _verify(partial, size, md5)
            if check is not None:
                # Out of retries, the check's own message is the clearest last word.
                _run_check(check, partial, dest, retry=check_retries_left > 0 and attempt < retries)
            os.replace(partial, dest)
            return dest
        except KgpexError as err:
            raise KgpexError(f"{where}: {err}") from None
        except _FailedVerification as why:
            partial.unlink(missing_ok=True)
            err = why
            if isinstance(why, _FailedCheck):
                check_retries_left -= 1
        except _RestartFromScratch as why:
            log.warning("%s: %s: restarting from byte 0", url, why)
            partial.unlink(missing_ok=True)
            err = why
        except TransientError as why:
            err = why
        except (OSError, http.client.HTTPException, EOFError) as why:
            if is_no_space(why):
                # Retrying cannot help. A local copy starts from scratch anyway: free its space.
                full = no_space_error(dest, why, f"while downloading {where}")
                if urlparse(source).scheme == "file":
                    partial.unlink(missing_ok=True)
                raise full from why
            # URLError, timeouts (stalls), refused/reset connections, IncompleteRead.
            err = why
        attempt += 1
        if attempt > retries:
            raise KgpexError(f"{where}: download failed after {attempt} attempts: {_describe(err)}")
        delay = backoff * 2 ** (attempt - 1)
        log.warning(
            "%s: attempt %d failed (%s); retrying in %.3g s", url, attempt, _describe(err), delay
        )
        time.sleep(delay)


def _verify(partial: Path, size: int | None, md5: str | None) -> None:
    actual_size = partial.stat().st_size
    if size is not None and actual_size < size:
        raise TransientError(f"short read: {actual_size} of {size} bytes")
    if size is not None and actual_size > size:
        raise _FailedVerification(f"size mismatch: expected {size} bytes, got {actual_size}")
    if md5 is not None:
        actual_md5 = md5_of(partial)
        if actual_md5 != md5:
            raise _FailedVerification(f"md5 mismatch: expected {md5}, got {actual_md5}")


def _run_check(check, partial: Path, dest: Path, retry: bool) -> None:
    try:
        check(partial)
    except KgpexError as err:
        # Name the file by its final name rather than the partial one.
        text = str(err).replace(str(partial), str(dest))
        if retry:
            raise _FailedCheck(text) from None
        partial.unlink(missing_ok=True)
        raise KgpexError(text) from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def _describe(err: BaseException) -> str:
    text = str(err) or type(err).__name__
    return " ".join(text.split())


def _transfer(url: str, partial: Path, size: int | None, policy: UrlPolicy) -> None:
    scheme = urlparse(url).scheme
    if scheme == "file":
        _copy_file(url, partial)
    elif scheme == "ftp":
        _ftp(url, partial, size, policy.timeout)
    else:
        _http(url, partial, size, policy)


class Progress:
    """A transfer's progress, logged at most every PROGRESS_SECONDS: bytes done, and where the
    total is known the percentage and the time left, e.g. "12.3 of 45.6 MB (27 %) at 3.21 MB/s,
    0:00:10 left". The rate counts only the bytes that arrived since this transfer started (a
    resumed offset came earlier, and counting it would make the time left too short); the time
    left is what remains at that rate. ``clock``: seconds, monotonic (tests pass their own)."""

    def __init__(
        self,
        what: str,
        offset: int = 0,
        total: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.what, self.total, self.clock = what, total, clock
        self.start_bytes = self.done = offset
        self.t0 = self.last = clock()

    def add(self, n: int) -> None:
        self.update(self.done + n)

    def update(self, done: int) -> None:
        """``done`` bytes in all (offset included); logs a line if one is due."""
        self.done = done
        now = self.clock()
        if now - self.last >= PROGRESS_SECONDS:
            self.last = now
            self.report("progress")

    def line(self) -> str:
        elapsed = self.clock() - self.t0
        rate = (self.done - self.start_bytes) / elapsed if elapsed > 0 else 0.0
        if self.total:
            scale, unit = _unit(self.total)
            # Rounded down: "100 %" only when every byte is there.
            percent = 100 * self.done // self.total
            text = (
                f"{_amount(self.done, scale)} of {_amount(self.total, scale)} {unit} "
                f"({percent} %)"
            )
        else:
            scale, unit = _unit(self.done)
            text = f"{_amount(self.done, scale)} {unit}"
        rate_scale, rate_unit = _unit(rate)
        text += f" at {rate / rate_scale:.2f} {rate_unit}/s"
        if self.total and self.done < self.total:
            if rate > 0:
                text += f", {clock_time((self.total - self.done) / rate)} left"
            else:
                text += ", time left unknown"  # nothing arrived yet: no rate to go by
        return text

    def report(self, what: str) -> None:
        log.info("%s %s: %s", what, self.what, self.line())

    def finish(self, what: str = "fetched") -> None:
        log.info(
            "%s %s: %s in %s", what, self.what, self.line(), clock_time(self.clock() - self.t0)
        )


def _unit(n: float) -> tuple[float, str]:
    for scale, unit in ((1e9, "GB"), (1e6, "MB"), (1e3, "kB")):
        if n >= scale:
            return scale, unit
    return 1.0, "B"


def _amount(n: int, scale: float) -> str:
    return f"{n:d}" if scale == 1 else f"{n / scale:.1f}"


def clock_time(seconds: float) -> str:
    """``seconds`` as H:MM:SS (hours not wrapped into days)."""
    s = max(0, round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _copy_file(url: str, partial: Path) -> None:
    source = Path(unquote(urlparse(url).path))
    if not source.is_file():
        raise KgpexError("no such file")
    # A local copy is cheap: always from scratch, no resume logic to get wrong. A large one
    # (a mounted share) still logs its progress.
    progress = Progress(url, 0, source.stat().st_size)
    with open(source, "rb") as src, open(partial, "wb") as out:
        _copy_stream(lambda: src.read(CHUNK), out, progress)
    progress.finish("copied")


_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")

_UNSATISFIED_RANGE = re.compile(r"bytes\s+\*/(\d+)")


def _http(url: str, partial: Path, size: int | None, policy: UrlPolicy) -> None:
    offset = partial.stat().st_size if partial.exists() else 0
    if size is not None and offset > size:
        raise _RestartFromScratch(f"partial file has {offset} bytes, more than {size}")
    if size is not None and offset == size:
        return
    headers = {"Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        # The policy's redirect rule: allowed hosts only, no https -> http, http only if allowed.
        response = open_url(url, policy, headers)
    except urllib.error.HTTPError as err:
        if err.code == 416 and offset:
            # Range starts at or past the end: complete if the server's total is what we hold.
            match = _UNSATISFIED_RANGE.match(err.headers.get("Content-Range", ""))
            if match and int(match.group(1)) == offset:
                return
            raise _RestartFromScratch(f"HTTP 416 for a range from byte {offset}") from None
        if err.code >= 500 or err.code in (408, 429):
            raise TransientError(f"HTTP {err.code} {err.reason}") from None
        raise KgpexError(f"HTTP {err.code} {err.reason}") from None
    with response:
        if offset and response.status == 206:
            match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
            if not match or int(match.group(1)) != offset:
                raise _RestartFromScratch(
                    f"server answered range {response.headers.get('Content-Range')!r} "
                    f"to a request from byte {offset}"
                )
            total = None if match.group(3) == "*" else int(match.group(3))
            mode = "ab"
        else:
            if offset:
                log.info("%s: server ignored the Range request; downloading from byte 0", url)
            offset, mode = 0, "wb"
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
        if size is not None and total is not None and total != size:
            raise KgpexError(f"server reports {total} bytes, expected {size}")
        progress = Progress(url, offset, total)
        # read1: what arrived before a reset or a stall is written, so the next attempt
        # resumes after it.
        with open(partial, mode) as out:
            _copy_stream(lambda: response.read1(CHUNK), out, progress)
        if total is not None and progress.done < total:
            raise TransientError(f"connection closed after {progress.done} of {total} bytes")
        progress.finish()


def _copy_stream(read_chunk, out, progress) -> None:
    """Append chunks to ``out`` until the source is exhausted, counting them for the progress line."""
    while chunk := read_chunk():
        out.write(chunk)
        progress.add(len(chunk))


def _ftp(url: str, partial: Path, size: int | None, timeout: float) -> None:
    parsed = urlparse(url)
    path = unquote(parsed.path)
    offset = partial.stat().st_size if partial.exists() else 0
    if size is not None and offset > size:
        raise _RestartFromScratch(f"partial file has {offset} bytes, more than {size}")
    try:
        with ftplib.FTP(timeout=timeout) as ftp:
            ftp.connect(parsed.hostname, parsed.port or 21)
            ftp.login(
                unquote(parsed.username or "anonymous"), unquote(parsed.password or "anonymous@")
            )
            ftp.voidcmd("TYPE I")
            total = _ftp_size(ftp, path)
            if size is not None and total is not None and total != size:
                raise KgpexError(f"server reports {total} bytes, expected {size}")
            if total is not None and offset > total:
                raise _RestartFromScratch(f"partial file has {offset} bytes, more than {total}")
            if total is not None and offset == total:
                return
            try:
                conn = ftp.transfercmd(f"RETR {path}", rest=offset or None)
                mode = "ab" if offset else "wb"
            except ftplib.error_perm as err:
                if not offset or not str(err).startswith(("500", "501", "502", "504")):
                    raise
                # The server does not know REST: fall back to a full transfer.
                log.info("%s: server refused REST (%s); downloading from byte 0", url, err)
                offset, mode = 0, "wb"
                conn = ftp.transfercmd(f"RETR {path}")
            progress = Progress(url, offset, total)
            with conn, open(partial, mode) as out:
                _copy_stream(lambda: conn.recv(CHUNK), out, progress)
            ftp.voidresp()
    except ftplib.error_perm as err:
        raise KgpexError(f"FTP error {_describe(err)}") from None
    except (ftplib.error_temp, ftplib.error_reply, ftplib.error_proto, EOFError) as err:
        raise TransientError(f"FTP error {_describe(err)}") from None
    if total is not None and progress.done < total:
        raise TransientError(f"connection closed after {progress.done} of {total} bytes")
    progress.finish()


def _ftp_size(ftp: ftplib.FTP, path: str) -> int | None:
    try:
        return ftp.size(path)
    except ftplib.error_perm as err:
        if str(err).startswith("550"):
            raise
        return None  # SIZE not supported: rely on the md5 / size the caller gave


def md5_of(path: str | os.PathLike) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def md5sums_lookup(md5sums_file: str | os.PathLike, filename: str) -> str:
    """The md5 of ``filename`` (matched by base name) in an MD5SUMS file (``<md5>  <name>``)."""
    name = Path(filename).name
    with open(md5sums_file) as fh:
        for n, line in enumerate(fh, start=1):
            fields = line.split()
            if not fields or line.startswith("#"):
                continue
            if len(fields) != 2 or not re.fullmatch(r"[0-9a-fA-F]{32}", fields[0]):
                raise KgpexError(f"{md5sums_file} line {n}: expected '<md5>  <file name>'")
            # md5sum marks binary mode with '*' before the name.
            if Path(fields[1].lstrip("*")).name == name:
                return fields[0].lower()
    raise KgpexError(f"{md5sums_file}: no md5 listed for {name}")


def check_gzip(path: str | os.PathLike) -> None:
    """Decompress the whole file: a truncated or corrupt gzip stream raises a KgpexError."""
    try:
        with gzip.open(path, "rb") as fh:
            while fh.read(4 * CHUNK):
                pass
    except (OSError, EOFError, zlib.error) as err:
        raise KgpexError(f"{path}: not a complete gzip file ({_describe(err)})") from None
