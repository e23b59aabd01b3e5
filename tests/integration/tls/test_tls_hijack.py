"""Attach and exec over TLS: the client's half-close must not cut the output.

``echo … | docker --tlsverify exec -i c sh -c 'cat; sleep; echo after'``: the
CLI sends stdin, then a TLS close_notify (CloseWrite); dockerd keeps writing.
CPython's SSL transport shuts the connection down on close_notify unless
berthd keeps it half-open (api/hijack.py).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.daemon_process import BerthdProcess, free_port
from tests.integration.seed_image import seed_busybox
from tests.integration.system.test_daemon import _make_certs


@pytest.fixture(scope="module")
def tls_daemon(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[BerthdProcess, list[str]]]:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    root = tmp_path_factory.mktemp("tls")
    certs = root / "certs"
    certs.mkdir()
    _make_certs(certs)
    port = free_port()
    d = BerthdProcess(
        root=root,
        args=[
            "-H",
            f"tcp://127.0.0.1:{port}",
            "--tlsverify",
            "--tlscacert",
            str(certs / "ca.pem"),
            "--tlscert",
            str(certs / "server-cert.pem"),
            "--tlskey",
            str(certs / "server-key.pem"),
        ],
    )
    seed_busybox(d.data_root)
    d.start()
    cli = [
        "docker",
        "-H",
        f"tcp://127.0.0.1:{port}",
        "--tlsverify",
        "--tlscacert",
        str(certs / "ca.pem"),
        "--tlscert",
        str(certs / "client-cert.pem"),
        "--tlskey",
        str(certs / "client-key.pem"),
    ]
    try:
        yield d, cli
    finally:
        subprocess.run([*cli, "rm", "-f", "tls1"], capture_output=True, timeout=60)
        d.cleanup()


def run(cli: list[str], *args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    env["DOCKER_CONFIG"] = "/tmp/berthd-it-docker-config"
    return subprocess.run([*cli, *args], input=stdin, capture_output=True, timeout=60, env=env)


def test_exec_stdin_eof_keeps_output_over_tls(tls_daemon: tuple[BerthdProcess, list[str]]) -> None:
    _, cli = tls_daemon
    r = run(cli, "run", "-d", "--name", "tls1", "busybox", "sleep", "300")
    assert r.returncode == 0, r.stderr
    r = run(
        cli,
        "exec",
        "-i",
        "tls1",
        "sh",
        "-c",
        "cat; sleep 0.3; echo after-eof; exit 4",
        stdin=b"line-a\nline-b\n",
    )
    assert r.stdout == b"line-a\nline-b\nafter-eof\n", r.stderr
    assert r.returncode == 4


def test_run_with_stdin_over_tls(
    tls_daemon: tuple[BerthdProcess, list[str]], tmp_path: Path
) -> None:
    _, cli = tls_daemon
    r = run(cli, "run", "--rm", "-i", "busybox", "sh", "-c", "cat; echo done", stdin=b"x" * 100000)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"x" * 100000 + b"done\n"
