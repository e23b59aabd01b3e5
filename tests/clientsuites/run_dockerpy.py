"""Run docker-py 7.2.0's own integration suite against berthd (and dockerd), side by side.

A script, not a pytest module (pytest does not collect ``run_*.py``). Run it as root from
the repository root::

    .venv/bin/python tests/clientsuites/run_dockerpy.py --daemon berthd
    .venv/bin/python tests/clientsuites/run_dockerpy.py --daemon dockerd --rerun-failed berthd
    .venv/bin/python tests/clientsuites/run_dockerpy.py --compare

What it does:

1. docker-py's source at tag 7.2.0 goes to ``--dockerpy`` (default /tmp/dockerpy), from
   a git mirror of docker/docker-py (``--mirror``; the search tool's ``fetch`` makes one).
   Its tests import paramiko and websocket-client; if the venv lacks them, they are
   pip-installed into a directory of its own (``/tmp/dpy-deps``) that only the pytest
   subprocess sees.
2. One daemon on paths of its own: berthd through ``BerthdProcess`` (this repo's code,
   ``--berthd-src``, default the working tree) or a throwaway dockerd through
   ``DockerdProcess`` on a bridge this script makes. Both get a default bridge and an
   address pool of their own in 172.31.0.0/16, no host forwarding, ``--dns 127.0.0.1``
   (containers never reach the host's resolvers); dockerd also has iptables off and a
   dead loopback HTTP(S) proxy, so a pull that slips through cannot leave the machine.
3. No internet: the images the suite expects (alpine:3.10, alpine:latest, busybox,
   busybox:buildroot-2014.02, hello-world) are this repo's busybox test image
   (``images_build.write_archive`` of ``seed_image.busybox_layer``: every applet of the
   static busybox, not the 11 of ``build_busybox_archive``, and alpine's postgres user and
   /var/opt that two exec tests use), ``docker load``-ed and tagged. Tests that
   need a registry, the internet, swarm, plugins or a credential helper are deselected
   (``SKIPPED`` below, with the reason); they are never counted as failures.
4. One pytest subprocess per test file (``nice -n 10``, ``--timeout`` per test, a bound
   per file), a junit XML each under ``--out`` (default /tmp/dpy-results/<daemon>/);
   between files every container, network and volume is removed and the tags are put
   back. ``<out>/<daemon>.json`` maps each test id to passed/failed/skipped/error.
5. ``--rerun-failed berthd`` runs only the tests that failed on berthd (merged into the
   earlier results, as are ``--files``/``--tests`` runs); ``--compare`` prints the tests
   that pass on dockerd and fail on berthd, and those that fail on both. Each daemon's
   log is kept as ``<out>/<daemon>/daemon-HHMMSS.log``.

Other code than the working tree: ``--berthd-src DIR`` (a worktree, or a
``git archive <branch>`` export; set PYTHONDONTWRITEBYTECODE=1 for someone else's tree).
One test: ``--tests tests/integration/api_exec_test.py::ExecTest::test_exec_command``.
Runs of one daemon kind share a bridge name: run them one after the other.

``DOCKER_TEST_API_VERSION`` is 1.41 by default (``--api-version``): Debian's dockerd 20.10
speaks no newer API, and the suite must ask both daemons the same thing.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import docker  # noqa: E402

from tests.integration.daemon_process import BerthdProcess  # noqa: E402
from tests.integration.host_state import remove_all_objects  # noqa: E402
from tests.integration.images_build import write_archive  # noqa: E402
from tests.integration.seed_image import GROUP, PASSWD, busybox_layer  # noqa: E402

MIRROR = "/work/.mirror/docker+docker-py/repo"
TAG = "7.2.0"
DEPS = "/tmp/dpy-deps"
IMAGES = ("alpine:3.10", "alpine:latest", "busybox:buildroot-2014.02", "hello-world:latest")

# (bridge device, its address, the address pool of user networks)
NETS = {
    "berthd": ("dpy-berthd", "172.31.224.1/24", "172.31.232.0/21"),
    "dockerd": ("dpy-dockerd", "172.31.225.1/24", "172.31.216.0/21"),
}

FILES = [
    "api_client_test.py",
    "api_container_test.py",
    "api_exec_test.py",
    "api_healthcheck_test.py",
    "api_image_test.py",
    "api_network_test.py",
    "api_volume_test.py",
    "api_build_test.py",
    "client_test.py",
    "context_api_test.py",
    "errors_test.py",
    "models_containers_test.py",
    "models_images_test.py",
    "models_networks_test.py",
    "models_resources_test.py",
    "models_volumes_test.py",
    "regression_test.py",
]
# whole files left out: swarm mode, plugins (from Docker Hub), swarm secrets/configs
SKIPPED_FILES = {
    "api_swarm_test.py": "swarm",
    "api_service_test.py": "swarm",
    "api_secret_test.py": "swarm",
    "api_config_test.py": "swarm",
    "api_plugin_test.py": "plugins (pulled from Docker Hub)",
    "models_services_test.py": "swarm",
    "models_nodes_test.py": "swarm",
    "models_swarm_test.py": "swarm",
}
IT = "tests/integration/"
REG = "registry (pulls from Docker Hub)"
SKIPPED = {
    IT + "api_client_test.py::ConnectionTimeoutTest": "internet (connects to 192.168.10.2)",
    IT + "api_image_test.py::PullImageTest": REG,
    IT + "api_image_test.py::ImportImageTest::test_get_load_image": REG,
    IT + "api_image_test.py::InspectDistributionTest": REG,
    IT + "api_network_test.py::TestNetworks::test_create_network_attachable": "swarm",
    IT + "api_network_test.py::TestNetworks::test_create_network_ingress": "swarm",
    IT + "api_network_test.py::TestNetworks::test_create_inspect_network_with_scope": "swarm",
    IT + "api_image_test.py::PruneImagesTest::test_prune_images": REG,
    IT + "api_build_test.py::BuildTest::test_build_streaming": "internet (ADD https://...)",
    IT + "models_images_test.py::ImageCollectionTest::test_list": REG,
    IT + "models_images_test.py::ImageCollectionTest::test_list_with_repository": REG,
    IT + "models_images_test.py::ImageCollectionTest::test_pull": REG,
    IT + "models_images_test.py::ImageCollectionTest::test_pull_with_tag": REG,
    IT + "models_images_test.py::ImageCollectionTest::test_pull_with_sha": REG,
    IT + "models_images_test.py::ImageCollectionTest::test_pull_multiple": REG,
    IT + "models_images_test.py::ImageTest::test_tag_and_remove": REG,
    IT + "models_containers_test.py::ContainerCollectionTest"
    "::test_run_with_image_that_does_not_exist": REG,
}


def sh(*argv: str, check: bool = True) -> str:
    r = subprocess.run(argv, capture_output=True, text=True, check=False)
    if check and r.returncode:
        raise RuntimeError(f"{' '.join(argv)}: {r.stderr.strip()}")
    return r.stdout


def ensure_dockerpy(dest: Path, mirror: str) -> None:
    if (dest / "tests" / "integration").is_dir():
        return
    dest.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(
        ["git", "--git-dir", mirror, "archive", TAG], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)


def ensure_extras() -> list[str]:
    """The PYTHONPATH entries the pytest subprocess needs for the suite's extras: paramiko
    (imported by tests/helpers.py) and websocket-client (attach over a websocket)."""
    probe = [sys.executable, "-c", "import paramiko, websocket"]
    if subprocess.run(probe, capture_output=True).returncode == 0:
        return []
    if not all(Path(DEPS, m).is_dir() for m in ("paramiko", "websocket")):
        pip = [sys.executable, "-m", "pip", "install", "-q", "--target", DEPS]
        subprocess.run([*pip, "paramiko", "websocket-client"], check=True)
    return [DEPS]


def alpine_bits() -> bytes:
    """A layer with what of alpine:3.10 the suite relies on: its postgres user (exec as a
    user) and /var/opt (exec with a workdir)."""
    passwd = PASSWD + "postgres:x:70:70::/var/lib/postgresql:/bin/sh\n"
    group = GROUP + "postgres:x:70:\n"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for d in ("var", "var/opt"):
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        for path, text in (("etc/passwd", passwd), ("etc/group", group)):
            info = tarfile.TarInfo(path)
            info.size, info.mode = len(text), 0o644
            tar.addfile(info, io.BytesIO(text.encode()))
    return buf.getvalue()


class Daemon:
    """A berthd or dockerd of this run: started, seeded, cleaned, stopped."""

    def __init__(self, kind: str, berthd_src: Path) -> None:
        self.kind = kind
        self.bridge, self.bip, self.pool = NETS[kind]
        self.made_bridge = False
        self.proc: object = None
        if kind == "berthd":
            args = [
                "--bridge", self.bridge,
                "--bip", self.bip,
                "--default-address-pool", f"base={self.pool},size=24",
                "--ip-forward=false",
                "--dns", "127.0.0.1",
            ]  # fmt: skip
            self.proc = BerthdProcess(
                args=args,
                env={"PYTHONPATH": str(berthd_src)},
            )
            self.proc.bridge = self.bridge
        else:
            from tests.integration.dockerd_process import DockerdProcess

            self.make_bridge()
            self.proc = DockerdProcess(
                bridge=self.bridge,
                args=["--default-address-pool", f"base={self.pool},size=24", "--dns", "127.0.0.1"],
            )
        self.berthd_src = berthd_src

    @property
    def base_url(self) -> str:
        return self.proc.base_url  # type: ignore[attr-defined, no-any-return]

    def make_bridge(self) -> None:
        if Path("/sys/class/net", self.bridge).exists():
            raise RuntimeError(f"{self.bridge} exists: another run is going on, or left it")
        sh("ip", "link", "add", self.bridge, "type", "bridge")
        self.made_bridge = True
        sh("ip", "addr", "add", self.bip, "dev", self.bridge)
        sh("ip", "link", "set", self.bridge, "up")

    def start(self) -> None:
        if self.kind == "berthd":
            self.proc.start(cwd=str(self.berthd_src))  # type: ignore[attr-defined]
            return
        # a pull that the deselection missed goes to a dead loopback proxy, never to DNS
        saved = dict(os.environ)
        os.environ.update(HTTP_PROXY="http://127.0.0.1:9", HTTPS_PROXY="http://127.0.0.1:9")
        os.environ.pop("NO_PROXY", None)
        try:
            self.proc.start()  # type: ignore[attr-defined]
        finally:
            os.environ.clear()
            os.environ.update(saved)

    def client(self) -> docker.DockerClient:
        return docker.DockerClient(base_url=self.base_url, version="1.41", timeout=120)

    def seed(self) -> None:
        """busybox:latest from this repo's test image, tagged as every image the suite runs."""
        c = self.client()
        try:
            with contextlib.suppress(docker.errors.ImageNotFound):
                c.images.get("busybox:latest")
                self.tag_all(c)
                return
            with tempfile.TemporaryDirectory() as tmp:
                path = os.path.join(tmp, "busybox.tar")
                # every applet of the static busybox (top, printf, nslookup...), as
                # the real busybox and alpine images have; the test image has 11
                write_archive(path, [busybox_layer(), alpine_bits()], "busybox:latest")
                with open(path, "rb") as f:
                    c.images.load(f.read())
            self.tag_all(c)
        finally:
            c.close()

    @staticmethod
    def tag_all(c: docker.DockerClient) -> None:
        img = c.images.get("busybox:latest")
        for ref in IMAGES:
            repo, tag = ref.rsplit(":", 1)
            img.tag(repo, tag)

    def clean(self) -> None:
        c = self.client()
        try:
            remove_all_objects(c, volumes=True)
        finally:
            c.close()

    def stop(self, keep_log: Path) -> list[str]:
        with contextlib.suppress(Exception):
            self.clean()
        with contextlib.suppress(OSError):  # the daemon's log, for the findings
            shutil.copy(self.proc.log_path, keep_log)  # type: ignore[attr-defined]
        left: list[str] = []
        if self.kind == "berthd":
            self.proc.cleanup()  # type: ignore[attr-defined]
        else:
            left = self.proc.cleanup()  # type: ignore[attr-defined]
        if self.made_bridge:
            sh("ip", "link", "del", self.bridge, check=False)
        return left


def home_dir(a: argparse.Namespace, kind: str) -> str:
    """A HOME of this daemon's run: no ~/.docker of the machine, and a config.json, or
    docker-py keeps its contexts in ./contexts of the source tree (left over by
    context_api_test, they fail the next run)."""
    home = Path(a.out, kind, "home")
    (home / ".docker").mkdir(parents=True, exist_ok=True)
    (home / ".docker" / "config.json").write_text("{}")
    return str(home)


def run_file(
    d: Daemon, src: Path, name: str, only: list[str], a: argparse.Namespace, pypath: list[str]
) -> Path:
    out = Path(a.out, d.kind)
    out.mkdir(parents=True, exist_ok=True)
    xml = out / (Path(name).stem + ".xml")
    targets = only or [IT + name]
    argv = [
        "nice", "-n", "10", sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
        "-o", "addopts=", "--tb=short", "-rfE", f"--timeout={a.test_timeout}",
        f"--junitxml={xml}", *targets,
    ]  # fmt: skip
    for nodeid in SKIPPED:
        if nodeid.startswith(IT + name):
            argv += ["--deselect", nodeid]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKER_", "HTTP", "http"))}
    env.update(
        DOCKER_HOST=d.base_url,
        DOCKER_TEST_API_VERSION=a.api_version,
        PYTHONPATH=os.pathsep.join([str(src), *pypath]),
        HOME=home_dir(a, d.kind),
    )
    t0 = time.monotonic()
    log = out / (Path(name).stem + ".log")
    with open(log, "w") as f:
        try:
            subprocess.run(
                argv, cwd=src, env=env, stdout=f, stderr=subprocess.STDOUT, timeout=a.file_timeout
            )
        except subprocess.TimeoutExpired:
            f.write(f"\n*** {name}: over {a.file_timeout}s, stopped\n")
    tail = log.read_text(errors="replace").strip().splitlines()[-1:]
    print(f"{d.kind} {name}: {time.monotonic() - t0:.0f}s {tail[0] if tail else ''}", flush=True)
    return xml


def outcomes(xml: Path) -> dict[str, dict[str, str]]:
    """test id -> {"outcome": ..., "message": ...} from one junit XML."""
    res: dict[str, dict[str, str]] = {}
    if not xml.exists():
        return res
    for tc in ET.parse(xml).iter("testcase"):
        mod = tc.get("classname", "").rsplit(".", 1)
        nodeid = f"{mod[0].replace('.', '/')}.py::{mod[-1]}::{tc.get('name')}"
        outcome, msg = "passed", ""
        for kind in ("failure", "error", "skipped"):
            el = tc.find(kind)
            if el is not None:
                outcome = {"failure": "failed"}.get(kind, kind)
                msg = (el.get("message") or "")[:400]
                break
        res[nodeid] = {"outcome": outcome, "message": msg}
    return res


def run(a: argparse.Namespace) -> None:
    src = Path(a.dockerpy)
    ensure_dockerpy(src, a.mirror)
    pypath = ensure_extras()
    only: dict[str, list[str]] = {}
    if a.rerun_failed:
        prev = json.loads(Path(a.out, f"{a.rerun_failed}.json").read_text())
        for nodeid, r in prev.items():
            if r["outcome"] in ("failed", "error"):
                only.setdefault(nodeid.split("::")[0].removeprefix(IT), []).append(nodeid)
    for nodeid in a.tests or []:  # test ids as pytest prints them
        only.setdefault(nodeid.split("::")[0].removeprefix(IT), []).append(nodeid)
    files = a.files or FILES
    if a.tests:
        files = [f for f in FILES if f in only]
    if a.rerun_failed:
        files = [f for f in files if f in only]
    shutil.rmtree(Path(a.out, a.daemon, "home"), ignore_errors=True)
    shutil.rmtree(src / "contexts", ignore_errors=True)
    d = Daemon(a.daemon, Path(a.berthd_src).resolve())
    results_path = Path(a.out, f"{a.daemon}.json")
    results: dict[str, dict[str, str]] = {}
    if (a.files or a.tests or a.rerun_failed) and results_path.exists():
        # a partial run updates the earlier results
        results = json.loads(results_path.read_text())
    try:
        d.start()
        d.seed()
        for name in files:
            xml = run_file(d, src, name, only.get(name, []), a, pypath)
            results.update(outcomes(xml))
            Path(a.out).mkdir(parents=True, exist_ok=True)
            results_path.write_text(json.dumps(results, indent=1, sort_keys=True))
            d.clean()
            d.seed()
    finally:
        left = d.stop(Path(a.out, a.daemon, time.strftime("daemon-%H%M%S.log")))
        if left:
            print("cleanup had to force:", *left, sep="\n  ")
    counts: dict[str, int] = {}
    for r in results.values():
        counts[r["outcome"]] = counts.get(r["outcome"], 0) + 1
    print(a.daemon, json.dumps(counts))


def compare(a: argparse.Namespace) -> None:
    for kind in ("berthd", "dockerd"):
        if not Path(a.out, f"{kind}.json").exists():
            sys.exit(f"no {kind} results in {a.out}: run --daemon {kind} first")
    b = json.loads(Path(a.out, "berthd.json").read_text())
    dk = json.loads(Path(a.out, "dockerd.json").read_text())
    bad = ("failed", "error")
    only_b = [
        t for t, r in b.items() if r["outcome"] in bad and dk.get(t, {}).get("outcome") == "passed"
    ]
    both = [t for t, r in b.items() if r["outcome"] in bad and dk.get(t, {}).get("outcome") in bad]
    only_d = [
        t for t, r in dk.items() if r["outcome"] in bad and b.get(t, {}).get("outcome") == "passed"
    ]
    for title, ids in (
        ("fail on berthd, pass on dockerd", only_b),
        ("fail on both (environment)", both),
        ("fail on dockerd only", only_d),
    ):
        print(f"## {title}: {len(ids)}")
        for t in sorted(ids):
            print(f"- {t.removeprefix(IT)}: {b.get(t, {}).get('message', '')[:200]!r}")


def main() -> None:
    # SIGTERM (a run started in the background ignores SIGINT) still cleans up
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--daemon", choices=("berthd", "dockerd"), default="berthd")
    p.add_argument("--files", nargs="*", help="test files (default: all but swarm/plugins)")
    p.add_argument("--tests", nargs="*", help="only these test ids (tests/integration/...)")
    p.add_argument("--rerun-failed", choices=("berthd", "dockerd"))
    p.add_argument("--compare", action="store_true")
    p.add_argument("--api-version", default="1.41")
    p.add_argument("--dockerpy", default="/tmp/dockerpy")
    p.add_argument("--mirror", default=MIRROR)
    p.add_argument("--berthd-src", default=str(REPO))
    p.add_argument("--out", default="/tmp/dpy-results")
    p.add_argument("--test-timeout", type=int, default=90)
    p.add_argument("--file-timeout", type=int, default=480)
    a = p.parse_args()
    if a.compare:
        compare(a)
    else:
        run(a)


if __name__ == "__main__":
    main()
