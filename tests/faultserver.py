"""A loopback HTTP server for download tests: serves files with HTTP Range, and fails on demand.

Each path has a fault plan: a list of faults used one per request, then ``then`` (a fault for
every later request, e.g. "404" for a permanent one; None serves the file correctly). Faults:

- ``reset``: half of the body, then a TCP reset (RST) mid-transfer
- ``500``, ``503``: that status instead of the file
- ``truncate``: a correct Content-Length, half of the body, then a clean close
- ``wrong_bytes``: the right length, with bytes in the middle inverted (the md5 mismatches)
- ``stall``: headers and half of the body, then silence for ``stall_seconds``
- ``stall_headers``: silence for ``stall_seconds`` before any answer
- ``404``: Not Found
- ``ignore_range``: 200 and the whole file, whatever Range was asked
- ``redirect:<url>``: 302 to ``<url>``

Usage: ``with FaultServer(root) as server: server.plan("/a.gz", ["reset"]); server.url("/a.gz")``.
Requests are recorded (path, Range header, fault, status) for the tests to count.
"""

from __future__ import annotations

import socket
import struct
import ssl
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

FAULTS = (
    "reset",
    "500",
    "503",
    "truncate",
    "wrong_bytes",
    "stall",
    "stall_headers",
    "404",
    "ignore_range",
)
# Faults a client should get past by retrying; the rest stop it when they persist.
TRANSIENT = (
    "reset",
    "500",
    "503",
    "truncate",
    "wrong_bytes",
    "stall",
    "stall_headers",
    "ignore_range",
)


@dataclass(frozen=True)
class Request:
    path: str
    range: str | None
    fault: str | None
    status: int


@dataclass
class _Plan:
    faults: list[str]
    then: str | None


def corrupt(data: bytes) -> bytes:
    """``data`` with up to 256 bytes in the middle inverted: same length, different md5."""
    if not data:
        return data
    mid = len(data) // 2
    end = min(len(data), mid + 256)
    return data[:mid] + bytes(b ^ 0xFF for b in data[mid:end]) + data[end:]


class FaultServer:
    def __init__(self, root: str | Path | None = None, stall_seconds: float = 30.0,
                 tls: ssl.SSLContext | None = None):
        # tls: a server-side context to serve https (tests/test_http.py) instead of http.
        self.tls = tls
        self.root = Path(root).resolve() if root is not None else None
        self.stall_seconds = stall_seconds
        self.files: dict[str, bytes] = {}
        self._plans: dict[str, _Plan] = {}
        self._requests: list[Request] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- set-up -----------------------------------------------------------------------------

    def __enter__(self) -> FaultServer:
        server = _Server(("127.0.0.1", 0), _Handler)
        if self.tls is not None:
            server.socket = self.tls.wrap_socket(server.socket, server_side=True)
        server.faults = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()  # stalled handlers return now
        self._server.shutdown()
        self._server.server_close()

    @property
    def base(self) -> str:
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://127.0.0.1:{self._server.server_address[1]}"

    def url(self, path: str) -> str:
        return self.base + path

    def add(self, path: str, data: bytes) -> str:
        """Serve ``data`` at ``path``; return its URL."""
        self.files[path] = data
        return self.url(path)

    def plan(self, path: str, faults: list[str] | tuple[str, ...] = (), then: str | None = None):
        """Fail the next requests for ``path`` with ``faults`` in turn, then every later one
        with ``then`` (None: serve the file)."""
        for fault in [*faults, then]:
            if fault is not None and fault not in FAULTS and not fault.startswith("redirect:"):
                raise ValueError(f"unknown fault {fault!r} (known: {', '.join(FAULTS)})")
        with self._lock:
            self._plans[path] = _Plan(list(faults), then)

    def clear_plans(self) -> None:
        with self._lock:
            self._plans.clear()

    def requests(self, path: str | None = None) -> list[Request]:
        with self._lock:
            return [r for r in self._requests if path is None or r.path == path]

    def faults_served(self, path: str | None = None) -> list[str]:
        return [r.fault for r in self.requests(path) if r.fault is not None]

    # -- used by the handler ----------------------------------------------------------------

    def _next_fault(self, path: str) -> str | None:
        with self._lock:
            plan = self._plans.get(path)
            if plan is None:
                return None
            return plan.faults.pop(0) if plan.faults else plan.then

    def _record(self, path: str, range_header: str | None, fault: str | None, status: int):
        with self._lock:
            self._requests.append(Request(path, range_header, fault, status))

    def _body(self, path: str) -> bytes | None:
        if path in self.files:
            return self.files[path]
        if self.root is None:
            return None
        target = (self.root / path.lstrip("/")).resolve()
        if not target.is_relative_to(self.root) or not target.is_file():
            return None
        return target.read_bytes()

    def _stall(self) -> None:
        self._stop.wait(self.stall_seconds)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # stalled handlers must not hold up shutdown

    def handle_error(self, request, client_address):
        pass  # clients that time out and hang up are part of the tests


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # one request per connection

    def log_message(self, *args):
        pass

    def do_HEAD(self):
        self._serve(head=True)

    def do_GET(self):
        self._serve(head=False)

    def _serve(self, head: bool) -> None:
        server: FaultServer = self.server.faults
        path = self.path.split("?", 1)[0]
        range_header = self.headers.get("Range")
        fault = server._next_fault(path)

        def record(status: int) -> None:
            server._record(path, range_header, fault, status)

        if fault == "stall_headers":
            record(0)
            server._stall()
            return
        if fault in ("500", "503", "404"):
            record(int(fault))
            self.send_error(int(fault))
            return
        if fault and fault.startswith("redirect:"):
            record(302)
            self.send_response(302)
            self.send_header("Location", fault.removeprefix("redirect:"))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = server._body(path)
        if body is None:
            record(404)
            self.send_error(404)
            return
        start, end = 0, len(body) - 1
        ranged = range_header is not None and fault != "ignore_range"
        if ranged:
            parsed = _parse_range(range_header, len(body))
            if parsed is None:
                record(416)
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            start, end = parsed
            record(206)
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{end}/{len(body)}")
        else:
            record(200)
            self.send_response(200)
        self.send_header("Accept-Ranges", "bytes")
        part = body[start : end + 1]
        if fault == "wrong_bytes":
            part = corrupt(part)
        self.send_header("Content-Length", str(len(part)))
        self.end_headers()
        if head:
            return
        if fault in ("reset", "truncate", "stall"):
            self.wfile.write(part[: len(part) // 2])
            self.wfile.flush()
            if fault == "stall":
                server._stall()
            elif fault == "reset":
                # Let the bytes reach the client first, then close with RST instead of FIN.
                server._stop.wait(0.05)
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
            self.close_connection = True
            self.connection.close()
            return
        self.wfile.write(part)


def _parse_range(header: str, length: int) -> tuple[int, int] | None:
    """First byte and last byte of a single ``bytes=a-b`` / ``bytes=a-`` range; None when it
    starts past the end (416)."""
    spec = header.strip().removeprefix("bytes=").split(",")[0].strip()
    first, _, last = spec.partition("-")
    if not first:  # suffix range: the last N bytes
        n = int(last)
        return max(0, length - n), length - 1
    start = int(first)
    end = min(int(last), length - 1) if last else length - 1
    if start >= length:
        return None
    return start, end
