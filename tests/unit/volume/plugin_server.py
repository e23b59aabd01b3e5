"""A small legacy volume plugin for tests: the VolumeDriver protocol on a unix socket.

Real HTTP on a real socket (``http.server`` in a thread), keeping volumes as
directories under its own state dir, so the daemon's plugin client, discovery
and adapter are exercised end to end. It records every call it gets.
"""

from __future__ import annotations

import json
import os
import socketserver
import threading
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any


class VolumePlugin:
    def __init__(
        self, socket_path: Path, state: Path, implements: tuple[str, ...] = ("VolumeDriver",)
    ) -> None:
        self.socket_path = socket_path
        self.state = state
        self.implements = list(implements)
        self.volumes: dict[str, dict[str, Any]] = {}
        self.mounts: dict[str, set[str]] = {}
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.headers: list[dict[str, str]] = []
        self.scope = "local"
        self._server: socketserver.ThreadingUnixStreamServer | None = None
        self._thread: threading.Thread | None = None

    # -- protocol --------------------------------------------------------------------
    def handle(self, method: str, req: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        self.calls.append((method, req))
        if method == "Plugin.Activate":
            return 200, {"Implements": self.implements}
        name = str(req.get("Name", ""))
        path = str(self.state / name)
        if method == "VolumeDriver.Create":
            if (req.get("Opts") or {}).get("fail"):
                return 200, {"Err": "create refused by plugin"}
            os.makedirs(path, exist_ok=True)
            self.volumes.setdefault(
                name, {"Opts": req.get("Opts"), "CreatedAt": "2024-01-02T03:04:05Z"}
            )
            return 200, {"Err": ""}
        if method == "VolumeDriver.Remove":
            if name not in self.volumes:
                return 200, {"Err": "no such volume"}
            self.volumes.pop(name)
            os.rmdir(path)
            return 200, {"Err": ""}
        if method == "VolumeDriver.Get":
            if name not in self.volumes:
                return 200, {"Err": "no such volume"}
            vol = self.volumes[name]
            return 200, {
                "Volume": {
                    "Name": name,
                    "Mountpoint": path if self.mounts.get(name) else "",
                    "CreatedAt": vol["CreatedAt"],
                    "Status": {"hello": "world"},
                },
                "Err": "",
            }
        if method == "VolumeDriver.List":
            vols = [{"Name": n, "Mountpoint": ""} for n in sorted(self.volumes)]
            return 200, {"Volumes": vols, "Err": ""}
        if method == "VolumeDriver.Path":
            return 200, {"Mountpoint": path, "Err": ""}
        if method == "VolumeDriver.Mount":
            self.mounts.setdefault(name, set()).add(str(req.get("ID")))
            return 200, {"Mountpoint": path, "Err": ""}
        if method == "VolumeDriver.Unmount":
            self.mounts.get(name, set()).discard(str(req.get("ID")))
            return 200, {"Err": ""}
        if method == "VolumeDriver.Capabilities":
            return 200, {"Capabilities": {"Scope": self.scope}}
        return 404, {"Err": f"unknown method {method}"}

    # -- serving ---------------------------------------------------------------------
    def start(self) -> VolumePlugin:
        plugin = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                req = json.loads(raw) if raw.strip() else {}
                plugin.headers.append(dict(self.headers))
                status, body = plugin.handle(self.path.lstrip("/"), req or {})
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/vnd.docker.plugins.v1.2+json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def address_string(self) -> str:
                return "unix"

        self.state.mkdir(parents=True, exist_ok=True)
        self.socket_path.parent.mkdir(parents=True, exist_ok=True)
        self._server = socketserver.ThreadingUnixStreamServer(str(self.socket_path), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
        try:
            self.socket_path.unlink()
        except FileNotFoundError:
            pass

    def methods(self) -> list[str]:
        return [m for m, _ in self.calls]
