"""dockerd parity of exec (tty, detach keys), kill and list through the SDK's models, and
restart-policy counts (issue 13).

Expected values are what a dockerd (Debian docker.io, side by side) gives for the same
calls, and what moby v26.1.4's code says where the two differ.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from pathlib import Path
from typing import Any

import docker
import pytest

from tests.helpers.wait import wait_for
from tests.integration.containers.conftest import Env, pty_cli, uniq

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


# -- 2. exec detach keys --------------------------------------------------------------------------


class Hijacked:
    """``POST /exec/{id}/start`` on a raw socket: the 101, then the bytes both ways."""

    def __init__(self, env: Env, exec_id: str, tty: bool = True) -> None:
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(10)
        self.sock.connect(env.d.sock)
        body = json.dumps({"Detach": False, "Tty": tty}).encode()
        self.sock.sendall(
            f"POST /v1.45/exec/{exec_id}/start HTTP/1.1\r\nHost: berthd\r\n"
            "Connection: Upgrade\r\nUpgrade: tcp\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        head = b""
        while b"\r\n\r\n" not in head:
            head += self.sock.recv(1)
        assert head.startswith(b"HTTP/1.1 101"), head
        self.buf = b""

    def expect(self, needle: bytes) -> None:
        while needle not in self.buf:
            data = self.sock.recv(65536)
            assert data, f"stream ended before {needle!r}: {self.buf!r}"
            self.buf += data

    def read_to_end(self) -> bytes:
        """Everything until the daemon closes the stream (a timeout fails the test)."""
        while data := self.sock.recv(65536):
            self.buf += data
        return self.buf

    def close(self) -> None:
        self.sock.close()


def _shell_exec(env: Env, box: str, **kw: Any) -> str:
    return str(env.client.api.exec_create(box, ["sh"], stdin=True, tty=True, **kw)["Id"])


def _detach_and_check(env: Env, box: str, exec_id: str, keys: bytes) -> None:
    h = Hijacked(env, exec_id)
    try:
        h.sock.sendall(b"echo mark$((40+2))\n")
        h.expect(b"mark42")
        h.sock.sendall(keys)
        h.read_to_end()  # the daemon ends the client's stream…
    finally:
        h.close()
    info = env.client.api.exec_inspect(exec_id)  # …and the shell runs on
    assert (info["Running"], info["ExitCode"]) == (True, None)
    assert Path(f"/proc/{info['Pid']}").exists()
    os.kill(info["Pid"], signal.SIGKILL)
    wait_for(lambda: not env.client.api.exec_inspect(exec_id)["Running"], 10)
    assert env.client.api.exec_inspect(exec_id)["ExitCode"] == 137


def test_exec_detach_keys_over_the_api(env: Env, box: str) -> None:
    since = int(time.time()) - 1
    # the default ctrl-p,ctrl-q; the SDK's `detachKeys` spelling (Go folds case)
    _detach_and_check(env, box, _shell_exec(env, box), b"\x10\x11")
    custom = _shell_exec(env, box, detach_keys="ctrl-x,a")
    assert env.client.api.exec_inspect(custom)["DetachKeys"] == "GGE="  # dockerd: base64
    _detach_and_check(env, box, custom, b"\x18a")
    events = env.client.api.events(
        since=since, until=int(time.time()) + 1, decode=True,
        filters={"container": box, "event": "exec_detach"},
    )  # fmt: skip
    assert len(list(events)) == 2
    # docker-py's test_detach_with_config_file: the client config's detachKeys, its socket
    client = docker.APIClient(base_url=env.d.base_url)
    client._general_configs["detachKeys"] = "ctrl-p"
    try:
        e = client.exec_create(box, "cat", stdin=True, tty=True, stdout=True)["Id"]
        sock = client.exec_start(e, tty=True, socket=True)._sock
        sock.settimeout(10)
        sock.sendall(b"\x10")
        assert sock.recv(128) == b""
        sock.close()
        assert client.exec_inspect(e)["Running"] is True
        os.kill(client.exec_inspect(e)["Pid"], signal.SIGKILL)
    finally:
        client.close()
    # without a tty nothing is a detach key: the bytes reach the process
    e = env.client.api.exec_create(box, ["od", "-An", "-c"], stdin=True)["Id"]
    h = Hijacked(env, e, tty=False)
    try:
        h.sock.sendall(b"a\x10\x11b")
        h.sock.shutdown(socket.SHUT_WR)
        out = h.read_to_end()
    finally:
        h.close()
    assert b"a 020 021   b" in out.replace(b"\x01\x00\x00\x00", b"")
    for bad in ("foo", "ctrl-A", "ctrl-1", "ctrl-p, ctrl-q"):
        with pytest.raises(docker.errors.APIError) as err:
            env.client.api.exec_create(box, ["true"], detach_keys=bad)
        assert err.value.status_code == 400
        assert err.value.explanation == f"Invalid escape keys ({bad}) provided"


@pytest.mark.parametrize("how", ["default", "flag", "config"])
def test_exec_detach_keys_from_the_cli(env: Env, box: str, how: str, tmp_path: Path) -> None:
    """`docker exec -it` under a pty: the CLI prints "read escape sequence" and exits 1
    (as with dockerd); the shell keeps running."""
    args: list[str] = []
    keys = b"\x10\x11"
    if how == "flag":
        args, keys = ["--detach-keys", "ctrl-x"], b"\x18"
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    (cfg / "config.json").write_text(
        json.dumps({"detachKeys": "ctrl-a,b"} if how == "config" else {})
    )
    if how == "config":
        keys = b"\x01b"
    tag = uniq("sh")
    p = pty_cli(env, "--config", str(cfg), "exec", "-it", *args, box, "sh")
    try:
        p.expect(b"# ")
        p.send(f"echo $$ > /tmp/{tag}; echo mark$((40+2))\n".encode())
        p.expect(b"mark42")
        p.send(keys)
        assert p.wait() == 1
    finally:
        p.close()
    assert b"read escape sequence" in p.buf
    pid = env.ok("exec", box, "cat", f"/tmp/{tag}").strip()
    assert env.run("exec", box, "kill", "-0", pid).rc == 0
    env.ok("exec", box, "kill", "-9", pid)


# -- 3. kill and list through the SDK's models ----------------------------------------------------


def test_sdk_model_list_kill_remove(env: Env) -> None:
    """docker-py 7.2's own model tests (test_list, test_list_sparse, test_kill), on busybox:
    a SIGKILL returns once the container has exited, so kill() then remove() works."""
    client = env.client
    busybox = client.images.get("busybox")
    for sparse in (False, True, False, True):
        cid = client.containers.run("busybox", "sleep 300", detach=True, network_mode="none").id
        found = [c for c in client.containers.list(sparse=sparse) if c.id == cid]
        assert len(found) == 1
        c = found[0]
        if sparse:
            assert c.attrs["Image"] == "busybox"
            with pytest.raises(docker.errors.DockerException):
                _ = c.labels
        else:
            assert c.attrs["Config"]["Image"] == "busybox"
        assert c.status == "running"
        assert c.image == busybox
        c.kill()
        c.remove()
        assert cid not in [x.id for x in client.containers.list(all=True)]
    c = client.containers.run("busybox", "sleep 300", detach=True, network_mode="none")
    c.kill()
    c.reload()
    assert (c.status, c.attrs["State"]["ExitCode"]) == ("exited", 137)
    row = client.api.containers(all=True, filters={"id": c.id})[0]
    assert row["State"] == "exited" and row["Status"].startswith("Exited (137) ")
    with pytest.raises(docker.errors.APIError) as err:
        c.kill()
    assert err.value.status_code == 409
    c.remove()


def _names(env: Env, sparse: bool = False, all: bool = True, **filters: Any) -> list[str]:
    rows = env.client.api.containers(all=all, filters=filters)
    if not sparse:
        return sorted(r["Names"][0].lstrip("/") for r in rows)
    models = env.client.containers.list(all=all, sparse=True, filters=filters)
    return sorted(m.attrs["Names"][0].lstrip("/") for m in models)


def test_list_filters_as_dockerd(env: Env) -> None:
    tag = uniq("lf")
    lbl = f"lf={tag}"
    run = ["-l", lbl, "--network", "none"]
    env.ok("create", *run, "--name", f"{tag}-cr", "busybox", "true")
    env.ok("run", "-d", *run, "--name", f"{tag}-up", "-v", f"{tag}-vol:/named", "busybox",
           "sleep", "300")  # fmt: skip
    env.ok("run", "-d", *run, "--name", f"{tag}-ex", "-v", "/anon", "busybox", "sh", "-c",
           "exit 3")  # fmt: skip
    env.ok("wait", f"{tag}-ex")
    up_id = env.inspect(f"{tag}-up")["Id"]
    none_id = env.client.networks.get("none").id
    everyone = [f"{tag}-cr", f"{tag}-ex", f"{tag}-up"]
    for sparse in (False, True):

        def names(sparse: bool = sparse, **f: Any) -> list[str]:
            return _names(env, sparse, label=lbl, **f)

        assert names() == everyone
        assert names(status="exited") == [f"{tag}-ex"]
        assert names(exited=3) == [f"{tag}-ex"]
        assert names(name=f"{tag}-u") == [f"{tag}-up"]
        assert names(name=f"^/{tag}-(cr|ex)$") == [f"{tag}-cr", f"{tag}-ex"]
        assert names(id=up_id[:12]) == [f"{tag}-up"]
        assert names(ancestor="busybox") == everyone
        assert names(ancestor="no-such-image") == []
        assert names(health="none") == everyone
        assert names(health="healthy") == []
        assert names(network="none") == everyone
        assert names(network=none_id[:8], status="running") == [f"{tag}-up"]
        assert names(volume="/anon") == [f"{tag}-ex"]
        assert names(volume=f"{tag}-vol") == [f"{tag}-up"]
        assert names(volume="/named") == [f"{tag}-up"]
        assert names(**{"is-task": "false"}) == everyone
        assert names(**{"is-task": "true"}) == []
        assert names(expose="80") == []
        assert names(isolation="default") == everyone
        assert names(before=f"{tag}-ex") == [f"{tag}-cr", f"{tag}-up"]
        assert names(since=f"{tag}-cr") == [f"{tag}-ex", f"{tag}-up"]
        assert names(before=up_id) == [f"{tag}-cr"]
    # exited, before and since do not imply all (status does)
    assert _names(env, all=False, label=lbl, exited=3) == []
    assert _names(env, all=False, label=lbl, since=f"{tag}-cr") == [f"{tag}-up"]
    assert _names(env, all=False, label=lbl, status="created") == [f"{tag}-cr"]
    bad = {
        (400, "invalid filter 'bogus'"): {"bogus": "x"},
        (400, "invalid filter 'status=bogus'"): {"status": "bogus"},
        (400, "unrecognized filter value for health: bogus"): {"health": "bogus"},
        (400, "invalid filter 'exited=x': strconv.Atoi: parsing \"x\": invalid syntax"): {
            "exited": "x"
        },
        (400, "invalid filter 'is-task=[maybe]'"): {"is-task": "maybe"},
        (404, "No such container: nope"): {"before": "nope"},
        (404, f"No such container: {up_id[:12]}"): {"since": up_id[:12]},
        (400, "filter for 'publish' should not contain ':': 80:80"): {"publish": "80:80"},
        (
            400,
            'error while looking up for expose 80-x: strconv.ParseUint: parsing "x": '
            "invalid syntax",
        ): {"expose": "80-x"},
    }
    for (status, message), filters in bad.items():
        with pytest.raises(docker.errors.APIError) as err:
            env.client.containers.list(all=True, filters=filters)
        assert (err.value.status_code, err.value.explanation) == (status, message)
    env.ok("rm", "-f", "-v", *everyone)
    env.ok("volume", "rm", f"{tag}-vol")


# -- 4. restart policy counts ---------------------------------------------------------------------


def _actions(env: Env, name: str, since: float) -> list[str]:
    evs = env.client.api.events(
        since=since, until=time.time() + 0.5, decode=True, filters={"container": name}
    )
    return [str(ev["Action"]) for ev in evs]


def _settle(env: Env, name: str, count: int, dies: int, since: float) -> dict[str, Any]:
    """Wait for the policy's last word: exited (never shown between restarts, as
    dockerd) with ``count`` restarts and ``dies`` exits since ``since``; while waiting,
    a restarting container already counts the restart it waits for."""

    def done() -> dict[str, Any] | None:
        doc = env.inspect(name)
        st = doc["State"]
        if st["Status"] == "restarting":
            assert st["Running"] and st["Restarting"] and st["Pid"] == 0
            assert doc["RestartCount"] >= 1
        if st["Status"] != "exited":
            return None
        assert doc["RestartCount"] == count, "exited between two policy restarts"
        return doc if _actions(env, name, since).count("die") >= dies else None

    return dict(wait_for(done, 30))


def test_restart_on_failure_counts(env: Env) -> None:
    name = uniq("onfail")
    t0 = time.time() - 0.5
    env.ok("run", "-d", "--network", "none", "--restart", "on-failure:3", "--name", name,
           "busybox", "sh", "-c", "echo run; exit 1")  # fmt: skip
    doc = _settle(env, name, 3, 4, t0)
    assert doc["State"]["ExitCode"] == 1
    acts = _actions(env, name, t0)
    assert (acts.count("start"), acts.count("die"), acts.count("restart")) == (4, 4, 0), acts
    assert env.ok("logs", name) == "run\n" * 4
    # a user's start or restart begins afresh (dockerd resets the restart manager)
    t1 = time.time() - 0.5
    env.ok("start", name)
    _settle(env, name, 3, 4, t1)
    env.ok("restart", name)
    _settle(env, name, 3, 8, t1)
    acts = _actions(env, name, t1)
    assert (acts.count("start"), acts.count("die"), acts.count("restart")) == (8, 8, 1), acts
    assert env.ok("logs", name) == "run\n" * 12
    env.ok("rm", name)


@pytest.mark.parametrize("policy", ["always", "unless-stopped"])
def test_restart_always_counts(env: Env, policy: str, tmp_path: Path) -> None:
    """Each restart is one start and one die; a stop ends the loop; the next start
    counts from 0 again."""
    name = uniq(policy)
    ctl = tmp_path / "ctl"
    ctl.mkdir()
    t0 = time.time() - 0.5
    env.ok("run", "-d", "--network", "none", "--restart", policy, "--name", name,
           "-v", f"{ctl}:/ctl", "busybox", "sh", "-c",
           "[ -f /ctl/hold ] && exec sleep 300; exit 0")  # fmt: skip
    wait_for(lambda: env.inspect(name)["RestartCount"] >= 3, 30)
    env.ok("stop", "-t", "1", name)
    doc = env.inspect(name)
    assert doc["State"]["Status"] == "exited"
    acts = _actions(env, name, t0)
    # (a restart is counted when decided: one the stop called off during its backoff
    # counts without a start)
    assert acts.count("start") == acts.count("die"), acts
    assert acts.count("start") - doc["RestartCount"] in (0, 1), acts
    assert acts.count("restart") == 0, acts
    (ctl / "hold").write_text("")
    env.ok("start", name)
    doc = env.inspect(name)
    assert (doc["State"]["Status"], doc["RestartCount"]) == ("running", 0)
    env.ok("rm", "-f", name)
