"""Smoke: docker run of the seeded busybox image, through the CLI and the SDK."""

from __future__ import annotations

from tests.integration.containers.conftest import Env


def test_run_rm_echo(env: Env) -> None:
    r = env.run("run", "--rm", "busybox", "echo", "hello")
    assert (r.rc, r.out) == (0, "hello\n"), r.err


def test_run_exit_code(env: Env) -> None:
    r = env.run("run", "--rm", "busybox", "sh", "-c", "exit 3")
    assert r.rc == 3, r.err


def test_sdk_run_detach_wait(env: Env) -> None:
    c = env.client.containers.run("busybox", ["sh", "-c", "exit 5"], detach=True)
    try:
        assert c.wait(timeout=10)["StatusCode"] == 5
    finally:
        c.remove(force=True)
