"""`docker logs` end to end: streams, follow, tail, since/until, timestamps, partial
lines, a 50 MB log read back intact, the `none` driver, and max-size/max-file rotation."""

from __future__ import annotations

import hashlib
import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.helpers.wait import wait_for
from tests.integration.containers.conftest import Env, uniq

pytestmark = pytest.mark.integration


def logs(env: Env, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        env.argv("logs", *args), env=env.env, capture_output=True, timeout=timeout, check=False
    )


def test_streams_tail_timestamps_and_partial_lines(env: Env) -> None:
    name = uniq("lg")
    script = (
        "echo out1; echo err1 >&2; printf 'no-newline-'; sleep 0.2; echo joined; "
        "echo err2 >&2; printf 'last-without-newline'"
    )
    env.ok("run", "--name", name, "busybox", "sh", "-c", script)
    r = logs(env, name)
    assert r.returncode == 0
    assert r.stdout == b"out1\nno-newline-joined\nlast-without-newline"
    assert r.stderr == b"err1\nerr2\n"
    # the tail is taken first, then the streams: the last 2 lines are err2 and the partial
    r = logs(env, "--tail", "2", name)
    assert r.stdout == b"last-without-newline" and r.stderr == b"err2\n"
    assert logs(env, "--tail", "0", name).stdout == b""
    r = logs(env, "-t", name)
    first = r.stdout.split(b"\n")[0].decode()
    stamp, _, text = first.partition(" ")
    assert text == "out1" and stamp.endswith("Z") and "T" in stamp
    env.ok("rm", name)


def test_since_until_and_follow(env: Env) -> None:
    name = uniq("lf")
    env.ok(
        "run", "-d", "--name", name, "busybox", "sh", "-c",
        "echo a; sleep 1.5; echo b; sleep 1.5; echo c",
    )  # fmt: skip
    time.sleep(0.8)
    mid = time.time()
    follower = env.popen("logs", "-f", name, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, _ = follower.communicate(timeout=20)
    assert out == b"a\nb\nc\n"  # -f ends with the container
    assert logs(env, "--since", f"{mid:.3f}", name).stdout == b"b\nc\n"
    assert logs(env, "--until", f"{mid:.3f}", name).stdout == b"a\n"
    env.ok("rm", name)


def test_tty_logs_are_raw(env: Env) -> None:
    name = uniq("lt")
    env.ok("run", "-t", "--name", name, "busybox", "sh", "-c", "echo x; echo y >&2")
    r = logs(env, name)
    assert r.stdout == b"x\r\ny\r\n" and r.stderr == b""
    env.ok("rm", name)


def test_fifty_megabytes_read_back_intact(env: Env) -> None:
    name = uniq("big")
    # 50 MB of base64 text (76-column lines): the container prints its own digest last
    script = (
        "head -c 37500000 /dev/urandom | base64 > /tmp/o; cat /tmp/o; "
        "sha256sum /tmp/o >&2; wc -c < /tmp/o >&2"
    )
    env.ok("run", "--name", name, "busybox", "sh", "-c", script, timeout=180)
    r = logs(env, name, timeout=180)
    assert r.returncode == 0
    digest, size = r.stderr.decode().split()[0], int(r.stderr.decode().split()[-1])
    assert size > 50_000_000 and len(r.stdout) == size
    assert hashlib.sha256(r.stdout).hexdigest() == digest
    env.ok("rm", name)


def test_none_driver_cannot_be_read(env: Env) -> None:
    name = uniq("ln")
    env.ok("run", "--log-driver", "none", "--name", name, "busybox", "echo", "x")
    r = logs(env, name)
    assert r.returncode != 0
    assert b"configured logging driver does not support reading" in r.stderr
    env.ok("rm", name)
    r = env.run("run", "--rm", "--log-driver", "nosuch", "busybox", "true")
    assert r.rc == 125 and "no log driver named 'nosuch' is registered" in r.err


def test_max_size_max_file_rotation(env: Env) -> None:
    """dockerd's json-file rotation: at most max-file files of about max-size each, and
    `docker logs` reads the rotated files first, so the newest lines are contiguous."""
    name = uniq("rot")
    # 10,000 lines in bursts of 1,000 (~55 KB on disk each), 0.2 s apart
    script = (
        "i=0; while [ $i -lt 10000 ]; do printf '%09d\\n' $i; i=$((i+1)); "
        "[ $((i % 1000)) -eq 0 ] && sleep 0.2; done; true"
    )
    env.ok(
        "run", "-d", "--name", name, "--log-opt", "max-size=20k", "--log-opt", "max-file=3",
        "busybox", "sh", "-c", script,
    )  # fmt: skip
    wait_for(lambda: not env.inspect(name)["State"]["Running"], timeout=60, step=0.1)
    log_path = Path(env.inspect(name)["LogPath"])
    files = sorted(p.name for p in log_path.parent.iterdir() if p.name.startswith(log_path.name))
    assert len(files) <= 3, files
    assert any(f.endswith(".1") for f in files), f"never rotated: {files}"
    for f in files:
        # a burst may outrun the rotation by a little; conmon's bound is 60k + 1 MiB
        assert os.path.getsize(log_path.parent / f) < 20_000 * 3 + (1 << 20), f
    lines = logs(env, name).stdout.split()
    numbers = [int(x) for x in lines]
    assert numbers[-1] == 9999
    # what is kept is the newest part, in order, without a gap
    assert numbers == list(range(numbers[0], 10000))
    # two rotated files of at least max-size each (a line takes ~55 bytes on disk, with
    # its timestamp and stream, as json-file's lines are larger than their text too)
    assert any(f.endswith(".2") for f in files), files
    assert len(numbers) >= 2 * 20_000 // 60, len(numbers)
    assert [int(x) for x in logs(env, "--tail", "5", name).stdout.split()] == list(
        range(9995, 10000)
    )
    env.ok("rm", name)
    assert not log_path.parent.exists()
