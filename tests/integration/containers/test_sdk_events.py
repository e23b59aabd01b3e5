"""The docker SDK (run/wait/exec_run/attach_socket/errors) and the container events."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import docker
import pytest

from tests.helpers.wait import wait_for
from tests.integration.containers.conftest import Env, uniq

TRAPPER = "trap 'exit 0' TERM; trap 'exit 10' USR1; while :; do sleep 0.05; done"


# -- SDK ----------------------------------------------------------------------------------------


def test_sdk_run_detached_and_wait(env: Env) -> None:
    c = env.client.containers.run("busybox", ["sh", "-c", "sleep 0.2; exit 5"], detach=True)
    try:
        c.reload()
        assert c.status == "running"
        assert c.wait(timeout=10) == {"StatusCode": 5, "Error": None} or c.wait()["StatusCode"] == 5
        c.reload()
        assert c.status == "exited" and c.attrs["State"]["ExitCode"] == 5
    finally:
        c.remove(force=True)


def test_sdk_exec_run_demux(env: Env) -> None:
    c = env.client.containers.run("busybox", ["sleep", "300"], detach=True, network_mode="none")
    try:
        res = c.exec_run(["sh", "-c", "echo out; echo err >&2; exit 3"], demux=True)
        assert res.exit_code == 3
        assert res.output == (b"out\n", b"err\n")
        res = c.exec_run("echo plain")
        assert (res.exit_code, res.output) == (0, b"plain\n")
        res = c.exec_run(["env"], environment={"K": "v"}, user="app", workdir="/home/app")
        assert b"K=v\n" in res.output and b"HOME=/home/app\n" in res.output
    finally:
        c.remove(force=True)


def _read_frame(sock: socket.socket) -> tuple[int, bytes]:
    header = b""
    while len(header) < 8:
        chunk = sock.recv(8 - len(header))
        assert chunk, "stream ended"
        header += chunk
    size = int.from_bytes(header[4:], "big")
    body = b""
    while len(body) < size:
        chunk = sock.recv(size - len(body))
        assert chunk
        body += chunk
    return header[0], body


def test_sdk_attach_socket_multiplexed(env: Env) -> None:
    c = env.client.containers.create(
        "busybox", ["sh", "-c", "read l; echo out $l; echo err $l >&2"], stdin_open=True
    )
    try:
        s = env.client.api.attach_socket(
            c.id, params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1}
        )
        raw: socket.socket = s._sock
        raw.settimeout(10)
        c.start()
        raw.sendall(b"ping\n")
        frames = [_read_frame(raw), _read_frame(raw)]
        assert sorted(frames) == [(1, b"out ping\n"), (2, b"err ping\n")]
        s.close()
        assert c.wait(timeout=10)["StatusCode"] == 0
    finally:
        c.remove(force=True)


def test_sdk_wait_removed_for_auto_remove(env: Env) -> None:
    c = env.client.containers.create("busybox", ["sh", "-c", "exit 4"], auto_remove=True)
    result: dict[str, Any] = {}

    def waiter() -> None:
        result.update(env.client.api.wait(c.id, condition="removed", timeout=15))

    t = threading.Thread(target=waiter)
    t.start()
    time.sleep(0.1)
    c.start()
    t.join(15)
    assert result.get("StatusCode") == 4
    with pytest.raises(docker.errors.NotFound):
        env.client.containers.get(c.id)


def test_sdk_wait_next_exit_and_not_running(env: Env) -> None:
    c = env.client.containers.create("busybox", ["sh", "-c", "exit 6"])
    try:
        # a created container is not running: not-running answers at once
        assert env.client.api.wait(c.id, condition="not-running", timeout=5)["StatusCode"] == 0
        result: dict[str, Any] = {}

        def waiter() -> None:
            result.update(env.client.api.wait(c.id, condition="next-exit", timeout=15))

        t = threading.Thread(target=waiter)
        t.start()
        time.sleep(0.2)
        assert not result
        c.start()
        t.join(15)
        assert result.get("StatusCode") == 6
    finally:
        c.remove(force=True)


def test_sdk_wait_bad_condition(env: Env) -> None:
    c = env.client.containers.create("busybox", ["true"])
    try:
        with pytest.raises(docker.errors.APIError) as e:
            env.client.api.wait(c.id, condition="nope", timeout=5)
        assert e.value.status_code == 400
    finally:
        c.remove(force=True)


def test_sdk_errors(env: Env) -> None:
    with pytest.raises(docker.errors.NotFound) as e:
        env.client.containers.get("berthd-test-nosuch")
    assert "No such container: berthd-test-nosuch" in str(e.value)
    name = uniq("sdkdup")
    c = env.client.containers.create("busybox", ["true"], name=name)
    try:
        with pytest.raises(docker.errors.APIError) as e2:
            env.client.containers.create("busybox", ["true"], name=name)
        assert e2.value.status_code == 409
        assert "is already in use by container" in str(e2.value)
    finally:
        c.remove()
    with pytest.raises(docker.errors.ImageNotFound):
        env.client.api.create_container("berthd-test/nosuchimage:v1", ["true"])


def test_sdk_list_and_filters(env: Env) -> None:
    tag = uniq("sdkls")
    c = env.client.containers.run(
        "busybox", ["sleep", "300"], detach=True, labels={"sdk": tag}, network_mode="none"
    )
    try:
        got = env.client.containers.list(filters={"label": f"sdk={tag}"})
        assert [x.id for x in got] == [c.id]
        assert got[0].name == c.name and got[0].image.id == env.image_id
        c.kill()
        c.wait(timeout=10)
        assert env.client.containers.list(filters={"label": f"sdk={tag}"}) == []
        assert len(env.client.containers.list(all=True, filters={"label": f"sdk={tag}"})) == 1
    finally:
        c.remove(force=True)


# -- events -------------------------------------------------------------------------------------------


def _events(env: Env, since: float, cid: str) -> list[dict[str, Any]]:
    until = int(time.time()) + 1
    stream = env.client.events(
        since=int(since), until=until, decode=True, filters={"container": cid}
    )
    return [e for e in stream if e.get("Type") == "container"]


def _actions(events: list[dict[str, Any]]) -> list[str]:
    return [e["Action"] for e in events]


def _subsequence(want: list[str], got: list[str]) -> bool:
    it = iter(got)
    return all(any(g == w for g in it) for w in want)


def test_events_for_a_lifecycle(env: Env) -> None:
    t0 = time.time()
    n1, n2 = uniq("ev1"), uniq("ev2")
    cid = env.ok(
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        n1,
        "-l",
        "evl=1",
        "busybox",
        "sh",
        "-c",
        TRAPPER,
    ).strip()
    env.ok("pause", cid)
    env.ok("unpause", cid)
    env.ok("rename", n1, n2)
    env.ok("exec", cid, "echo", "hi")
    env.ok("kill", "-s", "USR1", cid)
    env.ok("wait", cid)
    env.ok("start", cid)
    env.ok("stop", cid)
    env.ok("rm", cid)
    events = _events(env, t0, cid)
    actions = _actions(events)
    want = [
        "create",
        "start",
        "pause",
        "unpause",
        "rename",
        "exec_create: echo hi",
        "exec_start: echo hi",
        "exec_die",
        "kill",
        "die",
        "start",
        "kill",
        "die",
        "stop",
        "destroy",
    ]
    assert _subsequence(want, actions), actions
    by = {a: [e for e in events if e["Action"] == a] for a in set(actions)}
    for e in events:
        assert e["Actor"]["ID"] == cid and e["id"] == cid
        assert e["Actor"]["Attributes"]["image"] == "busybox"
        assert e["Actor"]["Attributes"]["evl"] == "1"
        assert e["scope"] == "local" and e["timeNano"] // 10**9 == e["time"]
    assert [e["Actor"]["Attributes"]["signal"] for e in by["kill"]] == ["10", "15"]
    assert [e["Actor"]["Attributes"]["exitCode"] for e in by["die"]] == ["10", "0"]
    (ren,) = by["rename"]
    assert ren["Actor"]["Attributes"]["oldName"] == "/" + n1
    assert ren["Actor"]["Attributes"]["name"] == n2
    (edie,) = by["exec_die"]
    assert edie["Actor"]["Attributes"]["exitCode"] == "0"
    (ecreate,) = by["exec_create: echo hi"]
    assert edie["Actor"]["Attributes"]["execID"] == ecreate["Actor"]["Attributes"]["execID"]
    assert by["create"][0]["Actor"]["Attributes"]["name"] == n1
    assert by["destroy"][0]["Actor"]["Attributes"]["name"] == n2


def test_events_attach_and_start_a(env: Env) -> None:
    t0 = time.time()
    cid = env.ok("create", "busybox", "sh", "-c", "exit 2").strip()
    assert env.run("start", "-a", cid).rc == 2
    env.ok("rm", cid)
    actions = _actions(_events(env, t0, cid))
    assert _subsequence(["create", "attach", "start", "die", "destroy"], actions), actions


def test_events_rm_force_running(env: Env) -> None:
    t0 = time.time()
    cid = env.ok("run", "-d", "--network", "none", "busybox", "sleep", "300").strip()
    env.ok("rm", "-f", cid)
    events = _events(env, t0, cid)
    actions = _actions(events)
    assert _subsequence(["create", "start", "kill", "die", "destroy"], actions), actions
    kills = [e for e in events if e["Action"] == "kill"]
    assert kills[0]["Actor"]["Attributes"]["signal"] == "9"
    die = next(e for e in events if e["Action"] == "die")
    assert die["Actor"]["Attributes"]["exitCode"] == "137"


def test_events_live_stream(env: Env) -> None:
    """A live subscriber sees a container's events as they happen."""
    got: list[str] = []
    ready = threading.Event()
    name = uniq("live")

    def listen() -> None:
        stream = env.client.events(decode=True, filters={"type": "container", "container": name})
        ready.set()
        for e in stream:
            got.append(e["Action"])
            if e["Action"] == "destroy":
                stream.close()
                return

    t = threading.Thread(target=listen, daemon=True)
    t.start()
    ready.wait(5)
    time.sleep(0.2)
    env.ok("run", "--rm", "--network", "none", "--name", name, "busybox", "true")
    t.join(10)
    assert _subsequence(["create", "attach", "start", "die", "destroy"], got), got
    wait_for(lambda: not t.is_alive(), 2)
