"""berthd as a real process, driven by the docker CLI and the docker SDK."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import docker
import pytest

from tests.helpers.cli import cli
from tests.helpers.ports import free_port
from tests.helpers.tls import make_daemon_certs
from tests.integration.daemon_process import BerthdProcess, run_berthd


def test_cli_version_and_info(berthd: BerthdProcess, docker_cli: str) -> None:
    out = cli(docker_cli, berthd.base_url, "version", "--format", "{{json .Server}}")
    server = json.loads(out.stdout)
    assert server["ApiVersion"] == "1.45"
    assert server["MinAPIVersion"] == "1.24"
    assert server["Os"] == "linux"
    names = [c["Name"] for c in server["Components"]]
    assert names[0] == "Engine"
    out = cli(docker_cli, berthd.base_url, "info", "--format", "{{json .}}")
    info = json.loads(out.stdout)
    assert info["DockerRootDir"] == berthd.data_root
    assert info["NCPU"] == len(os.sched_getaffinity(0))
    assert info["OSType"] == "linux"
    assert info["Swarm"]["LocalNodeState"] == "inactive"
    assert info["DefaultRuntime"] in info["Runtimes"]


def test_sdk_ping_version_info(berthd: BerthdProcess) -> None:
    client = docker.DockerClient(base_url=berthd.base_url, version="auto")
    try:
        assert client.ping() is True
        assert client.version()["ApiVersion"] == "1.45"
        info = client.info()
        assert info["ID"].count(":") == 11
        assert client.api.api_version == "1.45"
    finally:
        client.close()


def test_daemon_id_persists_across_restarts(tmp_path: Path) -> None:
    d = BerthdProcess(root=tmp_path).start()
    try:
        c = docker.APIClient(base_url=d.base_url, version="1.45")
        first = c.info()["ID"]
        c.close()
        assert d.stop() == 0
        d.start()
        c = docker.APIClient(base_url=d.base_url, version="1.45")
        assert c.info()["ID"] == first
        c.close()
        assert (tmp_path / "data" / "trust" / "key.pem").exists()
    finally:
        d.stop()


def test_reload_emits_event_and_applies_labels(berthd: BerthdProcess) -> None:
    client = docker.APIClient(base_url=berthd.base_url, version="1.45")
    got: list[dict[str, Any]] = []
    stream = client.events(decode=True, filters={"type": "daemon"})

    def reader() -> None:
        for ev in stream:
            got.append(ev)
            return

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    time.sleep(0.3)
    berthd.write_config({"labels": ["team=berth"], "debug": True})
    berthd.signal(signal.SIGHUP)
    t.join(10)
    stream.close()
    assert got, berthd.logs()
    assert got[0]["Action"] == "reload"
    assert got[0]["Actor"]["Attributes"]["labels"] == '["team=berth"]'
    info = client.info()
    assert info["Labels"] == ["team=berth"]
    assert info["Debug"] is True
    # an invalid file keeps the running configuration
    berthd.write_config({"labels": ["x=y"], "not-an-option": 1})
    berthd.signal(signal.SIGHUP)
    time.sleep(0.5)
    assert client.info()["Labels"] == ["team=berth"]
    assert "Error reconfiguring the daemon" in berthd.logs()
    # the reload event is in the history: --since replays it
    past = list(
        client.events(since=0, until=int(time.time()) + 1, decode=True, filters={"event": "reload"})
    )
    assert len(past) == 1
    client.close()


def test_sigterm_stops_cleanly(tmp_path: Path) -> None:
    d = BerthdProcess(root=tmp_path, args=["--shutdown-timeout", "2"]).start()
    start = time.monotonic()
    assert d.stop(timeout=15) == 0
    assert time.monotonic() - start < 10
    assert not os.path.exists(d.pidfile)
    assert not os.path.exists(d.sock)
    assert "Processing signal" in d.logs()


def test_pidfile_refuses_a_second_daemon(berthd: BerthdProcess, tmp_path: Path) -> None:
    r = run_berthd(
        [
            "-H",
            f"unix://{tmp_path}/other.sock",
            "--data-root",
            str(tmp_path / "d"),
            "--exec-root",
            str(tmp_path / "e"),
            "--pidfile",
            berthd.pidfile,
            "--config-file",
            berthd.config_file,
        ]
    )
    assert r.returncode == 1
    assert "is still running" in r.stderr
    assert Path(berthd.pidfile).read_text().strip() == str(berthd.proc.pid)  # type: ignore[union-attr]


def test_stale_pidfile_is_taken_over(tmp_path: Path) -> None:
    d = BerthdProcess(root=tmp_path)
    Path(d.pidfile).write_text("999999")
    d.start()
    try:
        assert Path(d.pidfile).read_text().strip() == str(d.proc.pid)  # type: ignore[union-attr]
    finally:
        d.stop()


def test_unix_and_tcp_at_once(tmp_path: Path, docker_cli: str) -> None:
    port = free_port()
    d = BerthdProcess(root=tmp_path, args=["-H", f"tcp://127.0.0.1:{port}"]).start()
    try:
        for host in (d.base_url, f"tcp://127.0.0.1:{port}"):
            out = cli(docker_cli, host, "version", "--format", "{{.Server.APIVersion}}")
            assert out.stdout.strip() == "1.45"
        assert "DON'T BIND ON ANY IP ADDRESS WITHOUT setting --tlsverify" in d.logs()
        mode = os.stat(d.sock).st_mode & 0o777
        assert mode == 0o660
    finally:
        d.stop()


def test_tlsverify_with_client_certificates(tmp_path: Path, docker_cli: str) -> None:
    certs = make_daemon_certs(tmp_path / "certs")
    port = free_port()
    d = BerthdProcess(
        root=tmp_path, args=["-H", f"tcp://127.0.0.1:{port}", *certs.daemon_args()]
    ).start()
    host = f"tcp://127.0.0.1:{port}"
    try:
        out = cli(
            docker_cli,
            host,
            *certs.client_args(),
            "version",
            "--format",
            "{{.Server.APIVersion}}",
        )
        assert out.stdout.strip() == "1.45"
        # no client certificate: refused
        bad = cli(docker_cli, host, "--tls", "--tlscacert", certs.ca, "version", check=False)
        assert bad.returncode != 0
        # plain HTTP on the TLS port: refused
        plain = cli(docker_cli, host, "version", check=False)
        assert plain.returncode != 0
        # the SDK, with REQUESTS_CA_BUNDLE out of the way (it overrides ca_cert)
        saved = {
            k: os.environ.pop(k)
            for k in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")
            if k in os.environ
        }
        try:
            tls = docker.tls.TLSConfig(
                ca_cert=certs.ca,
                client_cert=certs.client,
                verify=True,
            )
            c = docker.APIClient(base_url=f"https://127.0.0.1:{port}", tls=tls, version="1.45")
            assert c.version()["ApiVersion"] == "1.45"
            c.close()
        finally:
            os.environ.update(saved)
    finally:
        d.stop()


@pytest.mark.parametrize(
    ("config", "args", "message"),
    [
        ({"debug": True}, ["--debug"], "specified both as a flag and in the configuration file"),
        (
            {"no-such-key": 1},
            [],
            "the following directives don't match any configuration option: no-such-key",
        ),
        ({"log-level": "chatty"}, [], "invalid logging level: chatty"),
    ],
)
def test_bad_configuration_refuses_to_start(
    tmp_path: Path, config: dict[str, Any], args: list[str], message: str
) -> None:
    cfg = tmp_path / "daemon.json"
    cfg.write_text(json.dumps(config))
    r = run_berthd(
        [
            "-H",
            f"unix://{tmp_path}/s.sock",
            "--data-root",
            str(tmp_path / "d"),
            "--exec-root",
            str(tmp_path / "e"),
            "--pidfile",
            str(tmp_path / "p"),
            "--config-file",
            str(cfg),
            *args,
        ]
    )
    assert r.returncode == 1
    assert message in r.stderr
    assert f"unable to configure the Docker daemon with file {cfg}" in r.stderr
    assert not (tmp_path / "d").exists()  # refused before touching anything


def test_validate_and_version_flags(tmp_path: Path) -> None:
    cfg = tmp_path / "daemon.json"
    cfg.write_text('{"debug": true}')
    r = run_berthd(["--validate", "--config-file", str(cfg)])
    assert (r.returncode, r.stdout.strip()) == (0, "configuration OK")
    r = run_berthd(["-v"])
    assert r.returncode == 0 and r.stdout.startswith("berthd version ")


def test_sigusr1_writes_a_stack_dump(berthd: BerthdProcess) -> None:
    berthd.signal(signal.SIGUSR1)
    deadline = time.monotonic() + 10
    dumps: list[str] = []
    while time.monotonic() < deadline and not dumps:
        dumps = [f for f in os.listdir(berthd.exec_root) if f.startswith("goroutine-stacks-")]
        time.sleep(0.05)
    assert dumps
    text = Path(berthd.exec_root, dumps[0]).read_text()
    assert "asyncio tasks" in text and "threads" in text
    assert "goroutine stacks written to" in berthd.logs()


def test_sd_notify_ready_and_stopping(tmp_path: Path) -> None:
    path = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.bind(path)
        s.settimeout(20)
        d = BerthdProcess(root=tmp_path, env={"NOTIFY_SOCKET": path}).start(wait=False)
        try:
            assert s.recv(100) == b"READY=1"
            # READY=1 comes only once the API answers
            c = docker.APIClient(base_url=d.base_url, version="1.45")
            assert c.ping()
            c.close()
            d.signal(signal.SIGTERM)
            assert s.recv(100) == b"STOPPING=1"
        finally:
            d.stop()


def test_fd_socket_activation(tmp_path: Path) -> None:
    path = str(tmp_path / "activated.sock")
    lsock = socket.socket(socket.AF_UNIX)
    lsock.bind(path)
    lsock.listen(16)
    fd = lsock.fileno()

    def to_fd3() -> None:
        os.dup2(fd, 3)
        os.set_inheritable(3, True)

    d = BerthdProcess(root=tmp_path, args=["-H", "fd://"], unix=False)
    # sh's $$ is berthd's pid after exec, as systemd sets LISTEN_PID
    argv = " ".join(f"'{a}'" for a in d.argv())
    env = dict(os.environ)
    log = open(d.log_path, "ab")  # noqa: SIM115
    proc = subprocess.Popen(
        ["sh", "-c", f"LISTEN_PID=$$ LISTEN_FDS=1 exec {argv}"],
        preexec_fn=to_fd3,
        pass_fds=(fd, 3),
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    lsock.close()
    d.proc = proc
    d.log = log
    try:
        d.wait_ready()
        c = docker.APIClient(base_url="unix://" + path, version="1.45")
        assert c.version()["ApiVersion"] == "1.45"
        c.close()
    finally:
        assert d.stop() == 0
