"""The etcd child process a swarm manager runs, supervised as dockerd supervises containerd.

etcd runs on private paths under ``<data-root>/swarm`` (its data dir, its log,
its pid file) with its client and peer ports on the node's address (loopback for a swarm of one
host; the client port also on loopback, where berthd itself talks to it). berthd starts it,
waits for ``/health``, restarts it if it dies, and stops it by PID at
shutdown. An etcd left behind by a berthd killed with SIGKILL is found by its
pid file (and its command line, so a reused PID is never signalled) and
stopped before a new one starts on the same data dir.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from berthd.cluster.client import EtcdClient
from berthd.cluster.tls import NodeTLS

__all__ = ["ETCD_BINARY", "EtcdProcess", "EtcdSettings"]

ETCD_BINARY = "/usr/bin/etcd"
_READY_TIMEOUT = 30.0
_RESTART_DELAY = 1.0

log = logging.getLogger("berthd.cluster")


@dataclass(frozen=True)
class EtcdSettings:
    """Where one etcd member lives and listens."""

    root: Path  # <data-root>/swarm
    name: str  # the member name: the swarm node ID
    client_port: int
    peer_port: int
    host: str = "127.0.0.1"  # the node's address: peers (and workers' clients) reach it there
    binary: str = ETCD_BINARY
    # joining an existing cluster: every member's ``name=peer-url``, as MemberAdd answered
    initial_cluster: str = ""
    cluster_token: str = ""
    # the node's certificates: https and mutual TLS on both ports (None: plain http)
    tls: NodeTLS | None = None
    # start as a one-member cluster with this member's data (``--force-new-cluster``)
    force_new_cluster: bool = False

    @property
    def scheme(self) -> str:
        return "https" if self.tls is not None else "http"

    @property
    def data_dir(self) -> Path:
        return self.root / "etcd"

    @property
    def pid_file(self) -> Path:
        return self.root / "etcd.pid"

    @property
    def log_file(self) -> Path:
        return self.root / "etcd.log"

    @property
    def client_url(self) -> str:
        """Where this berthd talks to its member: always loopback."""
        return f"{self.scheme}://127.0.0.1:{self.client_port}"

    @property
    def advertise_client_url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.peer_port}"

    def client(self) -> EtcdClient:
        """A client of this member, with the node's certificate when it has one."""
        ctx = self.tls.client_context() if self.tls is not None else None
        return EtcdClient(self.client_url, ssl_context=ctx)

    def _tls_argv(self) -> list[str]:
        t = self.tls
        if t is None:
            return []
        return [
            "--cert-file", str(t.cert), "--key-file", str(t.key),
            "--trusted-ca-file", str(t.ca), "--client-cert-auth",
            "--peer-cert-file", str(t.cert), "--peer-key-file", str(t.key),
            "--peer-trusted-ca-file", str(t.ca), "--peer-client-cert-auth",
        ]  # fmt: skip

    def argv(self) -> list[str]:
        return [
            self.binary,
            "--name",
            self.name,
            "--data-dir",
            str(self.data_dir),
            "--listen-client-urls",
            ",".join(dict.fromkeys([self.client_url, self.advertise_client_url])),
            "--advertise-client-urls",
            self.advertise_client_url,
            "--listen-peer-urls",
            self.peer_url,
            "--initial-advertise-peer-urls",
            self.peer_url,
            "--initial-cluster",
            self.initial_cluster or f"{self.name}={self.peer_url}",
            "--initial-cluster-state",
            "existing" if self.initial_cluster else "new",
            "--initial-cluster-token",
            self.cluster_token or f"berthd-{self.name}",
            # a member back from a partition does not depose the leader with the term
            # it ran up alone (Raft's pre-vote; etcd 3.5's default, off in 3.4)
            "--pre-vote",
            "--listen-metrics-urls",
            "",
            "--logger",
            "zap",
            "--log-outputs",
            str(self.log_file),
            *self._tls_argv(),
            *(["--force-new-cluster"] if self.force_new_cluster else []),
        ]


_PROXY_VARS = ("http_proxy", "https_proxy", "no_proxy", "all_proxy")


def _etcd_env() -> dict[str, str]:
    """berthd's environment without proxy settings: etcd's peer and client transports
    honour them, and members must reach each other directly."""
    return {k: v for k, v in os.environ.items() if k.lower() not in _PROXY_VARS}


def _pid_of(path: Path, data_dir: Path) -> int | None:
    """The pid in ``path`` if it is a live etcd on ``data_dir``."""
    try:
        pid = int(path.read_text().strip())
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError):
        return None
    return pid if str(data_dir).encode() in argv else None


def _stop_pid(pid: int, timeout: float = 10.0) -> None:
    """Blocking: SIGTERM, then SIGKILL, until /proc/<pid> is gone or a zombie."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return
        if state == "Z":
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


class EtcdProcess:
    """One supervised etcd member and a client for it."""

    def __init__(self, settings: EtcdSettings) -> None:
        self.settings = settings
        self.client = settings.client()
        self._proc: asyncio.subprocess.Process | None = None
        self._watch: asyncio.Task[None] | None = None
        self._stopping = False
        self.restarts = 0

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    async def start(self) -> None:
        """Start etcd (stopping a stale one on the same data dir) and wait until healthy."""
        s = self.settings
        await asyncio.to_thread(self._prepare)
        await self._spawn()
        deadline = time.monotonic() + _READY_TIMEOUT
        while not await self.client.healthy():
            if self._proc is not None and self._proc.returncode is not None:
                raise RuntimeError(
                    f"etcd exited with status {self._proc.returncode}: {self._tail()}"
                )
            if time.monotonic() > deadline:
                await self.stop()
                raise RuntimeError(f"etcd at {s.client_url} did not become healthy")
            await asyncio.sleep(0.05)
        self._watch = asyncio.create_task(self._supervise())

    def _prepare(self) -> None:
        s = self.settings
        s.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        stale = _pid_of(s.pid_file, s.data_dir)
        if stale is not None:
            log.info("stopping etcd %d left by a previous berthd", stale)
            _stop_pid(stale)

    def _tail(self) -> str:
        try:
            return self.settings.log_file.read_text(errors="replace")[-600:]
        except OSError:
            return ""

    async def _spawn(self) -> None:
        s = self.settings
        self._proc = await asyncio.create_subprocess_exec(
            *s.argv(),
            env=_etcd_env(),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            start_new_session=True,
        )
        await asyncio.to_thread(s.pid_file.write_text, f"{self._proc.pid}\n")
        log.info("started etcd %d on %s", self._proc.pid, s.client_url)

    async def _supervise(self) -> None:
        """Restart etcd whenever it exits, until stop()."""
        while not self._stopping and self._proc is not None:
            code = await self._proc.wait()
            if self._stopping:
                return
            log.warning("etcd %d exited with status %s; restarting", self._proc.pid, code)
            self.restarts += 1
            await asyncio.sleep(_RESTART_DELAY)
            if self._stopping:
                return
            try:
                await self._spawn()
            except OSError as e:
                log.error("cannot restart etcd: %s", e)
                return

    async def stop(self) -> None:
        """Stop etcd by PID (SIGTERM, then SIGKILL) and close the client."""
        self._stopping = True
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
            self._watch = None
        await self.client.close()
        proc = self._proc
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 10.0)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        self._proc = None
        with contextlib.suppress(FileNotFoundError):
            await asyncio.to_thread(self.settings.pid_file.unlink)
