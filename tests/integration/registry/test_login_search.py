"""``docker login``, ``docker search`` and ``docker info`` through berthd (CLI 28)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator

import pytest

from tests.integration.daemon_process import BerthdProcess
from tests.integration.registry_server import (
    PASSWORD,
    USER,
    FakeIndex,
    RegistryServer,
    ipv6_loopback,
)


class Cli:
    def __init__(self, daemon: BerthdProcess, docker: str) -> None:
        self.daemon = daemon
        self.docker = docker
        self.cfg = daemon.root / "docker-cli"
        self.certs = daemon.root / "certs.d"

    def run(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "DOCKER_HOST": self.daemon.base_url,
            "DOCKER_CONFIG": str(self.cfg),
        }
        return subprocess.run(
            [self.docker, *args], input=stdin, capture_output=True, text=True, env=env, timeout=60
        )

    def login(self, server: str, password: str = PASSWORD) -> subprocess.CompletedProcess[str]:
        return self.run("login", "-u", USER, "--password-stdin", server, stdin=password + "\n")

    def auths(self) -> dict[str, dict[str, str]]:
        data = json.loads((self.cfg / "config.json").read_text())
        return data.get("auths", {})


@pytest.fixture(scope="module")
def cli() -> Iterator[Cli]:
    if os.geteuid() != 0:
        pytest.skip("integration tests need root")
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("the docker CLI is not installed")
    d = BerthdProcess()
    d.extra_args += ["--registry-certs-dir", str(d.root / "certs.d")]
    d.start()
    try:
        yield Cli(d, docker)
    finally:
        d.cleanup()


def test_login_htpasswd(cli: Cli, htpasswd_registry: RegistryServer) -> None:
    r = cli.login(htpasswd_registry.host)
    assert r.returncode == 0, r.stderr
    assert "Login Succeeded" in r.stdout
    assert htpasswd_registry.host in cli.auths()

    import docker

    client = docker.DockerClient(base_url=cli.daemon.base_url)
    try:
        reply = client.login(USER, PASSWORD, registry=htpasswd_registry.host, reauth=True)
    finally:
        client.close()
    assert reply == {"IdentityToken": "", "Status": "Login Succeeded"}

    bad = cli.login(htpasswd_registry.host, "wrong")
    assert bad.returncode != 0
    assert (
        f"Error response from daemon: login attempt to http://{htpasswd_registry.host}/v2/ "
        "failed with status: 401 Unauthorized"
    ) in bad.stderr


def test_login_token_server_gives_identity_token(cli: Cli, token_registry: RegistryServer) -> None:
    r = cli.login(token_registry.host)
    assert r.returncode == 0, r.stderr
    assert "Login Succeeded" in r.stdout
    entry = cli.auths()[token_registry.host]
    assert entry.get("identitytoken")  # the refresh token; the CLI stores no password then
    assert token_registry.token_server is not None
    assert any("offline_token=true" in path for _, path, _ in token_registry.token_server.requests)

    bad = cli.login(token_registry.host, "wrong")
    assert bad.returncode != 0
    assert (
        f'Error response from daemon: Get "http://{token_registry.host}/v2/": '
        "unauthorized: incorrect username or password"
    ) in bad.stderr


def test_login_tls_through_certs_dir(cli: Cli) -> None:
    # ::1 is not in 127.0.0.0/8, so the registry is secure: the CA must come from certs.d
    if not ipv6_loopback():
        pytest.skip("no IPv6 loopback")
    with RegistryServer("tls", auth="htpasswd", host="::1") as reg:
        untrusted = cli.login(reg.host)
        assert untrusted.returncode != 0
        assert "x509: certificate signed by unknown authority" in untrusted.stderr
        host_dir = cli.certs / reg.host
        host_dir.mkdir(parents=True)
        shutil.copy(reg.ca_cert, host_dir / "ca.crt")
        r = cli.login(reg.host)
        assert r.returncode == 0, r.stderr
        assert "Login Succeeded" in r.stdout


def test_search_v1_index(cli: Cli, fake_index: FakeIndex) -> None:
    host = f"127.0.0.1:{fake_index.port}"
    r = cli.run("search", f"{host}/busybox")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["NAME", "DESCRIPTION", "STARS", "OFFICIAL"]
    assert any(line.startswith("busybox ") and "3000" in line and "[OK]" in line for line in lines)
    assert any(line.startswith("someone/busybox-tools") for line in lines)

    official = cli.run("search", "--filter", "is-official=true", f"{host}/busybox")
    assert [line.split()[0] for line in official.stdout.splitlines()[1:]] == ["busybox"]
    stars = cli.run("search", "--filter", "stars=10", "--format", "{{.Name}}", f"{host}/busybox")
    assert stars.stdout.split() == ["busybox"]
    automated = cli.run("search", "--filter", "is-automated=true", f"{host}/busybox")
    assert automated.stdout.splitlines()[1:] == []
    path, headers = fake_index.requests[-1]
    assert path.startswith("/v1/search?q=busybox&n=25")
    assert headers.get("X-Docker-Token") == "true"
    assert "UpstreamClient(Docker-Client/" in headers.get("User-Agent", "")

    too_many = cli.run("search", "--limit", "101", f"{host}/busybox")
    assert "limit 101 is outside the range of [1, 100]" in too_many.stderr
    bad_filter = cli.run("search", "--filter", "stars=x", f"{host}/busybox")
    assert "invalid filter 'stars=x'" in bad_filter.stderr


def test_info_registry_config_and_reload(docker_cli: str) -> None:
    if os.geteuid() != 0:
        pytest.skip("integration tests need root")
    d = BerthdProcess(
        args=["--registry-mirror", "https://mirror.test"],
        config={"insecure-registries": ["10.1.0.0/16", "myreg.test:5000"]},
    )
    d.start()
    try:
        cli = Cli(d, docker_cli)

        def registry_config() -> dict[str, object]:
            r = cli.run("info", "--format", "{{json .RegistryConfig}}")
            assert r.returncode == 0, r.stderr
            return dict(json.loads(r.stdout))

        cfg = registry_config()
        assert cfg["InsecureRegistryCIDRs"] == ["10.1.0.0/16", "127.0.0.0/8"]
        assert cfg["Mirrors"] == ["https://mirror.test/"]
        assert cfg["IndexConfigs"] == {
            "docker.io": {"Name": "docker.io", "Mirrors": ["https://mirror.test/"], "Secure": True, "Official": True},
            "myreg.test:5000": {"Name": "myreg.test:5000", "Mirrors": [], "Secure": False, "Official": False},
        }  # fmt: skip

        d.write_config({"insecure-registries": ["other.test"]})
        d.signal(signal.SIGHUP)
        deadline = time.monotonic() + 15
        while "other.test" not in registry_config()["IndexConfigs"]:  # type: ignore[operator]
            assert time.monotonic() < deadline, d.logs()
            time.sleep(0.2)
        assert "myreg.test:5000" not in registry_config()["IndexConfigs"]  # type: ignore[operator]
    finally:
        d.cleanup()
