"""testcontainers-python flows, run as ``python tc_flows.py FLOW`` by
test_testcontainers.py in an interpreter that has testcontainers installed (it is
not a dependency of berthd). DOCKER_HOST names the daemon; Ryuk is disabled (its
image cannot be pulled here). Exits 0 when the flow behaved as against dockerd,
non-zero with a traceback otherwise.
"""

from __future__ import annotations

import os
import re
import sys
import time
import urllib.request
from collections.abc import Callable

os.environ["TESTCONTAINERS_RYUK_DISABLED"] = "true"

import docker
from testcontainers.core.container import DockerContainer
from testcontainers.core.network import Network
from testcontainers.core.wait_strategies import (
    HealthcheckWaitStrategy,
    HttpWaitStrategy,
    LogMessageWaitStrategy,
    PortWaitStrategy,
)

BB = "busybox:latest"


def get(url: str) -> bytes:
    last: Exception | None = None
    for _ in range(50):
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                return bytes(r.read())
        except OSError as e:
            last = e
            time.sleep(0.1)
    raise AssertionError(f"{url}: {last}")


def generic() -> None:
    c = (
        DockerContainer(BB)
        .with_command(
            ["sh", "-c", "echo hi-$FOO > /index.html; echo READY; exec httpd -f -p 8080 -h /"]
        )
        .with_env("FOO", "bar")
        .with_exposed_ports(8080)
        .waiting_for(LogMessageWaitStrategy("READY").with_startup_timeout(20))
    )
    with c:
        host = c.get_container_host_ip()
        port = c.get_exposed_port(8080)
        assert get(f"http://{host}:{port}/index.html") == b"hi-bar\n"
        r = c.exec(["sh", "-c", "echo $FOO; exit 4"])
        assert (r.exit_code, r.output) == (4, b"bar\n"), r
        assert c.get_logs() == (b"READY\n", b""), c.get_logs()
        cid = c.get_wrapped_container().id
        assert c.get_wrapped_container().status == "running"
    left = docker.from_env().containers.list(all=True, filters={"id": cid})
    assert left == [], "the context manager left the container behind"


def log_regex_stderr() -> None:
    c = (
        DockerContainer(BB)
        .with_command("sh -c 'sleep 1; echo started on port 1234 >&2; sleep 60'")
        .waiting_for(LogMessageWaitStrategy(re.compile(r"port \d+")).with_startup_timeout(20))
    )
    with c:
        assert c.get_logs() == (b"", b"started on port 1234\n")


def network_alias() -> None:
    with Network() as net:
        srv = (
            DockerContainer(BB)
            .with_command("sh -c 'echo srv > /i; exec httpd -f -p 80 -h /'")
            .with_network(net)
            .with_network_aliases("srv")
        )
        with srv, DockerContainer(BB).with_command("sleep 60").with_network(net) as cl:
            r = None
            for _ in range(30):
                r = cl.exec("wget -qO- http://srv/i")
                if r.exit_code == 0:
                    break
                time.sleep(0.2)
            assert r is not None and r.output == b"srv\n", r


def copy_into() -> None:
    c = (
        DockerContainer(BB)
        .with_command("sleep 60")
        .with_copy_into_container(b"payload\n", "/tmp/p.txt")
    )
    with c:
        r = c.exec("cat /tmp/p.txt")
        assert r.output == b"payload\n", r


def http_wait() -> None:
    c = (
        DockerContainer(BB)
        .with_command("sh -c 'sleep 1; echo ok > /i; exec httpd -f -p 8080 -h /'")
        .with_exposed_ports(8080)
        .waiting_for(HttpWaitStrategy(8080, "/i").with_startup_timeout(20))
    )
    with c:
        port = c.get_exposed_port(8080)
        assert get(f"http://{c.get_container_host_ip()}:{port}/i") == b"ok\n"


def port_wait() -> None:
    c = (
        DockerContainer(BB)
        .with_command("sh -c 'sleep 1; exec nc -ll -p 9000 -e echo hi'")
        .with_exposed_ports(9000)
        .waiting_for(PortWaitStrategy(9000).with_startup_timeout(20))
    )
    with c:
        assert int(c.get_exposed_port(9000)) > 0


def health_wait() -> None:
    c = (
        DockerContainer(BB)
        .with_command("sh -c 'sleep 1; touch /ok; sleep 60'")
        .with_kwargs(
            healthcheck={
                "test": ["CMD", "test", "-f", "/ok"],
                "interval": 500_000_000,
                "timeout": 1_000_000_000,
                "retries": 10,
            }
        )
        .waiting_for(HealthcheckWaitStrategy().with_startup_timeout(20))
    )
    with c:
        w = c.get_wrapped_container()
        w.reload()
        assert w.attrs["State"]["Health"]["Status"] == "healthy"


def volume_and_name() -> None:
    src = os.environ["TC_BIND_DIR"]
    with open(os.path.join(src, "h.txt"), "w") as f:
        f.write("fromhost")
    c = (
        DockerContainer(BB)
        .with_command("sleep 60")
        .with_volume_mapping(src, "/v", "rw")
        .with_name("tc-named")
    )
    with c:
        r = c.exec("sh -c 'cat /v/h.txt; echo back > /v/c.txt'")
        assert r.output == b"fromhost", r
        assert c.get_wrapped_container().name == "tc-named"
    with open(os.path.join(src, "c.txt")) as f:
        assert f.read() == "back\n"


def exited() -> None:
    c = DockerContainer(BB).with_command("sh -c 'echo bye; exit 3'")
    c.start()
    try:
        assert c.get_wrapped_container().wait(timeout=20) == {"StatusCode": 3}
        assert c.get_logs() == (b"bye\n", b"")
    finally:
        c.stop()


FLOWS: dict[str, Callable[[], None]] = {
    f.__name__: f
    for f in (
        generic,
        log_regex_stderr,
        network_alias,
        copy_into,
        http_wait,
        port_wait,
        health_wait,
        volume_and_name,
        exited,
    )
}

if __name__ == "__main__":
    FLOWS[sys.argv[1]]()
    print("ok", sys.argv[1])
