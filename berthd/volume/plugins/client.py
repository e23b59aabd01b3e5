"""A blocking client for the legacy plugin protocol (moby's ``pkg/plugins.Client``).

Every call is ``POST /<Method>`` with a JSON body and
``Accept: application/vnd.docker.plugins.v1.2+json``; the answer is JSON. A
plugin that cannot be reached is retried with exponential back-off (1 s, 2 s,
4 s …) until ``retry_timeout`` has passed, because plugins often start after the
daemon. A non-200 answer carries ``{"Err": "…"}``.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import orjson

from berthd.errdefs import InvalidParameter, System
from berthd.volume.plugins.discovery import PluginAddr

__all__ = ["MIMETYPE", "PluginClient", "PluginError", "PluginUnreachable"]

MIMETYPE = "application/vnd.docker.plugins.v1.2+json"
DEFAULT_TIMEOUT = 30.0


class PluginError(System):
    """The plugin answered with an error (``<Method>: <Err>``)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class PluginUnreachable(System):
    """The plugin could not be reached (after retrying, if asked to)."""


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


def _ssl_context(addr: PluginAddr) -> ssl.SSLContext | None:
    if addr.tls is None:
        return None
    ctx = ssl.create_default_context(cafile=addr.tls.ca_file or None)
    if addr.tls.insecure_skip_verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if addr.tls.cert_file:
        ctx.load_cert_chain(addr.tls.cert_file, addr.tls.key_file or None)
    return ctx


def backoff(retries: int, limit: float = DEFAULT_TIMEOUT) -> float:
    """moby's ``backoff``: 1, 2, 4 … seconds, capped at ``limit``."""
    return float(min(2**retries, limit))


class PluginClient:
    def __init__(
        self,
        addr: PluginAddr,
        timeout: float = DEFAULT_TIMEOUT,
        retry_timeout: float = DEFAULT_TIMEOUT,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.addr = addr
        self.timeout = timeout
        self.retry_timeout = retry_timeout
        self._sleep = sleep
        self._clock = clock
        u = urlsplit(addr.addr)
        self._scheme = u.scheme
        if u.scheme == "unix":
            self._target = u.path or u.netloc
        elif u.scheme in ("tcp", "http", "https"):
            self._target = u.netloc
        else:
            raise InvalidParameter(f"unknown plugin address scheme: {addr.addr}")
        self._ssl = _ssl_context(addr)

    def _connection(self) -> http.client.HTTPConnection:
        if self._scheme == "unix":
            return _UnixConnection(self._target, self.timeout)
        if self._ssl is not None or self._scheme == "https":
            return http.client.HTTPSConnection(
                self._target, timeout=self.timeout, context=self._ssl
            )
        return http.client.HTTPConnection(self._target, timeout=self.timeout)

    def _once(self, method: str, body: bytes) -> tuple[int, bytes]:
        conn = self._connection()
        try:
            conn.request("POST", "/" + method, body=body, headers={"Accept": MIMETYPE})
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def call(self, method: str, args: Any = None, retry: bool = True) -> dict[str, Any]:
        """Call ``method``; the decoded answer (an object), or a PluginError."""
        body = b"" if args is None else orjson.dumps(args) + b"\n"
        start = self._clock()
        retries = 0
        while True:
            try:
                status, data = self._once(method, body)
                break
            except (OSError, http.client.HTTPException) as e:
                wait = backoff(retries, self.retry_timeout)
                if not retry or wait + (self._clock() - start) >= self.retry_timeout:
                    raise PluginUnreachable(
                        f'Post "http://plugin/{method}": {self.addr.addr}: {e}'
                    ) from None
                retries += 1
                self._sleep(wait)
        if status != 200:
            err = data.decode(errors="replace")
            try:
                decoded = orjson.loads(data)
                if isinstance(decoded, dict) and decoded.get("Err"):
                    err = str(decoded["Err"])
            except orjson.JSONDecodeError:
                pass
            raise PluginError(f"{method}: {err}", status)
        if not data.strip():
            return {}
        try:
            decoded = orjson.loads(data)
        except orjson.JSONDecodeError as e:
            raise PluginError(f"{method}: error reading plugin resp: {e}") from None
        if decoded is None:
            return {}
        if not isinstance(decoded, dict):
            raise PluginError(f"{method}: error reading plugin resp: not an object")
        return decoded
