"""A local HTTP server for download tests: serves a directory on 127.0.0.1 (random port) in a thread.

Supports single-range ``Range: bytes=a-`` / ``bytes=a-b`` requests (206, 416 when out of range) and can be
told to fail a path with an HTTP status, to cut a response after N body bytes (an interrupted transfer),
to ignore Range headers (answer 200 with the whole file), to stall before the body (to exercise client
timeouts), to drip the body a few bytes at a time (every read returns quickly, the transfer never ends in
time: an overall deadline must fire), or to omit ``Content-Length`` (the body ends when the connection closes).
Every request is recorded.

Usage in a test module::

    from helpers.httpserver import LocalHTTPServer, http_server  # noqa: F401  (http_server is a pytest fixture)

    def test_x(http_server):
        (http_server.root / "a.bin").write_bytes(b"...")
        url = http_server.url("a.bin")
"""

from __future__ import annotations

import http.server
import re
import shutil
import socket
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

__all__ = ["LocalHTTPServer", "RequestRecord", "http_server", "unused_url"]


@dataclass(frozen=True)
class RequestRecord:
    """One request as the server saw it."""

    method: str
    path: str  # URL path without the leading slash, percent-decoded
    range: str | None  # the Range header, if any
    status: int  # the status the server answered with


@dataclass
class _Rule:
    value: int
    times: int | None  # None: every request


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"  # one response per connection: a cut transfer is a closed socket

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - silence stderr logging
        pass

    def do_GET(self) -> None:  # noqa: N802
        self._serve(body=True)

    def do_HEAD(self) -> None:  # noqa: N802
        self._serve(body=False)

    def _serve(self, body: bool) -> None:
        owner = self.server.owner
        rel = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path).lstrip("/")
        range_header = self.headers.get("Range")
        fail = owner._take(owner._fail, rel)
        if fail is not None:
            self._status_only(fail, rel, range_header)
            return
        target = (owner.root / rel).resolve()
        if owner.root.resolve() not in (target, *target.parents) or not target.is_file():
            self._status_only(404, rel, range_header)
            return
        size = target.stat().st_size
        start, end = 0, size - 1
        status = 200
        ignore = owner._take(owner._ignore_range, rel) is not None
        match = re.fullmatch(r"bytes=(\d+)-(\d*)", (range_header or "").strip())
        if match and not ignore:
            start = int(match.group(1))
            end = min(int(match.group(2)), size - 1) if match.group(2) else size - 1
            if start >= size or start > end:
                owner._record(self.command, rel, range_header, 416)
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            status = 206
        length = end - start + 1
        cut = owner._take(owner._cut, rel)
        drip = owner._take(owner._drip, rel)
        no_length = owner._take(owner._no_length, rel) is not None
        owner._record(self.command, rel, range_header, status)
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        if not no_length:
            self.send_header("Content-Length", str(length))
        self.send_header("Accept-Ranges", "bytes")
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.end_headers()
        if not body:
            return
        stall = owner._take(owner._stall, rel)
        if stall is not None:
            time.sleep(stall / 1000)
        limit = length if cut is None else min(cut, length)
        step = 65536 if drip is None else owner._drip_bytes
        with open(target, "rb") as fh:
            fh.seek(start)
            remaining = limit
            while remaining > 0:
                chunk = fh.read(min(step, remaining))
                if not chunk:
                    break
                self.wfile.write(chunk)
                remaining -= len(chunk)
                if drip is not None:
                    self.wfile.flush()
                    time.sleep(drip / 1000)
        self.wfile.flush()
        if cut is not None or no_length:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _status_only(self, status: int, rel: str, range_header: str | None) -> None:
        self.server.owner._record(self.command, rel, range_header, status)
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    owner: LocalHTTPServer

    def handle_error(self, request: object, client_address: object) -> None:
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return  # the client gave up (timeout test) or we cut the transfer on purpose
        super().handle_error(request, client_address)


class LocalHTTPServer:
    """Serve ``root`` on ``http://127.0.0.1:<random port>/`` from a background thread."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.requests: list[RequestRecord] = []
        self._lock = threading.Lock()
        self._fail: dict[str, _Rule] = {}
        self._cut: dict[str, _Rule] = {}
        self._ignore_range: dict[str, _Rule] = {}
        self._stall: dict[str, _Rule] = {}
        self._drip: dict[str, _Rule] = {}
        self._drip_bytes = 1024
        self._no_length: dict[str, _Rule] = {}
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # lifecycle
    def start(self) -> LocalHTTPServer:
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.owner = self
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, name="LocalHTTPServer", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> LocalHTTPServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # addresses
    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def url(self, path: str) -> str:
        """The URL serving ``root/path``."""
        return self.base_url + urllib.parse.quote(path.lstrip("/"))

    def add_file(self, path: str, data: bytes | Path) -> str:
        """Put ``data`` (bytes or a file to copy) at ``root/path``; returns its URL."""
        target = self.root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, Path):
            shutil.copyfile(data, target)
        else:
            target.write_bytes(data)
        return self.url(path)

    # behaviour switches (times=None: every request; otherwise only the next ``times`` requests)
    def fail(self, path: str, status: int = 404, times: int | None = None) -> None:
        """Answer requests for ``path`` with ``status`` and an empty body."""
        with self._lock:
            self._fail[path.lstrip("/")] = _Rule(status, times)

    def cut(self, path: str, after_bytes: int, times: int | None = 1) -> None:
        """Send full headers but close the connection after ``after_bytes`` body bytes."""
        with self._lock:
            self._cut[path.lstrip("/")] = _Rule(after_bytes, times)

    def ignore_range(self, path: str, times: int | None = None) -> None:
        """Answer 200 with the whole file even when a Range header is sent."""
        with self._lock:
            self._ignore_range[path.lstrip("/")] = _Rule(1, times)

    def stall(self, path: str, seconds: float, times: int | None = 1) -> None:
        """Send the headers, then wait ``seconds`` before the body (a client timeout should fire)."""
        with self._lock:
            self._stall[path.lstrip("/")] = _Rule(round(seconds * 1000), times)

    def drip(self, path: str, every: float, nbytes: int = 1024, times: int | None = None) -> None:
        """Send the body ``nbytes`` at a time, ``every`` seconds apart (a slow-drip server)."""
        with self._lock:
            self._drip[path.lstrip("/")] = _Rule(round(every * 1000), times)
            self._drip_bytes = nbytes

    def omit_length(self, path: str, times: int | None = None) -> None:
        """Answer without ``Content-Length``; the body ends when the connection closes."""
        with self._lock:
            self._no_length[path.lstrip("/")] = _Rule(1, times)

    def reset(self) -> None:
        """Forget every failure rule and the request log."""
        with self._lock:
            self._fail.clear()
            self._cut.clear()
            self._ignore_range.clear()
            self._stall.clear()
            self._drip.clear()
            self._no_length.clear()
            self.requests.clear()

    # inspection
    def count(self, path: str) -> int:
        """How many requests reached ``path``."""
        path = path.lstrip("/")
        with self._lock:
            return sum(1 for r in self.requests if r.path == path)

    def requests_for(self, path: str) -> list[RequestRecord]:
        path = path.lstrip("/")
        with self._lock:
            return [r for r in self.requests if r.path == path]

    # internals (called from handler threads)
    def _take(self, rules: dict[str, _Rule], path: str) -> int | None:
        with self._lock:
            rule = rules.get(path)
            if rule is None:
                return None
            if rule.times is not None:
                rule.times -= 1
                if rule.times <= 0:
                    del rules[path]
            return rule.value

    def _record(self, method: str, path: str, range_header: str | None, status: int) -> None:
        with self._lock:
            self.requests.append(RequestRecord(method, path, range_header, status))


def unused_url(path: str = "file.bin") -> str:
    """An http://127.0.0.1 URL on a port nobody listens on (connection refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/{path}"


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[LocalHTTPServer]:
    """A started :class:`LocalHTTPServer` serving a fresh ``tmp_path/http-root``."""
    with LocalHTTPServer(tmp_path / "http-root") as server:
        yield server
