"""``docker cp``: stat, read and write paths inside a container (moby daemon/archive*.go).

Every operation runs in a child process (``cpchild.py``) that sees the
container's root with its volumes and bind mounts in place, chrooted: the
daemon itself never resolves a path inside a container, so a symlink there
(``/etc -> /``, ``link -> ../..``) can only ever lead to another place in the
same container. The container's rw layer is mounted for the duration (it is
reference-counted, so a running container is unaffected), which is what lets
cp work on stopped containers too.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from collections.abc import AsyncIterator
from typing import Any

import berthd
from berthd import errdefs
from berthd.container import Container
from berthd.daemon.containers import cpchild
from berthd.layer import LayerStore
from berthd.oci.mounts import parse_bind, parse_mount_spec

__all__ = ["ArchiveOps", "container_mounts"]

_CHILD = cpchild.__file__
# Where the child finds berthd's stdlib-only helpers (it runs with -I -S).
_PYTHONPATH = os.path.dirname(os.path.dirname(os.path.abspath(berthd.__file__)))
_CHUNK = 1 << 16


def container_mounts(c: Container) -> list[dict[str, Any]]:
    """What the container sees mounted over its root: volumes, binds, network files.

    Volumes come from ``mount_points`` (their host path is recorded there, so a
    stopped container needs no volume mount); binds from HostConfig. tmpfs mounts
    are the container's own and, as in dockerd, not part of the copy's view.
    """
    out: dict[str, dict[str, Any]] = {}
    for dest, rec in c.mount_points.items():
        if rec.get("Type") == "volume" and rec.get("Source"):
            out[dest] = {"dest": dest, "source": rec["Source"], "rw": bool(rec.get("RW", True))}
    points = [parse_bind(str(b)) for b in c.host_config.get("Binds") or []]
    points += [
        parse_mount_spec(m, validate_bind_source=False) for m in c.host_config.get("Mounts") or []
    ]
    for mp in points:
        if mp.type == "bind" and mp.source:
            out[mp.destination] = {"dest": mp.destination, "source": mp.source, "rw": mp.rw}
    files = (
        ("/etc/hostname", c.hostname_path),
        ("/etc/hosts", c.hosts_path),
        ("/etc/resolv.conf", c.resolv_conf_path),
    )
    for dest, src in files:
        if src and dest not in out and os.path.exists(src):
            out[dest] = {"dest": dest, "source": src, "rw": True}
    return list(out.values())


def _error(kind: str, message: str, path: str, name: str) -> errdefs.BerthdError:
    if kind == "notfound":
        return errdefs.NotFound(f"Could not find the file {path} in container {name}")
    if kind == "invalid":
        return errdefs.InvalidParameter(message)
    return errdefs.System(message)


async def _status(proc: asyncio.subprocess.Process) -> dict[str, Any]:
    assert proc.stdout is not None
    line = await proc.stdout.readline()
    if not line:
        await proc.wait()
        return {"error": f"copy helper exited with status {proc.returncode}", "kind": "system"}
    out: dict[str, Any] = json.loads(line)
    return out


class ArchiveOps:
    """The three archive verbs over one layer store."""

    def __init__(self, layers: LayerStore, log_event: Any) -> None:
        self.layers = layers
        self._log_event = log_event

    async def _spawn(self, c: Container, op: str, **extra: Any) -> asyncio.subprocess.Process:
        if c.state.removal_in_progress or c.state.dead:
            raise errdefs.Conflict(f"container {c.id} is being removed or is dead")
        root = await asyncio.to_thread(self.layers.mount, c.id)
        req = {
            "op": op,
            "root": root,
            "mounts": container_mounts(c),
            "pythonpath": _PYTHONPATH,
            **extra,
        }
        try:
            return await asyncio.create_subprocess_exec(
                sys.executable,
                "-I",
                "-S",
                _CHILD,
                json.dumps(req),
                stdin=asyncio.subprocess.PIPE if op == "put" else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                cwd="/",
            )
        except BaseException:
            await asyncio.to_thread(self.layers.unmount, c.id)
            raise

    async def _finish(self, c: Container, proc: asyncio.subprocess.Process) -> None:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
        await proc.wait()
        await asyncio.to_thread(self.layers.unmount, c.id)

    async def stat(self, c: Container, name: str, path: str) -> dict[str, Any]:
        """``HEAD /containers/{name}/archive``."""
        proc = await self._spawn(c, "stat", path=path)
        try:
            status = await _status(proc)
        finally:
            await self._finish(c, proc)
        if "error" in status:
            raise _error(status["kind"], status["error"], path, name)
        st: dict[str, Any] = status["stat"]
        return st

    async def get(
        self, c: Container, name: str, path: str
    ) -> tuple[dict[str, Any], AsyncIterator[bytes]]:
        """``GET /containers/{name}/archive``: the stat, then the tar stream."""
        proc = await self._spawn(c, "get", path=path)
        try:
            status = await _status(proc)
        except BaseException:
            await self._finish(c, proc)
            raise
        if "error" in status:
            await self._finish(c, proc)
            raise _error(status["kind"], status["error"], path, name)
        self._log_event(c, "archive-path")
        return status["stat"], self._stream(c, proc)

    async def _stream(self, c: Container, proc: asyncio.subprocess.Process) -> AsyncIterator[bytes]:
        assert proc.stdout is not None
        try:
            while chunk := await proc.stdout.read(_CHUNK):
                yield chunk
        finally:
            await self._finish(c, proc)

    async def put(
        self,
        c: Container,
        name: str,
        path: str,
        body: AsyncIterator[bytes],
        *,
        no_overwrite_dir_non_dir: bool,
        copy_uid_gid: bool,
    ) -> None:
        """``PUT /containers/{name}/archive``: extract the body into directory ``path``."""
        proc = await self._spawn(
            c,
            "put",
            path=path,
            no_overwrite_dir_non_dir=no_overwrite_dir_non_dir,
            copy_uid_gid=copy_uid_gid,
            user=str(c.config.get("User") or ""),
            readonly_rootfs=bool(c.host_config.get("ReadonlyRootfs")),
        )
        try:
            status = await _status(proc)
            if "error" in status:
                raise _error(status["kind"], status["error"], path, name)
            assert proc.stdin is not None
            try:
                async for chunk in body:
                    proc.stdin.write(chunk)
                    await proc.stdin.drain()
            except (BrokenPipeError, ConnectionResetError):
                pass  # the helper stopped reading: its status says why
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                proc.stdin.close()
            status = await _status(proc)
            if "error" in status:
                raise _error(status["kind"], status["error"], path, name)
        finally:
            await self._finish(c, proc)
        self._log_event(c, "extract-to-dir")
