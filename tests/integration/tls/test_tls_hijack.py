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

from tests.helpers.cli import cli_env
from tests.helpers.ports import free_port
from tests.helpers.tls import make_daemon_certs
from tests.integration.daemon_process import BerthdProcess
from tests.integration.seed_image import seed_busybox


@pytest.fixture(scope="module")
def tls_daemon(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[BerthdProcess, list[str]]]:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    root = tmp_path_factory.mktemp("tls")
    certs = make_daemon_certs(root / "certs")
    port = free_port()
    d = BerthdProcess(root=root, args=["-H", f"tcp://127.0.0.1:{port}", *certs.daemon_args()])
    seed_busybox(d.data_root)
    d.start()
    cli = ["docker", "-H", f"tcp://127.0.0.1:{port}", *certs.client_args()]
    try:
        yield d, cli
    finally:
        subprocess.run([*cli, "rm", "-f", "tls1"], capture_output=True, timeout=60)
        d.cleanup()


def run(cli: list[str], *args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [*cli, *args], input=stdin, capture_output=True, timeout=60, env=cli_env()
    )


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
