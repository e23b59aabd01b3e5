"""A loopback HTTP proxy in front of a test registry: counts, delays and cuts blob GETs.

berthd talks to the proxy as if it were the registry (127.0.0.1 is insecure by
default, so plain http is used after the https attempt fails). Blob GETs are counted
per digest with the ``Range`` header they carried; ``cut_once`` makes the next GET of a
digest send half its body and drop the connection; ``delay`` holds blob bodies back;
``rate`` (bytes/s) slows them down.
"""

from __future__ import annotations

import http.client
import http.server
import re
import socket
import threading
import time
from collections import defaultdict
from typing import Any

from tests.helpers.ports import free_port

__all__ = ["RegistryProxy"]

_BLOB = re.compile(r"^/v2/.+/blobs/(sha256:[0-9a-f]{64})$")


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _forward(self) -> None:
        proxy = self.server.proxy
        length = int(self.headers.get("Content-Length") or 0)
        chunked = self.headers.get("Transfer-Encoding", "").lower() == "chunked"
        body: bytes | None = self.rfile.read(length) if length else None
        if chunked:
            parts = []
            while True:
                size = int(self.rfile.readline().strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                parts.append(self.rfile.read(size))
                self.rfile.readline()
            body = b"".join(parts)
        headers = {
            k: v
            for k, v in self.headers.items()
            if k.lower() not in ("host", "transfer-encoding", "connection")
        }
        if body is not None:
            headers["Content-Length"] = str(len(body))
        conn = http.client.HTTPConnection("127.0.0.1", proxy.upstream_port, timeout=60)
        path = self.path
        m = _BLOB.match(path.split("?")[0])
        digest = m.group(1) if m and self.command == "GET" else None
        if digest:
            with proxy.lock:
                proxy.blob_gets[digest].append(self.headers.get("Range", ""))
        conn.request(self.command, path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() in ("transfer-encoding", "connection"):
                continue
            if k.lower() == "content-length" and self.command != "HEAD":
                continue
            self.send_header(k, v)
        if self.command != "HEAD":
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        conn.close()
        if self.command == "HEAD":
            return
        if digest and self.command == "GET":
            with proxy.lock:
                cut = digest in proxy.cut_once
                proxy.cut_once.discard(digest)
            if proxy.delay:
                time.sleep(proxy.delay)
            if cut:
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
                return
            if proxy.rate:
                step = max(proxy.rate // 10, 1)
                for i in range(0, len(data), step):
                    self.wfile.write(data[i : i + step])
                    self.wfile.flush()
                    time.sleep(0.1)
                return
        self.wfile.write(data)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _forward  # noqa: N815


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    proxy: RegistryProxy


class RegistryProxy:
    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = free_port()
        self.lock = threading.Lock()
        self.blob_gets: dict[str, list[str]] = defaultdict(list)
        self.cut_once: set[str] = set()
        self.delay = 0.0
        self.rate = 0
        self._server = _Server(("127.0.0.1", self.port), _Handler)
        self._server.proxy = self
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def __enter__(self) -> RegistryProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
