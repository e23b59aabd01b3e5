"""What the scripts in bench/ share: the daemons under test, the docker CLI, timing, and
the measured sections. Imported as ``bench.common`` by scripts that put the repository
on ``sys.path`` first.

``Berthd`` and ``Dockerd`` wrap the test harnesses' ``BerthdProcess`` and
``DockerdProcess`` (tests/integration) on a fixed directory each, with a cgroup parent
of their own; ``wipe()`` stops the daemon by PID and removes by force whatever it left
(``tests/integration/host_state.force_clean``), noting it in ``leaks``. Each
``section_*`` starts its daemon on a fresh data root, measures, wipes it, and returns
``{row label: figure}``. Every container runs with ``--network none`` and
``--pull never`` (no registry, no host network), except in ``section_bridge``, which
runs on the daemon's default bridge: berthd's own device and 172.31.x subnet, and for
dockerd a bridge this module creates (``bd-bench``, 172.31.250.1/24) and deletes.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from tests.integration.daemon_process import BerthdProcess
from tests.integration.dockerd_process import DockerdProcess, dockerd_version
from tests.integration.host_state import force_clean, pids_of
from tests.integration.images_build import build_busybox_archive, build_random_archive

REPO = Path(__file__).resolve().parent.parent
DOCKER = shutil.which("docker") or "/usr/local/bin/docker"
# every container of both daemons: no registry, no network
RUN = ("run", "--pull", "never", "--network", "none")
CREATE = ("create", "--pull", "never", "--network", "none")
# the default bridges of the bridge figure: a device name and a subnet of each daemon's own
BERTHD_BRIDGE = ("bb-bench", "172.31.251.1/24")
DOCKERD_BRIDGE = ("bd-bench", "172.31.250.1/24")

Results = dict[str, str]


# -- a tiny HTTP client on a unix socket ---------------------------------------------------
class UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float = 60) -> None:
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


def api(sock: str, method: str, path: str, body: Any = None, timeout: float = 60) -> Any:
    conn = UnixHTTP(sock, timeout)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        conn.request(method, path, json.dumps(body) if body is not None else None, headers)
        resp = conn.getresponse()
        data = resp.read()
    finally:
        conn.close()
    if resp.status >= 300:
        raise RuntimeError(f"{method} {path}: {resp.status} {data[:300]!r}")
    return json.loads(data) if data.strip() else None


def list_all(sock: str) -> list[dict[str, Any]] | None:
    """``GET /containers/json?all=1``, or None while the daemon does not answer."""
    try:
        rows = api(sock, "GET", "/containers/json?all=1", timeout=5)
    except (OSError, RuntimeError, http.client.HTTPException, ValueError):
        return None
    return list(rows)


def ping_ms(sock: str) -> float:
    t0 = time.perf_counter()
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(10)
        s.connect(sock)
        s.sendall(b"GET /_ping HTTP/1.0\r\n\r\n")
        s.recv(64)
    return (time.perf_counter() - t0) * 1000


@contextlib.contextmanager
def worst_ping(sock: str) -> Iterator[list[float]]:
    """Ping ``sock`` every 20 ms while the block runs; yields [worst latency in ms]."""
    stop = threading.Event()
    worst = [0.0]

    def poll() -> None:
        while not stop.is_set():
            with contextlib.suppress(OSError):
                worst[0] = max(worst[0], ping_ms(sock))
            time.sleep(0.02)

    t = threading.Thread(target=poll)
    t.start()
    try:
        yield worst
    finally:
        stop.set()
        t.join()


# -- /proc and timing ----------------------------------------------------------------------
def _status_mb(path: str, *keys: str) -> float:
    """The sum of the ``keys`` (kB lines) of a /proc file, in MB."""
    total = 0
    with contextlib.suppress(OSError):
        for line in Path(path).read_text().splitlines():
            if line.startswith(keys):
                total += int(line.split()[1])
    return total / 1024


def rss_mb(pid: int) -> float:
    return _status_mb(f"/proc/{pid}/status", "VmRSS:")


def pss_mb(pid: int) -> float:
    """Proportional set size: shared pages divided among every process mapping them
    (other processes of the same binary on the host lower it)."""
    return _status_mb(f"/proc/{pid}/smaps_rollup", "Pss:")


def uss_mb(pid: int) -> float:
    """Unique set size: the pages only this process maps."""
    return _status_mb(f"/proc/{pid}/smaps_rollup", "Private_Clean:", "Private_Dirty:")


def timed(n: int, fn: Callable[[int], object]) -> list[float]:
    out = []
    for i in range(n):
        t0 = time.perf_counter()
        fn(i)
        out.append(time.perf_counter() - t0)
    return out


def ms(samples: list[float]) -> str:
    return f"{statistics.median(samples) * 1000:.0f} ms"


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def git(*args: str) -> str:
    r = subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True)
    return r.stdout.strip()


def export_berthd(rev: str, dest: Path) -> str:
    """``git archive`` berthd/ at ``rev`` into ``dest`` (to run a commit, not the working
    tree that someone may be editing); returns the short commit."""
    dest.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", rev, "berthd"], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return git("rev-parse", "--short", rev)


# -- the daemons ---------------------------------------------------------------------------
class Daemon:
    """One daemon under test on ``root``; ``fresh()`` gives it an empty data root."""

    name = ""
    cgroup_parent = ""
    proc: BerthdProcess | DockerdProcess | None

    def __init__(self, root: Path) -> None:
        self.root = root
        self.sock = str(root / "docker.sock")
        self.proc = None
        self.leaks: list[str] = []

    # subclasses
    def make(self, live_restore: bool, bridge: bool) -> BerthdProcess | DockerdProcess:
        raise NotImplementedError

    def spawn(self) -> None:
        raise NotImplementedError

    def helpers(self) -> list[int]:
        raise NotImplementedError

    def version(self) -> str:
        raise NotImplementedError

    @property
    def pid(self) -> int:
        assert self.proc is not None and self.proc.proc is not None
        return self.proc.proc.pid

    def fresh(self, live_restore: bool = False, bridge: bool = False) -> Daemon:
        self.wipe()
        self.root.mkdir(parents=True)
        self.proc = self.make(live_restore, bridge)
        return self

    def start(self) -> Daemon:
        self.spawn()
        self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            if list_all(self.sock) is not None:
                return
            time.sleep(0.02)
        raise TimeoutError(f"{self.name} did not come up:\n{self.log_tail()}")

    def check_alive(self) -> None:
        if self.proc is None or not self.proc.alive():
            raise RuntimeError(f"{self.name} exited:\n{self.log_tail()}")

    def stop(self, timeout: float = 90) -> None:
        """SIGTERM the daemon and wait (SIGKILL after ``timeout``, noted in ``leaks``)."""
        running = self.proc is not None and self.proc.alive()
        if running and self.proc is not None and self.proc.stop(timeout) == -signal.SIGKILL:
            self.leaks.append(f"{self.name} needed SIGKILL")

    def log_tail(self) -> str:
        return self.proc.logs()[-3000:] if self.proc is not None else ""

    def wipe(self) -> None:
        """Stop the daemon, remove by force what it left (noted in ``leaks``) and its root."""
        self.stop()
        self.leaks += force_clean(self.root, self.cgroup_parent, self.helpers())
        self.proc = None

    # the docker CLI, as a user runs it
    def env(self) -> dict[str, str]:
        """The CLI's environment for this daemon (``DOCKER_HOST`` set, nothing else of ours)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
        env["DOCKER_CONFIG"] = str(self.root / "cli")
        env["DOCKER_HOST"] = "unix://" + self.sock
        return env

    def cli(self, *args: str, timeout: float = 600) -> str:
        r = subprocess.run(
            [DOCKER, *args],
            env=self.env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
        )
        if r.returncode != 0:
            raise RuntimeError(
                f"{self.name}: docker {' '.join(args)} exited {r.returncode}: {r.stderr!r}"
            )
        return r.stdout.decode(errors="replace")

    def setup(self) -> str:
        """Server version, default runtime, storage and cgroup driver, as `docker info` says."""
        return self.cli(
            "info",
            "-f",
            "{{.ServerVersion}}, {{.DefaultRuntime}}, {{.Driver}}, "
            "cgroup {{.CgroupDriver}} v{{.CgroupVersion}}",
        ).strip()

    def remove_all(self) -> None:
        rows = list_all(self.sock) or []

        def rm(row: dict[str, Any]) -> None:
            api(self.sock, "DELETE", f"/containers/{row['Id']}?force=1&v=1", timeout=120)

        with ThreadPoolExecutor(4) as pool:
            list(pool.map(rm, rows))


class Berthd(Daemon):
    name = "berthd"
    cgroup_parent = "/berthd-bench"

    def __init__(self, root: Path, src: Path | None = None, rev: str = "") -> None:
        super().__init__(root)
        self.src = src  # a git export to run instead of the working tree
        self.rev = rev

    def make(self, live_restore: bool, bridge: bool) -> BerthdProcess:
        name, bip = BERTHD_BRIDGE
        args = [
            "--cgroup-parent", self.cgroup_parent,
            # a default bridge of its own (only made by the bridge figure), no host
            # forwarding, a loopback resolver
            "--bridge", name,
            "--bip", bip,
            "--ip-forward=false",
            "--dns", "127.0.0.1",
            *(["--live-restore"] if live_restore else []),
        ]  # fmt: skip
        # bytecode cached as an installed berthd has it (an empty value turns off a
        # PYTHONDONTWRITEBYTECODE the shell may set; else every start compiles ~0.3 s)
        env = {"PYTHONDONTWRITEBYTECODE": "", "PYTHONPYCACHEPREFIX": "/tmp/bench-pycache"}
        if self.src:
            env["PYTHONPATH"] = str(self.src)
        p = BerthdProcess(root=self.root, args=args, env=env)
        p.sock = self.sock
        return p

    def spawn(self) -> None:
        assert isinstance(self.proc, BerthdProcess)
        # from the export, not the repo: `python -m` puts the working directory first
        self.proc.start(wait=False, cwd=str(self.src or self.root))

    def helpers(self) -> list[int]:
        return pids_of(("conmon",), str(self.root))

    def wipe(self) -> None:
        super().wipe()
        name = BERTHD_BRIDGE[0]
        if Path("/sys/class/net", name).exists():
            self.leaks.append(f"bridge {name}")
            subprocess.run(["ip", "link", "del", name], capture_output=True, check=False)

    def version(self) -> str:
        if self.src is not None:
            return f"berthd {self.rev} (run from a git archive of it)"
        dirty = git("status", "--porcelain", "--", "berthd")
        return f"berthd {git('rev-parse', '--short', 'HEAD')}" + (
            " + uncommitted changes in berthd/" if dirty else ""
        )


class Dockerd(Daemon):
    name = "dockerd"
    cgroup_parent = "/dockerd-bench"

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.made_bridge = False

    def make(self, live_restore: bool, bridge: bool) -> DockerdProcess:
        if bridge:
            self.make_bridge()
        return DockerdProcess(
            root=self.root,
            cgroup_parent=self.cgroup_parent,
            bridge=DOCKERD_BRIDGE[0] if bridge else "none",
            live_restore=live_restore,
        )

    def make_bridge(self) -> None:
        """dockerd's --bridge must name an existing device: make one in a subnet of its own."""
        name, addr = DOCKERD_BRIDGE
        subnet = addr.rsplit(".", 1)[0] + "."
        routes = subprocess.run(["ip", "-4", "route"], capture_output=True, text=True).stdout
        if Path("/sys/class/net", name).exists() or subnet in routes:
            raise RuntimeError(f"{name} or {addr} is in use on this host: not touching it")
        subprocess.run(["ip", "link", "add", name, "type", "bridge"], check=True)
        self.made_bridge = True
        subprocess.run(["ip", "addr", "add", addr, "dev", name], check=True)
        subprocess.run(["ip", "link", "set", name, "up"], check=True)

    def spawn(self) -> None:
        assert isinstance(self.proc, DockerdProcess)
        self.proc.start(wait=False)

    def helpers(self) -> list[int]:
        if isinstance(self.proc, DockerdProcess):
            return self.proc.helpers()
        return pids_of(("containerd", "docker-proxy", "runc"), str(self.root))

    def wipe(self) -> None:
        if isinstance(self.proc, DockerdProcess):
            # stops dockerd, waits for its containerd, removes dockerd's fixed dirs
            self.leaks += self.proc.cleanup()
            self.proc = None
        super().wipe()
        if self.made_bridge:
            subprocess.run(["ip", "link", "del", DOCKERD_BRIDGE[0]], check=False)
            self.made_bridge = False

    def version(self) -> str:
        return dockerd_version()


def mem(d: Daemon) -> tuple[str, str]:
    """The daemon's RSS; the PSS and USS sums of the daemon and its helpers."""
    pids = [d.pid, *d.helpers()]
    pss, uss = sum(map(pss_mb, pids)), sum(map(uss_mb, pids))
    n = len(pids) - 1
    helpers = f", {n} helper{'s' if n > 1 else ''}" if n else ""
    return f"{rss_mb(d.pid):.1f} MB", f"{pss:.1f} MB PSS / {uss:.1f} MB USS{helpers}"


def create(d: Daemon, name: str, cmd: list[str]) -> str:
    body = {"Image": "busybox", "Cmd": cmd, "HostConfig": {"NetworkMode": "none"}}
    return str(api(d.sock, "POST", f"/containers/create?name={name}", body)["Id"])


def create_many(d: Daemon, prefix: str, n: int, cmd: list[str], start: bool = False) -> float:
    def one(i: int) -> None:
        cid = create(d, f"{prefix}{i}", cmd)
        if start:
            api(d.sock, "POST", f"/containers/{cid}/start")

    t0 = time.perf_counter()
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(one, range(n)))
    return time.perf_counter() - t0


def time_ping(d: Daemon) -> float:
    """Seconds from spawning ``d`` until ``GET /_ping`` answers (polled every 2 ms)."""
    t0 = time.perf_counter()
    d.spawn()
    while True:
        try:
            ping_ms(d.sock)
            return time.perf_counter() - t0
        except OSError:
            pass
        d.check_alive()
        if time.perf_counter() - t0 > 300:
            raise TimeoutError(f"{d.name} did not answer /_ping within 300 s")
        time.sleep(0.002)


def time_startup(d: Daemon, want: int, running: bool) -> float:
    """Seconds from spawning ``d`` until ``GET /containers/json?all=1`` lists ``want``
    containers (``running``: as running); the socket is polled every 5 ms."""
    t0 = time.perf_counter()
    d.spawn()
    while True:
        rows = list_all(d.sock)
        if rows is not None:
            n = sum(1 for r in rows if r.get("State") == "running") if running else len(rows)
            if n >= want:
                return time.perf_counter() - t0
        d.check_alive()
        if time.perf_counter() - t0 > 300:
            raise TimeoutError(f"{d.name} did not list everything within 300 s")
        time.sleep(0.005)


# -- the sections --------------------------------------------------------------------------
class Files:
    """The image archives the sections load, made once per run in ``work``."""

    def __init__(self, work: Path, mb: int) -> None:
        self.busybox = work / "busybox.tar"
        build_busybox_archive(self.busybox)
        self._big = work / "bench.tar"
        self._mb = mb

    def big_image(self) -> Path:
        """A ~``--mb`` MB save archive of 3 layers of compressible text, tagged bench:1."""
        if not self._big.exists():
            t0 = time.perf_counter()
            build_random_archive(self._big, "bench:1", layers=3, total_mb=self._mb)
            size = self._big.stat().st_size / 1e6
            took = time.perf_counter() - t0
            print(f"image archive: {size:.1f} MB, 3 layers (built in {took:.1f} s)", flush=True)
        return self._big


def add_arguments(ap: argparse.ArgumentParser) -> None:
    """The options the sections read."""
    ap.add_argument("-n", type=int, default=20, help="repetitions of run --rm, exec, ps -a")
    ap.add_argument("--running", type=int, default=50)
    ap.add_argument("--total", type=int, default=200)
    ap.add_argument("--stopped", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3, help="restarts per start-up data set")
    ap.add_argument("--mb", type=int, default=200)
    ap.add_argument("--image-runs", type=int, default=3)
    ap.add_argument("--log-mb", type=int, default=50)
    ap.add_argument("--log-runs", type=int, default=3)
    ap.add_argument("--build-mb", type=int, default=50)
    ap.add_argument("--build-runs", type=int, default=3)


def section_runs(d: Daemon, files: Files, a: argparse.Namespace) -> Results:
    out: Results = {}
    try:
        d.fresh().start()
        d.cli("load", "-i", str(files.busybox))
        d.cli("ps")  # warm the CLI's and the daemon's caches
        d.cli(*RUN, "--rm", "busybox", "true")
        time.sleep(2.0)
        out["daemon RSS, idle"], out["daemon + helpers, PSS / USS sums, idle"] = mem(d)

        s = timed(a.n, lambda i: d.cli(*RUN, "--rm", "busybox", "true"))
        out[f"`docker run --rm busybox true` (`--network none`), median of {a.n}"] = ms(s)

        t0 = time.perf_counter()
        s = timed(
            a.running, lambda i: d.cli(*RUN, "-d", "--name", f"r{i}", "busybox", "sleep", "100000")
        )
        total = time.perf_counter() - t0
        out[f"`docker run -d` ×{a.running}: total (median per run)"] = f"{total:.2f} s ({ms(s)})"

        s = timed(a.n, lambda i: d.cli("exec", "r0", "true"))
        out[f"`docker exec r0 true`, median of {a.n}"] = ms(s)

        s = timed(a.n, lambda i: d.cli(*CREATE, "--name", f"k{i}", "busybox", "true"))
        out[f"`docker create busybox true`, median of {a.n}"] = ms(s)
        s = timed(a.n, lambda i: d.cli("rm", f"k{i}"))
        out[f"`docker rm` of a created container, median of {a.n}"] = ms(s)

        time.sleep(2.0)
        rss, sums = mem(d)
        out[f"daemon RSS, {a.running} running"] = rss
        out[f"daemon + helpers, PSS / USS sums, {a.running} running"] = sums

        create_many(d, "c", a.total - a.running, ["true"])
        got = len(d.cli("ps", "-aq").split())
        if got != a.total:
            raise RuntimeError(f"{d.name}: ps -a lists {got}, want {a.total}")
        s = timed(a.n, lambda i: d.cli("ps", "-a"))
        out[f"`docker ps -a`, {a.total} containers, median of {a.n}"] = ms(s)
        d.remove_all()
    finally:
        d.wipe()
    return out


def section_bridge(d: Daemon, files: Files, a: argparse.Namespace) -> Results:
    try:
        d.fresh(bridge=True).start()
        d.cli("load", "-i", str(files.busybox))
        # the container is on the bridge this module chose (warms up: berthd makes it here)
        subnet = (BERTHD_BRIDGE if isinstance(d, Berthd) else DOCKERD_BRIDGE)[1].rsplit(".", 1)
        d.cli("run", "-d", "--pull", "never", "--name", "probe", "busybox", "sleep", "100")
        ip = d.cli("inspect", "-f", "{{.NetworkSettings.IPAddress}}", "probe").strip()
        d.cli("rm", "-f", "probe")
        if not ip.startswith(subnet[0] + "."):
            raise RuntimeError(f"{d.name}: the container got {ip!r}, not in {subnet[0]}.0/24")
        s = timed(a.n, lambda i: d.cli("run", "--pull", "never", "--rm", "busybox", "true"))
    finally:
        d.wipe()
    return {f"`docker run --rm busybox true` on the default bridge, median of {a.n}": ms(s)}


def section_images(d: Daemon, files: Files, a: argparse.Namespace) -> Results:
    archive = files.big_image()
    size_mb = archive.stat().st_size / 1e6
    loads, saves, pings = [], [], []
    try:
        d.fresh().start()
        saved = d.root / "saved.tar"
        for _ in range(a.image_runs):
            with worst_ping(d.sock) as worst:
                t0 = time.perf_counter()
                d.cli("load", "-i", str(archive))
                loads.append(time.perf_counter() - t0)
            pings.append(worst[0])
            t0 = time.perf_counter()
            d.cli("save", "-o", str(saved), "bench:1")
            saves.append(time.perf_counter() - t0)
            saved.unlink()
            d.cli("rmi", "bench:1")
    finally:
        d.wipe()
    out: Results = {}
    for label, samples in (("load", loads), ("save", saves)):
        med = statistics.median(samples)
        row = f"`docker {label}` {size_mb:.0f} MB, median of {a.image_runs}"
        out[row] = f"{med:.2f} s = {size_mb / med:.0f} MB/s"
    out["worst `/_ping` during a load"] = f"{max(pings):.0f} ms"
    return out


def section_logs(d: Daemon, files: Files, a: argparse.Namespace) -> Results:
    """``docker logs`` of a container that wrote ``--log-mb`` MB of 100-byte lines, with
    and without ``-t``, the CLI's output sent to /dev/null (median of ``--log-runs``)."""
    size = a.log_mb * 1024 * 1024
    line = "x" * 99
    plain, stamped = [], []
    try:
        d.fresh().start()
        d.cli("load", "-i", str(files.busybox))
        d.cli(
            *RUN,
            "--name",
            "lg",
            "busybox",
            "sh",
            "-c",
            f"busybox yes {line} | busybox head -c {size}",
        )
        for _ in range(a.log_runs):
            for args, samples in ((("logs", "lg"), plain), (("logs", "-t", "lg"), stamped)):
                t0 = time.perf_counter()
                with open(os.devnull, "wb") as null:
                    subprocess.run([DOCKER, *args], env=d.env(), stdout=null, check=True)
                samples.append(time.perf_counter() - t0)
        follow = _follow_lag(d, line, size)
    finally:
        d.wipe()
    mb = size / 1e6
    return {
        f"`docker logs` of {mb:.0f} MB, median of {a.log_runs}": _rate(mb, plain),
        f"`docker logs -t` of {mb:.0f} MB, median of {a.log_runs}": _rate(mb, stamped),
        f"`docker logs -f` of a container writing {mb:.0f} MB as fast as it can": follow,
    }


def _follow_lag(d: Daemon, line: str, size: int) -> str:
    """``docker logs -f`` started with the container: how fast the container wrote (its
    own StartedAt..FinishedAt), how long after its end the follow ended, and whether every
    line came through."""
    d.cli(
        *CREATE,
        "--name",
        "lf",
        "busybox",
        "sh",
        "-c",
        f"busybox yes {line} | busybox head -c {size}",
    )
    d.cli("start", "lf")
    t0 = time.perf_counter()
    out = subprocess.run(
        [DOCKER, "logs", "-f", "lf"], env=d.env(), stdout=subprocess.PIPE, check=True
    ).stdout
    took = time.perf_counter() - t0
    fmt = "{{.State.StartedAt}} {{.State.FinishedAt}}"
    started, finished = (_go_time(t) for t in d.cli("inspect", "-f", fmt, "lf").split())
    wrote = finished - started
    rate = size / 1e6 / wrote if wrote > 0 else float("inf")
    whole = "all lines" if len(out) == size else f"{len(out)} of {size} bytes"
    return (
        f"container wrote for {wrote:.2f} s ({rate:.0f} MB/s, {size / 100 / max(wrote, 1e-9) / 1000:.0f}k lines/s); "
        f"follow ended after {took:.2f} s, {whole}"
    )


def _go_time(text: str) -> float:
    """Seconds since the epoch of an RFC 3339 time with up to 9 fraction digits."""
    from datetime import datetime

    base, _, frac = text.rstrip("Z").partition(".")
    whole = datetime.fromisoformat(base + "+00:00").timestamp()
    return whole + (float("0." + frac) if frac else 0.0)


BUILD_DOCKERFILE = """\
FROM busybox
COPY data /data
RUN cat /data/* > /dev/null && echo read > /read
ENV BENCH=1
RUN echo one > /one
WORKDIR /app
COPY small.txt /app/
RUN ls -la /app > /listing
LABEL bench=build
CMD ["cat", "/read"]
"""


def _build_context(work: Path, mb: int) -> Path:
    """A context of ``mb`` MB of random files (1 MiB each) plus a small one."""
    ctx = work / f"build-context-{mb}"
    if not ctx.exists():
        (ctx / "data").mkdir(parents=True)
        for i in range(mb):
            (ctx / "data" / f"f{i:03d}").write_bytes(os.urandom(1024 * 1024))
        (ctx / "small.txt").write_text("small\n")
        (ctx / "Dockerfile").write_text(BUILD_DOCKERFILE)
    return ctx


def section_build(d: Daemon, files: Files, a: argparse.Namespace) -> Results:
    """``docker build`` (the classic builder: ``DOCKER_BUILDKIT=0``) of a 10-step Dockerfile
    with a ``--build-mb`` MB COPY: the first build on a fresh data root, then fully cached
    rebuilds (median of ``--build-runs``)."""
    ctx = _build_context(files.busybox.parent, a.build_mb)
    env_extra = {"DOCKER_BUILDKIT": "0"}
    firsts, cached = [], []
    try:
        for _ in range(a.build_runs):
            d.fresh().start()
            d.cli("load", "-i", str(files.busybox))
            env = {**d.env(), **env_extra}
            cmd = [DOCKER, "build", "--network", "none", "-t", "bench:build", str(ctx)]
            t0 = time.perf_counter()
            subprocess.run(cmd, env=env, check=True, capture_output=True)
            firsts.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            r = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)
            cached.append(time.perf_counter() - t0)
            if r.stdout.count("Using cache") < 8:
                raise RuntimeError(f"{d.name}: the rebuild was not cached: {r.stdout[-2000:]}")
            d.wipe()
    finally:
        d.wipe()
    return {
        f"`docker build`, 10 steps, {a.build_mb} MB context: first build": _secs(firsts),
        "the same, fully cached rebuild": _secs(cached),
    }


def _secs(samples: list[float]) -> str:
    return f"{statistics.median(samples):.2f} s"


def _rate(mb: float, samples: list[float]) -> str:
    med = statistics.median(samples)
    return f"{med:.2f} s = {mb / med:.1f} MB/s"


def _startup_rounds(d: Daemon, want: int, running: bool, rounds: int) -> str:
    took = []
    for _ in range(rounds):
        d.stop()  # SIGTERM; with live-restore the containers keep running
        took.append(time_startup(d, want, running))
    detail = " ".join(f"{r:.2f}" for r in took)
    return f"{statistics.median(took):.2f} s ({detail})"


def section_stopped(d: Daemon, files: Files, a: argparse.Namespace) -> Results:
    try:
        d.fresh().start()
        d.cli("load", "-i", str(files.busybox))
        empty = _startup_rounds(d, 0, False, a.rounds)
        pings = []
        for _ in range(a.rounds):
            d.stop()
            pings.append(time_ping(d))
        ping = f"{statistics.median(pings):.2f} s ({' '.join(f'{r:.2f}' for r in pings)})"
        took = create_many(d, "stopped", a.stopped, ["true"])
        print(f"  {d.name}: created {a.stopped} containers in {took:.1f} s", flush=True)
        figure = _startup_rounds(d, a.stopped, False, a.rounds)
    finally:
        d.wipe()
    return {
        f"start-up until `/_ping` answers, no container, median of {a.rounds}": ping,
        f"start-up until `ps -a` answers, no container, median of {a.rounds}": empty,
        f"start-up until `ps -a` lists {a.stopped} created containers, median of {a.rounds}": (
            figure
        ),
    }


def section_running(d: Daemon, files: Files, a: argparse.Namespace) -> Results:
    try:
        d.fresh(live_restore=True).start()
        d.cli("load", "-i", str(files.busybox))
        create_many(d, "running", a.running, ["sleep", "100000"], start=True)
        figure = _startup_rounds(d, a.running, True, a.rounds)
        d.remove_all()
    finally:
        d.wipe()
    row = f"start-up until {a.running} show running (live-restore), median of {a.rounds}"
    return {row: figure}


Section = Callable[[Daemon, Files, argparse.Namespace], Results]
SECTIONS: dict[str, Section] = {
    "runs": section_runs,
    "bridge": section_bridge,
    "images": section_images,
    "logs": section_logs,
    "build": section_build,
    "stopped": section_stopped,
    "running": section_running,
}


def print_table(results: dict[str, dict[str, str]], columns: dict[str, str]) -> None:
    """A markdown table: one row per measure, one column per daemon (``columns``: daemon
    name → what to print where it has no figure)."""
    print("| measure | " + " | ".join(columns) + " |")
    print("| --- |" + " --- |" * len(columns))
    for row, vals in results.items():
        cells = " | ".join(vals.get(name, missing) for name, missing in columns.items())
        print(f"| {row} | {cells} |")


def berthd_alone(doc: str | None, sections: tuple[str, ...]) -> None:
    """The main of a script that runs ``sections`` on berthd alone (no dockerd)."""
    ap = argparse.ArgumentParser(description=(doc or "").splitlines()[0])
    add_arguments(ap)
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root")
    root = Path("/tmp/bench-berthd")
    shutil.rmtree(root, ignore_errors=True)
    (root / "work").mkdir(parents=True)
    d = Berthd(root / "berthd")
    results: dict[str, dict[str, str]] = {}
    try:
        files = Files(root / "work", a.mb)
        for name in sections:
            for row, value in SECTIONS[name](d, files, a).items():
                results[row] = {d.name: value}
    finally:
        d.wipe()
        shutil.rmtree(root, ignore_errors=True)
    print()
    print(f"{d.version()}; load average {loadavg()}")
    print_table(results, {"berthd": "-"})
    if d.leaks:
        print(f"cleanup had to remove: {d.leaks}")
