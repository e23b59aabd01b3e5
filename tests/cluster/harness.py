"""A multi-node swarm on one machine: network namespaces joined by a switch.

The fabric (``Fabric``) is one "switch" netns holding a Linux bridge and, per node,
a netns ``bsw<pid>-n<i>`` whose ``eth0`` is one end of a veth pair (the other end is
a port of the bridge), with the underlay address ``198.18.0.<i>/24`` (RFC 2544's
benchmark range; nothing is routed out, there is no default route). The veths are
created straight in their namespaces, so the host's own namespace never sees them.

Each node runs one berthd (``NodeDaemon``), started inside its netns with
``nsenter --net=/run/netns/<ns>`` on private paths (data-root, exec-root, socket,
bridge, cgroup parent) under a temporary directory; the docker CLI talks to its unix
socket from the host. Not ``ip netns exec``: that mounts a fresh /sys without the
cgroup hierarchies, and no OCI runtime works there. Each berthd gets a mount namespace
of its own (``unshare -m``, slave propagation) with a private tmpfs on /run/lock: a
node is a host of its own, and the host-wide lock berthd takes around netavark must not
be shared with other berthds on the machine (a stuck one would stall every node). Its
mounts go with its processes. The swarm's etcd members are its children (their pid
files are under the data-root).

Cleanup, by PID only: each berthd (SIGTERM, then SIGKILL), its etcd (pid file), every
process left in its netns and in its cgroup tree, then the namespaces (their veths
and the bridge go with them) and the temporary directories.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from tests.integration.daemon_process import BerthdProcess
from tests.integration.host_state import force_clean, pid_alive

__all__ = ["DOCKER", "ETCD", "Fabric", "NodeDaemon", "fabric", "needs"]

DOCKER = shutil.which("docker") or "/usr/local/bin/docker"
ETCD = "/usr/bin/etcd"
IP = shutil.which("ip") or "/usr/sbin/ip"
NSENTER = shutil.which("nsenter") or "/usr/bin/nsenter"
UNSHARE = shutil.which("unshare") or "/usr/bin/unshare"
SUBNET = "198.18.0"


def needs() -> str:
    """Why the harness cannot run here ("" when it can)."""
    if os.geteuid() != 0:
        return "needs root"
    for path in (DOCKER, ETCD, IP, NSENTER, UNSHARE):
        if not os.access(path, os.X_OK):
            return f"needs {path}"
    return ""


def _ip(*args: str) -> None:
    r = subprocess.run([IP, *args], capture_output=True, text=True, timeout=20)
    if r.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {r.stderr.strip()}")


def netns_pids(netns: str) -> list[int]:
    r = subprocess.run([IP, "netns", "pids", netns], capture_output=True, text=True, timeout=20)
    return [int(p) for p in r.stdout.split()] if r.returncode == 0 else []


class NodeDaemon(BerthdProcess):
    """One node's berthd, run inside the node's netns."""

    def __init__(self, netns: str, addr: str) -> None:
        super().__init__()
        self.netns = netns
        self.addr = addr

    def argv(self) -> list[str]:
        private = 'mount -t tmpfs -o mode=0755 tmpfs /run/lock && exec "$@"'
        return [
            UNSHARE, "-m", "--propagation", "slave", "sh", "-c", private, "sh",
            NSENTER, f"--net=/run/netns/{self.netns}", "--", *super().argv(),
        ]  # fmt: skip

    def etcd_pid(self) -> int | None:
        try:
            pid = int(Path(self.data_root, "swarm", "etcd.pid").read_text())
        except (OSError, ValueError):
            return None
        return pid if pid_alive(pid) else None

    def kill9(self) -> None:
        """SIGKILL this berthd only (its etcd, containers and conmon stay)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def cli(
        self, *args: str, timeout: float = 60, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [DOCKER, "-H", "unix://" + self.sock, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            input=stdin,
        )

    def destroy(self) -> list[str]:
        """Stop berthd and remove everything it and its children left; what leaked."""
        leaks: list[str] = []
        with contextlib.suppress(Exception):
            self.stop(timeout=20)
        if hasattr(self, "log"):
            self.log.close()
        etcd = self.etcd_pid()
        left = [p for p in netns_pids(self.netns) if p != os.getpid()]
        if etcd is not None and etcd not in left:
            left.append(etcd)
        leaks += force_clean(self.root, self.cgroup_parent, left)
        return leaks


class Fabric:
    """``n`` nodes on one switch; ``nodes[i]`` has address 198.18.0.<i+1>."""

    def __init__(self, n: int, tag: str | None = None) -> None:
        self.tag = tag or f"bsw{os.getpid()}"
        self.switch = f"{self.tag}-sw"
        self.count = n
        self.namespaces: list[str] = []
        self.nodes: list[NodeDaemon] = []

    def netns(self, i: int) -> str:
        return f"{self.tag}-n{i}"

    def addr(self, i: int) -> str:
        return f"{SUBNET}.{i}"

    def build(self) -> Fabric:
        _ip("netns", "add", self.switch)
        self.namespaces.append(self.switch)
        _ip("-n", self.switch, "link", "add", "br0", "type", "bridge")
        _ip("-n", self.switch, "link", "set", "br0", "up")
        for i in range(1, self.count + 1):
            ns = self.netns(i)
            _ip("netns", "add", ns)
            self.namespaces.append(ns)
            _ip(
                "link", "add", "eth0", "netns", ns, "type", "veth",
                "peer", "name", f"p{i}", "netns", self.switch,
            )  # fmt: skip
            _ip("-n", self.switch, "link", "set", f"p{i}", "master", "br0", "up")
            _ip("-n", ns, "addr", "add", f"{self.addr(i)}/24", "dev", "eth0")
            _ip("-n", ns, "link", "set", "eth0", "up")
            _ip("-n", ns, "link", "set", "lo", "up")
        return self

    def start(self, images: Path | None = None) -> Fabric:
        """One berthd per node (started together, then waited for), ``images`` loaded."""
        for i in range(1, self.count + 1):
            self.nodes.append(NodeDaemon(self.netns(i), self.addr(i)))
        for d in self.nodes:
            d.start(wait=False)
        for d in self.nodes:
            d.wait_ready(timeout=60)
        if images is not None:
            for d in self.nodes:
                r = d.cli("load", "-i", str(images))
                if r.returncode != 0:
                    raise RuntimeError(f"docker load on {d.netns}: {r.stderr}")
        return self

    def link(self, i: int, up: bool) -> None:
        """Take node ``i``'s port on the switch down (the node is cut off) or up again."""
        _ip("-n", self.switch, "link", "set", f"p{i}", "up" if up else "down")

    def destroy(self) -> list[str]:
        leaks: list[str] = []
        for d in self.nodes:
            leaks += [f"{d.netns}: {x}" for x in d.destroy()]
        for ns in reversed(self.namespaces):
            for pid in netns_pids(ns):
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
                leaks.append(f"{ns}: pid {pid}")
            with contextlib.suppress(RuntimeError):
                _ip("netns", "delete", ns)
        self.namespaces.clear()
        return leaks


@contextlib.contextmanager
def fabric(n: int, images: Path | None = None) -> Iterator[Fabric]:
    f = Fabric(n)
    try:
        f.build().start(images)
        yield f
    finally:
        leaks = f.destroy()
        if leaks:
            print("cluster harness cleanup:", *leaks, sep="\n  ")


def eventually(check: Callable[[], bool], timeout: float, what: str, step: float = 0.5) -> None:
    """Poll ``check`` until it holds; AssertionError naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:.0f} s: {what}")
        time.sleep(step)
