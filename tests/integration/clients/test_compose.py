"""docker-compose 1.29 (Debian's, Python, on the docker SDK) against berthd.

A three-service project from busybox: an httpd ``web`` with a published port on
127.0.0.1, a named volume, environment, labels, a healthcheck and a restart
policy; a ``worker`` that waits for ``web`` to be healthy and fetches from it by
service name over the project network; a one-shot ``job`` writing to a shared
volume. Driven through up/ps/logs/exec/run/scale/stop/start/restart/down.

Skipped when ``docker-compose`` (v1) is not installed.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.ports import free_port
from tests.integration.clients.conftest import ClientEnv, fetch, wait_for


def compose_v1() -> str | None:
    path = shutil.which("docker-compose")
    if path is None:
        return None
    r = subprocess.run([path, "version", "--short"], capture_output=True, text=True, check=False)
    return path if r.stdout.strip().startswith("1.") else None


COMPOSE = compose_v1()
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(COMPOSE is None, reason="docker-compose v1 is not installed"),
]


class Project:
    def __init__(self, env: ClientEnv, root: Path, name: str) -> None:
        self.env, self.root, self.name = env, root, name
        assert COMPOSE is not None
        self.bin = COMPOSE
        self.api: str | None = None  # COMPOSE_API_VERSION, None: negotiated

    def write(self, text: str) -> None:
        (self.root / "docker-compose.yml").write_text(textwrap.dedent(text))

    def __call__(
        self, *args: str, check: bool = True, timeout: float = 180
    ) -> subprocess.CompletedProcess[str]:
        extra = {"COMPOSE_PROJECT_NAME": self.name}
        if self.api:
            extra["COMPOSE_API_VERSION"] = self.api
        return self.env.run(
            [self.bin, "--ansi", "never", *args],
            cwd=str(self.root),
            env=extra,
            check=check,
            timeout=timeout,
        )

    def container(self, service: str, n: int = 1) -> dict:  # type: ignore[type-arg]
        return dict(self.env.client.api.inspect_container(f"{self.name}_{service}_{n}"))

    def containers(self, service: str) -> list[str]:
        return sorted(
            c.name
            for c in self.env.client.containers.list(
                all=True,
                filters={
                    "label": [
                        f"com.docker.compose.project={self.name}",
                        f"com.docker.compose.service={service}",
                        "com.docker.compose.oneoff=False",
                    ]
                },
            )
        )


@pytest.fixture
def project(
    client_env: ClientEnv, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Project]:
    name = "cc" + re.sub(r"[^a-z0-9]", "", request.node.name.lower())[-20:]
    p = Project(client_env, tmp_path, name)
    try:
        yield p
    finally:
        if (tmp_path / "docker-compose.yml").exists():
            p("down", "-v", "-t", "1", "--remove-orphans", check=False)


WEB_PROJECT = """\
    version: "2.4"
    services:
      web:
        image: busybox:latest
        command: ["sh", "-c", "echo hello-$${{GREETING}} > /www/index.html && exec httpd -f -p 8080 -h /www"]
        environment:
          GREETING: {greeting}
        labels:
          com.example.role: web
        ports:
          - "127.0.0.1:{port}:8080"
        volumes:
          - webdata:/www
        healthcheck:
          test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/"]
          interval: 1s
          timeout: 2s
          retries: 10
        restart: unless-stopped
        stop_signal: SIGKILL
      worker:
        image: busybox:latest
        command: ["sh", "-c", "trap 'exit 0' TERM; while true; do wget -q -O- http://web:8080/ || echo FAIL; sleep 1 & wait; done"]
        depends_on:
          web:
            condition: service_healthy
        environment:
          - ROLE=worker
        volumes:
          - shared:/shared
        restart: always
      job:
        image: busybox:latest
        command: ["sh", "-c", "echo job ran as $$ROLE; date > /shared/stamp"]
        environment:
          ROLE: job
        volumes:
          - shared:/shared
    volumes:
      webdata:
      shared:
        labels:
          com.example.vol: shared
"""


def test_config_is_client_side(project: Project) -> None:
    project.write(WEB_PROJECT.format(greeting="world", port=free_port()))
    out = project("config").stdout
    assert "condition: service_healthy" in out
    assert set(project("config", "--services").stdout.split()) == {"web", "worker", "job"}
    assert set(project("config", "--volumes").stdout.split()) == {"webdata", "shared"}


def test_project_lifecycle(project: Project, client_env: ClientEnv) -> None:
    port = free_port()
    project.write(WEB_PROJECT.format(greeting="world", port=port))
    project("up", "-d")

    # everything up, web healthy (worker waited for that), the job ran once
    web = project.container("web")
    assert web["State"]["Running"] and web["State"]["Health"]["Status"] == "healthy"
    assert web["Config"]["Labels"]["com.example.role"] == "web"
    assert web["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
    assert project.container("worker")["State"]["Running"]
    job = project.container("job")
    assert job["State"]["Status"] == "exited" and job["State"]["ExitCode"] == 0
    ps = project("ps").stdout
    assert re.search(rf"{project.name}_web_1 .* Up \(healthy\)", ps), ps
    assert f"127.0.0.1:{port}->8080/tcp" in ps

    # the published port, and the worker reaching web by service name
    assert fetch(f"http://127.0.0.1:{port}/index.html") == b"hello-world\n"
    wait_for(
        lambda: "hello-world" in project("logs", "--no-color", "worker").stdout,
        what="the worker to fetch from web",
    )
    assert "job ran as job" in project("logs", "--no-color", "job").stdout

    # volumes: named, labelled, shared between job and run
    vols = {v.name: v.attrs for v in client_env.client.volumes.list()}
    assert vols[f"{project.name}_shared"]["Labels"]["com.example.vol"] == "shared"
    assert f"{project.name}_webdata" in vols

    # exec and run
    r = project("exec", "-T", "web", "sh", "-c", "echo $GREETING; cat /www/index.html")
    assert r.stdout.split() == ["world", "hello-world"]
    r = project(
        "run",
        "--rm",
        "-T",
        "-e",
        "EXTRA=1",
        "job",
        "sh",
        "-c",
        "echo $EXTRA $ROLE; cat /shared/stamp",
    )
    assert r.stdout.splitlines()[0] == "1 job"
    r = project("run", "--rm", "-T", "job", "sh", "-c", "exit 3", check=False)
    assert r.returncode == 3
    r = project("run", "--rm", "-T", "--no-deps", "worker", "wget", "-q", "-O-", "http://web:8080/")
    assert r.stdout.strip() == "hello-world"
    oneoff = client_env.client.containers.list(
        all=True, filters={"label": "com.docker.compose.oneoff=True"}
    )
    assert not [c.name for c in oneoff if c.name.startswith(project.name)]

    # up -d with nothing changed recreates nothing
    ids = {s: project.container(s)["Id"] for s in ("web", "worker")}
    r = project("up", "-d")
    assert f"{project.name}_web_1 is up-to-date" in r.stderr, r.stderr
    assert {s: project.container(s)["Id"] for s in ("web", "worker")} == ids

    # scale up and back down
    project("up", "-d", "--scale", "worker=3")
    assert project.containers("worker") == [f"{project.name}_worker_{i}" for i in (1, 2, 3)]
    for i in (2, 3):
        wait_for(
            lambda i=i: (
                "hello-world"
                in client_env.client.containers.get(f"{project.name}_worker_{i}").logs().decode()
            ),
            what=f"worker {i} to reach web",
        )
    project("up", "-d", "--scale", "worker=1")
    assert project.containers("worker") == [f"{project.name}_worker_1"]

    # stop / start / restart
    project("stop", "-t", "2")
    for s in ("web", "worker"):
        assert project.container(s)["State"]["Status"] == "exited"
    project("start")
    assert project.container("web")["State"]["Running"]
    assert fetch(f"http://127.0.0.1:{port}/index.html") == b"hello-world\n"
    started = project.container("web")["State"]["StartedAt"]
    project("restart", "-t", "1", "web")
    wait_for(
        lambda: project.container("web")["State"]["StartedAt"] != started,
        what="web to be started again",
    )
    wait_for(
        lambda: project.container("web")["State"]["Health"]["Status"] == "healthy",
        what="web healthy again",
    )
    assert fetch(f"http://127.0.0.1:{port}/index.html") == b"hello-world\n"

    # down -v removes containers, the network and the volumes
    project("down", "-v", "-t", "1")
    left = client_env.client.containers.list(
        all=True, filters={"label": f"com.docker.compose.project={project.name}"}
    )
    assert left == []
    assert not [
        n.name for n in client_env.client.networks.list() if n.name.startswith(project.name)
    ]
    assert not [v.name for v in client_env.client.volumes.list() if v.name.startswith(project.name)]


def test_recreate_on_changed_environment(project: Project) -> None:
    """``up -d`` after a change recreates the service and its dependants follow.

    Not pinned: compose 1.29.2 reads ``ContainerConfig`` from the image when it
    recreates, which dockerd 26+ no longer returns at API 1.45 (compose then dies
    with ``KeyError: 'ContainerConfig'``); berthd keeps it at every version.
    """
    port = free_port()
    project.write(WEB_PROJECT.format(greeting="world", port=port))
    project("up", "-d")
    assert fetch(f"http://127.0.0.1:{port}/index.html") == b"hello-world\n"
    old = project.container("web")["Id"]
    worker = project.container("worker")["Id"]

    project.write(WEB_PROJECT.format(greeting="changed", port=port))
    r = project("up", "-d")
    assert f"Recreating {project.name}_web_1" in r.stderr, r.stderr
    new = project.container("web")
    assert new["Id"] != old and new["Name"] == f"/{project.name}_web_1"
    assert "GREETING=changed" in new["Config"]["Env"]
    assert fetch(f"http://127.0.0.1:{port}/index.html") == b"hello-changed\n"
    # the worker is not recreated, and reaches the new web by name
    assert project.container("worker")["Id"] == worker
    wait_for(
        lambda: "hello-changed" in project("logs", "--no-color", "--tail=3", "worker").stdout,
        what="the worker to reach the recreated web",
    )


def test_unhealthy_dependency_is_reported(project: Project) -> None:
    project.write(
        """\
        version: "2.4"
        services:
          sick:
            image: busybox:latest
            command: sleep 300
            stop_signal: SIGKILL
            healthcheck:
              test: ["CMD-SHELL", "exit 1"]
              interval: 1s
              timeout: 1s
              retries: 2
          dep:
            image: busybox:latest
            command: sleep 300
            depends_on:
              sick:
                condition: service_healthy
        """
    )
    r = project("up", "-d", "dep", check=False)
    assert r.returncode != 0
    assert re.search(r'ERROR: for dep\s+Container "[0-9a-f]{12}" is unhealthy', r.stderr), r.stderr
    assert project.container("sick")["State"]["Health"]["Status"] == "unhealthy"
    assert project.containers("dep") == []


def test_abort_on_container_exit(project: Project) -> None:
    project.write(
        """\
        version: "2.4"
        services:
          done:
            image: busybox:latest
            command: sh -c 'sleep 1; echo finishing; exit 7'
          long:
            image: busybox:latest
            command: sh -c 'trap "echo got TERM; exit 0" TERM; echo started; while true; do sleep 0.2; done'
        """
    )
    r = project("up", "--abort-on-container-exit", "--exit-code-from", "done", check=False)
    assert r.returncode == 7, r.stdout + r.stderr
    assert "finishing" in r.stdout
    assert project.container("long")["State"]["ExitCode"] == 0


def test_network_and_pid_of_another_service(project: Project) -> None:
    """``network_mode: service:main`` and ``pid: service:main`` (compose turns them
    into ``container:<id>``): the sidecar sees main's addresses and processes."""
    project.write(
        """\
        version: "2.4"
        services:
          main:
            image: busybox:latest
            command: sleep 300
            stop_signal: SIGKILL
          sidecar:
            image: busybox:latest
            command: sleep 301
            stop_signal: SIGKILL
            network_mode: "service:main"
            pid: "service:main"
        """
    )
    project("up", "-d")
    main_ip = project.container("main")["NetworkSettings"]["Networks"][f"{project.name}_default"][
        "IPAddress"
    ]
    r = project("exec", "-T", "sidecar", "sh", "-c", "ip -4 -o addr show eth0; ps -o args")
    assert main_ip in r.stdout
    assert "sleep 300" in r.stdout and "sleep 301" in r.stdout


def test_service_name_resolves_to_one_address(project: Project) -> None:
    """A container's name, its service name and its short ID each answer with the
    container's one address on the project network, as dockerd's resolver does."""
    project.write(
        """\
        version: "2.4"
        services:
          a:
            image: busybox:latest
            command: sleep 300
            stop_signal: SIGKILL
          b:
            image: busybox:latest
            command: sleep 300
            stop_signal: SIGKILL
        """
    )
    project("up", "-d")
    b = project.container("b")
    ip = b["NetworkSettings"]["Networks"][f"{project.name}_default"]["IPAddress"]
    for name in ("b", f"{project.name}_b_1", b["Id"][:12]):
        out = project("exec", "-T", "a", "nslookup", "-type=a", name).stdout
        answers = re.findall(r"^Address: (\S+)$", out, re.M)
        assert answers == [ip], f"{name}: {out}"


def test_restart_service_with_restart_policy(project: Project) -> None:
    """``docker-compose restart`` of a service with a restart policy: when the
    command returns, the container runs again (new StartedAt, new PID) and the
    restart was the user's, not the policy's (RestartCount stays 0), as with
    dockerd."""
    project.write(
        """\
        version: "2.4"
        services:
          always:
            image: busybox:latest
            command: sleep 300
            restart: always
          unless:
            image: busybox:latest
            command: sleep 300
            restart: unless-stopped
            stop_signal: SIGKILL
        """
    )
    project("up", "-d")
    before = {s: project.container(s)["State"] for s in ("always", "unless")}
    project("restart", "-t", "1")
    for s in ("always", "unless"):
        c = project.container(s)
        st = c["State"]
        assert (st["Status"], st["Running"], st["Restarting"]) == ("running", True, False), (s, st)
        assert st["StartedAt"] != before[s]["StartedAt"] and st["Pid"] not in (0, before[s]["Pid"])
        assert c["RestartCount"] == 0, (s, c["RestartCount"])
