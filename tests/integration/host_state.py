"""What a test daemon leaves on the host, and removing it by force.

Shared by the berthd harnesses (``restore/harness.py``), the throwaway dockerd
(``dockerd_process.py``) and ``bench/``: processes found by their argv (killed by
PID, never by name), mounts under a directory, the cgroup tree of a cgroup parent
in every hierarchy, and a snapshot of the host's network state to compare.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

CGROUP_ROOT = Path("/sys/fs/cgroup")


def proc_argv(pid: int) -> list[str]:
    """A process's argv ([] if it is gone or a zombie)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


def pid_alive(pid: int) -> bool:
    """True while ``pid`` is a process that has not exited (a zombie counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def pids_matching(pred: Callable[[list[str]], bool]) -> list[int]:
    """PIDs of the processes whose argv satisfies ``pred``."""
    out = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            argv = proc_argv(int(p.name))
            if argv and pred(argv):
                out.append(int(p.name))
    return sorted(out)


def pids_of(names: tuple[str, ...], *needles: str) -> list[int]:
    """PIDs of processes whose program's name starts with one of ``names`` and whose
    argv mentions one of ``needles`` (a daemon's own paths)."""

    def match(argv: list[str]) -> bool:
        if not os.path.basename(argv[0]).startswith(names):
            return False
        joined = " ".join(argv)
        return any(n in joined for n in needles)

    return pids_matching(match)


def mounts_under(root: str) -> list[tuple[str, str]]:
    """(mount point, fs type) of every mount under ``root``."""
    out = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        mnt = fields[4]
        fstype = fields[fields.index("-") + 1]
        if mnt == root or mnt.startswith(root.rstrip("/") + "/"):
            out.append((mnt, fstype))
    return out


def cgroup_dirs(parent: str) -> list[Path]:
    """The directory of cgroup ``parent`` in every hierarchy where it exists."""
    if not parent.strip("/"):
        return []
    out = []
    for h in CGROUP_ROOT.iterdir():
        d = h / parent.strip("/")
        if d.is_dir():
            out.append(d)
    return out


def kill_cgroup_procs(top: Path) -> None:
    """SIGKILL every process in the cgroup tree ``top`` (by PID)."""
    for dirpath, _dirs, files in os.walk(top):
        if "cgroup.procs" not in files:
            continue
        with contextlib.suppress(OSError):
            for pid in Path(dirpath, "cgroup.procs").read_text().split():
                with contextlib.suppress(OSError):
                    os.kill(int(pid), signal.SIGKILL)


def rmdir_tree(top: Path) -> None:
    """rmdir the (empty) cgroup tree ``top``, leaves first."""
    for dirpath, _dirs, _files in sorted(os.walk(top), key=lambda t: -len(t[0])):
        with contextlib.suppress(OSError):
            os.rmdir(dirpath)


def force_clean(root: Path, cgroup_parent: str, pids: Iterable[int] = ()) -> list[str]:
    """After a daemon has stopped: SIGKILL what it left (``pids``, and whatever is
    still in its cgroups), lazily unmount everything under ``root``, remove its
    cgroup tree and ``root``. Returns what had to be removed (empty when the
    daemon cleaned up after itself)."""
    leaks: list[str] = []
    killed = False
    for pid in pids:
        leaks.append(f"{os.path.basename((proc_argv(pid) or ['?'])[0])} {pid}")
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
            killed = True
    for d in cgroup_dirs(cgroup_parent):
        kill_cgroup_procs(d)
    if killed:
        time.sleep(0.2)
    for mnt, _ in sorted(mounts_under(str(root)), key=lambda m: len(m[0]), reverse=True):
        leaks.append(f"mount {mnt}")
        subprocess.run(["umount", "-l", mnt], capture_output=True, check=False)
    # a cgroup whose last process was just killed may stay busy for a moment
    deadline = time.monotonic() + 5
    while True:
        left = cgroup_dirs(cgroup_parent)
        for d in left:
            kill_cgroup_procs(d)
            rmdir_tree(d)
        left = [d for d in left if d.exists()]
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    leaks += [f"cgroup {d}" for d in left]
    shutil.rmtree(root, ignore_errors=True)
    return leaks


def host_snapshot() -> dict[str, list[str]]:
    """Network interfaces and iptables rules (filter and nat), to compare before/after."""

    def run(*argv: str) -> list[str]:
        try:
            r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            return []
        return r.stdout.splitlines()

    links = [ln.split(": ")[1].split("@")[0] for ln in run("ip", "-o", "link") if ": " in ln]
    return {
        "links": sorted(links),
        "iptables": run("iptables", "-S"),
        "iptables-nat": run("iptables", "-t", "nat", "-S"),
    }


def snapshot_changes(before: dict[str, list[str]], after: dict[str, list[str]]) -> list[str]:
    """One line per key of two ``host_snapshot``s: what appeared and what went."""
    out = []
    for key in before:
        new = [x for x in after[key] if x not in before[key]]
        gone = [x for x in before[key] if x not in after[key]]
        out.append(f"{key}: new {new or 'none'}; gone {gone or 'none'}")
    return out


def remove_all_objects(client: Any, volumes: bool = False) -> list[str]:
    """Remove every container and user network (and volume) through the API;
    return the bridge devices of the removed networks (for leftover checks)."""
    bridges: list[str] = []
    with contextlib.suppress(Exception):
        for c in client.containers.list(all=True):
            with contextlib.suppress(Exception):
                c.remove(force=True, v=True)
        for n in client.networks.list():
            if n.name not in ("bridge", "host", "none"):
                bridges.append(
                    n.attrs["Options"].get("com.docker.network.bridge.name") or "br-" + n.id[:12]
                )
                with contextlib.suppress(Exception):
                    n.remove()
        if volumes:
            for v in client.volumes.list():
                with contextlib.suppress(Exception):
                    v.remove(force=True)
    return bridges


def port_chains(nat_rules: str) -> set[str]:
    """netavark's NETAVARK-DN-* chains in ``iptables -t nat -S`` output (they name no
    subnet or bridge, so tests compare the sets before and after)."""
    return {
        line.split()[1] for line in nat_rules.splitlines() if line.startswith("-N NETAVARK-DN-")
    }


def current_port_chains() -> set[str]:
    out = subprocess.run(
        ["iptables", "-w", "-t", "nat", "-S"], capture_output=True, text=True, check=False
    ).stdout
    return port_chains(out)
