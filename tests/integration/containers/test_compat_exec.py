"""dockerd parity of exec (tty, detach keys), kill and list through the SDK's models, and
restart-policy counts (issue 13).

Expected values are what a dockerd (Debian docker.io, side by side) gives for the same
calls, and what moby v26.1.4's code says where the two differ.
"""

from __future__ import annotations

import pytest

from tests.integration.containers.conftest import Env, uniq

TWO_LINES = ["sh", "-c", "echo hello out; echo hello err >&2"]
PTY_LINES = b"hello out\r\nhello err\r\n"


@pytest.fixture(scope="module")
def box(env: Env) -> str:
    name = uniq("cbox")
    env.ok("run", "-d", "--network", "none", "--name", name, "busybox", "sleep", "300")
    return name


# -- 1. exec with a tty ---------------------------------------------------------------------------


def test_exec_tty_output_passes_through_a_pty(env: Env, box: str) -> None:
    """A tty exec's output went through a pty (onlcr: \\r\\n) whatever the start asks:
    the start's Tty only picks a raw or a multiplexed stream (dockerd's rule)."""
    api = env.client.api
    c = env.client.containers.get(box)
    assert c.exec_run(TWO_LINES, tty=True) == (0, PTY_LINES)
    assert c.exec_run(TWO_LINES, tty=True, demux=True) == (0, (PTY_LINES, None))
    assert c.exec_run(TWO_LINES, tty=True, stdin=True) == (0, PTY_LINES)
    assert b"".join(c.exec_run(TWO_LINES, tty=True, stream=True).output) == PTY_LINES
    for start_tty in (True, False):
        e = api.exec_create(box, TWO_LINES, tty=True)
        assert api.exec_start(e["Id"], tty=start_tty) == PTY_LINES
        e = api.exec_create(box, TWO_LINES, tty=True, stdin=True)
        assert api.exec_start(e["Id"], tty=start_tty, demux=True) == (PTY_LINES, None)
    # no terminal at create: none at start either; a raw stream drops stderr (dockerd)
    e = api.exec_create(box, TWO_LINES, tty=False)
    assert api.exec_start(e["Id"], tty=True) == b"hello out\n"
    e = api.exec_create(box, TWO_LINES, tty=False)
    assert api.exec_start(e["Id"], demux=True) == (b"hello out\n", b"hello err\n")
    e = api.exec_create(box, ["sh", "-c", "[ -t 0 ] && [ -t 1 ] && echo both-tty"], tty=True)
    assert api.exec_start(e["Id"]) == b"both-tty\r\n"
    r = env.run("exec", "-t", box, *TWO_LINES)
    assert (r.rc, r.out) == (0, PTY_LINES.decode())
