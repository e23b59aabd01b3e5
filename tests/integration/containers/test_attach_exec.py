"""docker attach (stdin, detach keys, tty), docker start -a, docker exec and exec inspect."""

from __future__ import annotations

import re
import subprocess
import time

import docker
import pytest

from tests.helpers.wait import wait_for
from tests.integration.containers.conftest import Env, pty_cli, uniq
from tests.integration.containers.test_run import DEFAULT_CAPS, host_cap_bound, status_field

SLEEPER = ["busybox", "sleep", "300"]


@pytest.fixture(scope="module")
def box(env: Env) -> str:
    """One long-running container shared by the exec tests of this module."""
    name = uniq("execbox")
    env.ok("run", "-d", "--network", "none", "--name", name, "-e", "CTR=1", *SLEEPER)
    return name


# -- attach ---------------------------------------------------------------------------------------


def test_attach_with_stdin_and_exit_code(env: Env) -> None:
    name = uniq("att")
    env.ok(
        "run",
        "-d",
        "-i",
        "--network",
        "none",
        "--name",
        name,
        "busybox",
        "sh",
        "-c",
        "read l; echo got $l; echo to-err >&2; exit 4",
    )
    p = env.popen(
        "attach", name, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        assert p.stdin is not None
        time.sleep(0.3)  # let the attach reach the daemon before the line is sent
        p.stdin.write(b"hello\n")
        p.stdin.flush()
        out, err = p.communicate(timeout=15)
    finally:
        p.kill()
    assert (p.returncode, out) == (4, b"got hello\n"), err
    assert b"to-err" in err
    env.ok("rm", name)


def test_attach_stopped_container(env: Env) -> None:
    cid = env.ok("create", "busybox", "true").strip()
    r = env.run("attach", cid)
    assert r.rc == 1 and "You cannot attach to a stopped container, start it first" in r.err
    env.ok("rm", cid)


def test_attach_tty_and_detach_keys(env: Env) -> None:
    name = uniq("dk")
    env.ok("run", "-dit", "--network", "none", "--name", name, "busybox", "sh")
    p = pty_cli(env, "attach", name)
    try:
        # the attach may be set up after the first bytes: retry until the shell answers
        def answered() -> bool:
            p.send(b"echo mark$((40+2))\n")
            p._read(0.3)
            return b"mark42" in p.buf

        wait_for(answered, 10)
        p.send(b"\x10\x11")
        # docker attach returns the CLI's EscapeError: printed, exit status 1
        assert p.wait() == 1
    finally:
        p.close()
    assert b"read escape sequence" in p.buf
    assert env.inspect(name)["State"]["Running"] is True
    env.ok("rm", "-f", name)


def test_custom_detach_keys(env: Env) -> None:
    name = uniq("cdk")
    env.ok("run", "-dit", "--network", "none", "--name", name, "busybox", "sh")
    p = pty_cli(env, "attach", "--detach-keys", "ctrl-x,x", name)
    try:
        time.sleep(0.3)
        p.send(b"\x18x")
        assert p.wait() == 1
        assert b"read escape sequence" in p.buf
    finally:
        p.close()
    assert env.inspect(name)["State"]["Running"] is True
    env.ok("rm", "-f", name)


def test_run_it_detach_with_ctrl_p_ctrl_q(env: Env) -> None:
    name = uniq("itdk")
    p = pty_cli(env, "run", "-it", "--network", "none", "--name", name, "busybox", "sh")
    try:
        p.expect(b"/ # ")
        p.send(b"\x10\x11")
        # docker run treats the detach as success
        assert p.wait() == 0
    finally:
        p.close()
    assert env.inspect(name)["State"]["Running"] is True
    env.ok("rm", "-f", name)


def test_run_it_detach_then_attach_again(env: Env) -> None:
    name = uniq("itdk")
    p = pty_cli(env, "run", "-it", "--network", "none", "--name", name, "busybox", "sh")
    try:
        p.expect(b"/ # ")
        p.send(b"\x10\x11")
        assert p.wait() == 0
    finally:
        p.close()
    assert env.inspect(name)["State"]["Running"] is True
    # and one can attach again and end it
    p = pty_cli(env, "attach", name)
    try:

        def answered() -> bool:
            p.send(b"echo again$((1+1))\n")
            p._read(0.3)
            return b"again2" in p.buf

        wait_for(answered, 3)
        p.send(b"exit 3\n")
        assert p.wait() == 3
    finally:
        p.close()
    env.ok("rm", name)


# -- exec -------------------------------------------------------------------------------------------


def test_exec_output_and_exit_code(env: Env, box: str) -> None:
    r = env.run("exec", box, "sh", "-c", "echo out; echo err >&2; exit 3")
    assert (r.rc, r.out, r.err) == (3, "out\n", "err\n")


def test_exec_stdin(env: Env, box: str) -> None:
    r = env.run("exec", "-i", box, "cat", stdin="piped\n", timeout=20)
    assert (r.rc, r.out) == (0, "piped\n"), r.err


def test_exec_without_i_has_no_stdin(env: Env, box: str) -> None:
    r = env.run("exec", box, "cat", stdin="ignored\n", timeout=20)
    assert (r.rc, r.out) == (0, ""), r.err


def test_exec_env_user_workdir(env: Env, box: str) -> None:
    out = env.ok(
        "exec",
        "-e",
        "X=y",
        "-u",
        "app",
        "-w",
        "/tmp",
        box,
        "sh",
        "-c",
        'echo "$X $CTR"; id -u; pwd',
    )
    assert out == "y 1\n1000\n/tmp\n"
    assert env.ok("exec", "-u", "1000:50", box, "id", "-g") == "50\n"


def test_exec_bad_user(env: Env, box: str) -> None:
    r = env.run("exec", "-u", "nosuchuser", box, "true")
    assert r.rc == 126
    assert "unable to find user nosuchuser" in r.out + r.err


def test_exec_caps_and_privileged(env: Env, box: str) -> None:
    out = env.ok("exec", box, "cat", "/proc/self/status")
    assert int(status_field(out, "CapEff"), 16) == DEFAULT_CAPS
    out = env.ok("exec", "--privileged", box, "cat", "/proc/self/status")
    assert int(status_field(out, "CapEff"), 16) == host_cap_bound()


def test_exec_detached(env: Env, box: str) -> None:
    r = env.run("exec", "-d", box, "sh", "-c", "sleep 0.1; echo done > /tmp/detached")
    assert (r.rc, r.out) == (0, ""), r.err
    wait_for(lambda: env.run("exec", box, "cat", "/tmp/detached").out == "done\n", 10)


def test_exec_tty(env: Env, box: str) -> None:
    p = pty_cli(env, "exec", "-t", box, "sh", "-c", "tty; stty size", rows=33, cols=97)
    try:
        assert p.wait() == 0, p.buf
    finally:
        p.close()
    text = p.buf.decode().replace("\r", "")
    assert re.match(r"/dev/pts/\d+\n33 97\n", text), text


def test_exec_it_interactive_shell(env: Env, box: str) -> None:
    p = pty_cli(env, "exec", "-it", box, "sh")
    try:
        p.expect(b"# ")
        p.send(b"echo in$((2+3))side; exit 6\n")
        p.expect(b"in5side")
        assert p.wait() == 6
    finally:
        p.close()


def test_exec_command_not_found(env: Env, box: str) -> None:
    r = env.run("exec", box, "nosuchcmd")
    assert r.rc == 127, (r.out, r.err)
    assert "nosuchcmd" in r.out + r.err


def test_exec_not_executable(env: Env, box: str) -> None:
    r = env.run("exec", box, "/etc/passwd")
    assert r.rc == 126, (r.out, r.err)


def test_exec_in_stopped_container(env: Env) -> None:
    cid = env.ok("create", "busybox", "true").strip()
    r = env.run("exec", cid, "true")
    assert r.rc == 1
    assert re.search(rf"container {cid} is not running", r.err, re.I), r.err
    env.ok("rm", cid)


def test_exec_in_paused_container(env: Env) -> None:
    name = uniq("pex")
    env.ok("run", "-d", "--network", "none", "--name", name, *SLEEPER)
    env.ok("pause", name)
    try:
        r = env.run("exec", name, "true")
        assert r.rc == 1
        assert f"Container {name} is paused, unpause the container before exec" in r.err
    finally:
        env.ok("rm", "-f", name)


def test_exec_inspect(env: Env, box: str) -> None:
    api = env.client.api
    ex = api.exec_create(box, ["sh", "-c", "exit 9"])
    info = api.exec_inspect(ex["Id"])
    assert info["Running"] is False and info["ExitCode"] is None
    assert info["ProcessConfig"]["entrypoint"] == "sh"
    assert info["ProcessConfig"]["arguments"] == ["-c", "exit 9"]
    assert api.exec_start(ex["Id"]) == b""
    info = wait_for(lambda: (i := api.exec_inspect(ex["Id"]))["ExitCode"] is not None and i, 10)
    assert info["ExitCode"] == 9 and info["Running"] is False and info["Pid"] > 0
    assert info["ContainerID"] == env.inspect(box)["Id"]


def test_exec_inspect_running(env: Env, box: str) -> None:
    api = env.client.api
    ex = api.exec_create(box, ["sleep", "1"])
    api.exec_start(ex["Id"], detach=True)
    info = wait_for(lambda: (i := api.exec_inspect(ex["Id"]))["Running"] and i, 5)
    assert info["Pid"] > 0 and info["ExitCode"] is None
    info = wait_for(lambda: (i := api.exec_inspect(ex["Id"]))["ExitCode"] is not None and i, 10)
    assert info["ExitCode"] == 0 and info["Running"] is False


def test_exec_inspect_unknown(env: Env) -> None:
    with pytest.raises(docker.errors.NotFound) as e:
        env.client.api.exec_inspect("berthd-test-nosuchexec")
    assert "No such exec instance: berthd-test-nosuchexec" in str(e.value)


def test_exec_start_twice(env: Env, box: str) -> None:
    api = env.client.api
    ex = api.exec_create(box, ["true"])
    api.exec_start(ex["Id"])
    with pytest.raises(docker.errors.APIError) as e:
        api.exec_start(ex["Id"])
    assert e.value.status_code == 409
