"""``--mount type=volume,…,volume-subpath=sub`` (API 1.45) through a real berthd.

Only the subpath is seen in the container; a subpath that is missing, or that
leads out of the volume through a symlink, fails the start with dockerd's
words; an API 1.44 client is refused; the private binds a start makes are gone
after the start, the stop, the rm and a daemon restart.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import docker
import pytest
from docker.types import Mount

from tests.integration.restore.harness import Env, uniq

pytestmark = pytest.mark.integration


def safe_mounts(e: Env) -> list[tuple[str, str]]:
    top = os.path.join(e.exec_root, "safepath")
    return [m for m in e.mounts() if m[0].startswith(top)]


def fill(e: Env, vol: str) -> None:
    """sub/f, a file at the root, a symlink inside and two leading out."""
    script = (
        "mkdir -p /d/sub/deep && echo in-sub > /d/sub/f && echo at-root > /d/rootf"
        " && ln -s sub /d/inner && ln -s / /d/abs && ln -s ../../../.. /d/up"
    )
    e.ok("run", "--rm", "-v", f"{vol}:/d", "busybox", "sh", "-c", script)


def test_cli_subpath_mounts_only_the_subpath(env: Env) -> None:
    e, vol, name = env, uniq("sp"), uniq("s")
    fill(e, vol)
    mount = f"type=volume,src={vol},dst=/x,volume-subpath=sub"
    out = e.ok("run", "--rm", "--mount", mount, "busybox", "sh", "-c", "ls /x; cat /x/f")
    assert out == "deep\nf\nin-sub\n"
    # a symlink that stays inside the volume is followed
    inner = f"type=volume,src={vol},dst=/x,volume-subpath=inner"
    assert e.ok("run", "--rm", "--mount", inner, "busybox", "cat", "/x/f") == "in-sub\n"

    e.ok("run", "-d", "--name", name, "--mount", mount, "busybox", "sleep", "300")
    assert e.ok("exec", name, "cat", "/x/f") == "in-sub\n"
    e.ok("exec", name, "sh", "-c", "echo new > /x/g")
    assert safe_mounts(e) == []  # the runtime holds the bind; ours went after the start
    # docker cp sees the subpath where the container does
    host = os.path.join(e.data_root, "volumes", vol, "_data")
    src = os.path.join(e.root, "cp-in")
    with open(src, "w") as f:
        f.write("copied\n")
    e.ok("cp", src, f"{name}:/x/h")
    assert Path(host, "sub", "h").read_text() == "copied\n"
    assert not os.path.exists(os.path.join(host, "h"))
    (m,) = [m for m in e.inspect(name)["Mounts"] if m["Type"] == "volume"]
    assert m["Name"] == vol and m["Destination"] == "/x"
    e.ok("stop", "-t", "0", name)
    # a bind left by a start the daemon did not finish goes at the next start-up
    e.kill9()
    left = os.path.join(e.exec_root, "safepath", "0" * 64, "0")
    os.makedirs(left)
    subprocess.run(["mount", "--bind", os.path.join(e.data_root, "volumes"), left], check=True)
    e.start()
    assert safe_mounts(e) == [] and not os.path.exists(left)
    e.ok("start", name)
    assert e.ok("exec", name, "cat", "/x/g") == "new\n"
    e.ok("rm", "-f", name)
    assert safe_mounts(e) == []
    e.ok("volume", "rm", vol)


def test_sdk_subpath_and_refusals(env: Env) -> None:
    e, vol = env, uniq("sp")
    fill(e, vol)
    client = e.client
    out = client.containers.run(
        "busybox",
        ["cat", "/x/f"],
        mounts=[Mount("/x", vol, type="volume", subpath="sub")],
        remove=True,
    )
    assert out == b"in-sub\n"

    base = os.path.join(e.data_root, "volumes", vol, "_data")
    for sub in ("abs", "up", "up/etc"):
        c = client.containers.create(
            "busybox", ["true"], mounts=[Mount("/x", vol, type="volume", subpath=sub)]
        )
        with pytest.raises(docker.errors.APIError) as err:
            c.start()
        assert err.value.status_code == 400
        assert str(err.value.explanation) == (
            f"path concatenation escapes the base directory, base: {base}, subpath: {sub}"
        )
        c.remove()

    c = client.containers.create(
        "busybox", ["true"], mounts=[Mount("/x", vol, type="volume", subpath="nope/x")]
    )
    with pytest.raises(docker.errors.NotFound) as nf:
        c.start()
    missing = os.path.join(base, "nope")
    assert str(nf.value.explanation) == (
        f"cannot access path {base}/nope/x: lstat {missing}: no such file or directory"
    )
    c.remove()

    with pytest.raises(docker.errors.APIError) as bad:
        client.containers.create(
            "busybox", ["true"], mounts=[Mount("/x", vol, type="volume", subpath="../x")]
        )
    assert bad.value.status_code == 400
    assert str(bad.value.explanation) == (
        'invalid mount config for type "volume": subpath must be a relative path within the volume'
    )

    old = docker.APIClient(base_url=e.d.base_url, version="1.44", timeout=30)
    try:
        hc = old.create_host_config(mounts=[Mount("/x", vol, type="volume", subpath="sub")])
        with pytest.raises(docker.errors.APIError) as too_old:
            old.create_container("busybox", ["true"], host_config=hc)
        assert too_old.value.status_code == 400
        assert str(too_old.value.explanation) == "VolumeOptions.Subpath needs API v1.45 or newer"
    finally:
        old.close()
    assert safe_mounts(e) == []
    assert os.listdir(os.path.join(e.exec_root, "safepath")) == []
    e.ok("volume", "rm", vol)
