"""``docker cp`` against a real berthd: both ways, running and stopped containers,
``-a``, trailing ``/.``, errors, volumes and binds, and the symlink escapes
(CVE-2018-15664 / CVE-2019-14271): a container's ``/etc -> /``, ``link -> ../..``
must never reach the host."""

from __future__ import annotations

import io
import os
import secrets
import tarfile
from pathlib import Path

import pytest

from tests.integration.containers.conftest import Env, uniq
from tests.integration.seed_image import busybox_layer

pytestmark = pytest.mark.integration


def _etc_link_layer() -> bytes:
    """The busybox layer with ``etc`` replaced by a symlink to ``/``."""
    out = io.BytesIO()
    with (
        tarfile.open(fileobj=io.BytesIO(busybox_layer())) as src,
        tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tf,
    ):
        for m in src.getmembers():
            if m.name == "etc" or m.name.startswith("etc/"):
                continue
            tf.addfile(m, src.extractfile(m) if m.isfile() else None)
        link = tarfile.TarInfo("etc")
        link.type = tarfile.SYMTYPE
        link.linkname = "/"
        tf.addfile(link)
    return out.getvalue()


@pytest.fixture(scope="module")
def etc_link_image(env: Env) -> str:
    tag = "berthd-test/etclink:latest"
    env.ok("import", "--change", 'CMD ["sleep", "100"]', "-", tag, stdin=_etc_link_layer())
    return tag


def _untar(data: bytes) -> dict[str, bytes | None]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        return {
            m.name: (tf.extractfile(m).read() if m.isfile() else None)  # type: ignore[union-attr]
            for m in tf.getmembers()
        }


def _raw(env: Env, *args: str) -> tuple[int, bytes, str]:
    import subprocess

    p = subprocess.run(env.argv(*args), capture_output=True, env=env.env, timeout=30)
    return p.returncode, p.stdout, p.stderr.decode()


def test_cp_running_both_ways(env: Env, tmp_path: Path) -> None:
    name = uniq("cp")
    env.ok("run", "-d", "--name", name, "busybox", "sleep", "100")
    (tmp_path / "in.txt").write_text("hello in\n")
    env.ok("cp", str(tmp_path / "in.txt"), f"{name}:/tmp/")
    assert env.ok("exec", name, "cat", "/tmp/in.txt") == "hello in\n"
    env.ok("exec", name, "sh", "-c", "mkdir -p /srv/d/sub && echo deep > /srv/d/sub/f")
    env.ok("cp", f"{name}:/srv/d", str(tmp_path / "out"))
    assert (tmp_path / "out" / "sub" / "f").read_text() == "deep\n"
    # trailing /. copies the contents into an existing directory
    (tmp_path / "tree").mkdir()
    (tmp_path / "tree" / "a").write_text("A")
    env.ok("exec", name, "mkdir", "/dst")
    env.ok("cp", str(tmp_path / "tree") + "/.", f"{name}:/dst")
    assert env.ok("exec", name, "cat", "/dst/a") == "A"
    rc, out, _ = _raw(env, "cp", f"{name}:/etc/passwd", "-")
    assert rc == 0 and b"app:x:1000" in _untar(out)["passwd"]  # type: ignore[operator]


def test_cp_stopped_and_created_containers(env: Env, tmp_path: Path) -> None:
    created = uniq("cpc")
    env.ok("create", "--name", created, "busybox", "cat", "/tmp/f")
    (tmp_path / "f").write_text("before start\n")
    env.ok("cp", str(tmp_path / "f"), f"{created}:/tmp/f")
    env.ok("start", created)
    env.ok("wait", created)
    assert env.ok("logs", created) == "before start\n"
    stopped = uniq("cps")
    env.ok("run", "--name", stopped, "busybox", "sh", "-c", "echo gone > /tmp/g")
    env.ok("cp", f"{stopped}:/tmp/g", str(tmp_path / "g"))
    assert (tmp_path / "g").read_text() == "gone\n"


def test_cp_archive_mode_owner(env: Env, tmp_path: Path) -> None:
    name = uniq("cpa")
    env.ok("run", "-d", "--user", "app", "--name", name, "busybox", "sleep", "100")
    f = tmp_path / "owned"
    f.write_text("x")
    os.chown(f, 4321, 4321)
    env.ok("cp", str(f), f"{name}:/tmp/plain")
    env.ok("cp", "-a", str(f), f"{name}:/tmp/archived")
    assert env.ok("exec", name, "stat", "-c", "%u:%g", "/tmp/plain").strip() == "4321:4321"
    assert env.ok("exec", name, "stat", "-c", "%u:%g", "/tmp/archived").strip() == "1000:1000"


def test_cp_errors(env: Env, tmp_path: Path) -> None:
    name = uniq("cpe")
    env.ok("run", "-d", "--name", name, "busybox", "sleep", "100")
    r = env.run("cp", f"{name}:/nope", str(tmp_path))
    assert r.rc != 0 and f"Could not find the file /nope in container {name}" in r.err
    r = env.run("cp", f"{name}:/etc/passwd/", str(tmp_path))
    assert r.rc != 0 and "not a directory" in r.err
    (tmp_path / "d").mkdir()
    r = env.run("cp", str(tmp_path / "d"), f"{name}:/etc/passwd")
    assert r.rc != 0
    # the API's own errors
    api = env.client.api
    with pytest.raises(Exception, match="Could not find the file"):
        api.get_archive(name, "/missing/file")
    with pytest.raises(Exception, match="extraction point is not a directory"):
        api.put_archive(name, "/etc/passwd", b"")


def test_cp_sdk_stat_header(env: Env) -> None:
    name = uniq("cpk")
    env.ok("run", "-d", "--name", name, "busybox", "sleep", "100")
    stream, st = env.client.api.get_archive(name, "/etc/passwd")
    data = b"".join(stream)
    assert st["name"] == "passwd" and st["size"] == len(_untar(data)["passwd"] or b"")
    assert st["mode"] & 0o777 == 0o644 and st["linkTarget"] == ""
    _, st = env.client.api.get_archive(name, "/bin/sh")
    assert st["mode"] & (1 << 27) and st["linkTarget"] == "/bin/busybox"
    _, st = env.client.api.get_archive(name, "/etc")
    assert st["mode"] & (1 << 31)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        info = tarfile.TarInfo("sdk.txt")
        info.size = 3
        tf.addfile(info, io.BytesIO(b"sdk"))
    assert env.client.api.put_archive(name, "/tmp", buf.getvalue())
    assert env.ok("exec", name, "cat", "/tmp/sdk.txt") == "sdk"


def test_cp_volumes_and_binds(env: Env, tmp_path: Path) -> None:
    vol = uniq("vol")
    bind = tmp_path / "bind"
    bind.mkdir()
    name = uniq("cpv")
    env.ok("run", "-d", "--name", name, "-v", f"{vol}:/data", "-v", f"{bind}:/bind",
           "busybox", "sleep", "100")  # fmt: skip
    (tmp_path / "f").write_text("into volume\n")
    env.ok("cp", str(tmp_path / "f"), f"{name}:/data/")
    env.ok("cp", str(tmp_path / "f"), f"{name}:/bind/")
    assert (bind / "f").read_text() == "into volume\n"
    env.ok("stop", "-t", "0", name)
    (tmp_path / "g").write_text("stopped\n")
    env.ok("cp", str(tmp_path / "g"), f"{name}:/data/")
    out = env.ok("run", "--rm", "-v", f"{vol}:/v", "busybox", "cat", "/v/f", "/v/g")
    assert out == "into volume\nstopped\n"
    rc, data, _ = _raw(env, "cp", f"{name}:/bind/f", "-")
    assert rc == 0 and _untar(data)["f"] == b"into volume\n"
    ro = uniq("cpro")
    env.ok("create", "--name", ro, "-v", f"{vol}:/ro:ro", "busybox", "true")
    r = env.run("cp", str(tmp_path / "f"), f"{ro}:/ro/")
    assert r.rc != 0 and "mounted volume is marked read-only" in r.err
    env.ok("rm", "-f", name, ro)
    env.ok("volume", "rm", vol)


def test_symlinked_etc_never_reaches_the_host(
    env: Env, etc_link_image: str, tmp_path: Path
) -> None:
    name = uniq("esc")
    env.ok("run", "-d", "--name", name, etc_link_image)
    rc, out, err = _raw(env, "cp", f"{name}:/etc/passwd", "-")
    assert rc != 0 and b"root:" not in out and "Could not find the file" in err
    marker = f"berthd-escape-{secrets.token_hex(4)}"
    (tmp_path / marker).write_text("mine\n")
    env.ok("cp", str(tmp_path / marker), f"{name}:/etc/")
    assert not os.path.exists("/" + marker) and not os.path.exists("/etc/" + marker)
    assert env.ok("exec", name, "cat", "/" + marker) == "mine\n"
    # stopped: same answers
    env.ok("stop", "-t", "0", name)
    rc, out, _ = _raw(env, "cp", f"{name}:/etc/passwd", "-")
    assert rc != 0 and b"root:" not in out
    env.ok("cp", str(tmp_path / marker), f"{name}:/etc/")
    assert not os.path.exists("/" + marker)


def test_relative_symlink_escape(env: Env, tmp_path: Path) -> None:
    name = uniq("rel")
    env.ok("run", "-d", "--name", name, "busybox", "sh", "-c",
           "ln -s ../../../../.. /tmp/up && mkdir -p /a/b && ln -s / /a/b/root && sleep 100")  # fmt: skip
    marker = f"berthd-rel-{secrets.token_hex(4)}"
    (tmp_path / marker).write_text("rel\n")
    host_tmp = Path("/tmp") / marker
    for dest in ("/tmp/up/tmp/", "/a/b/root/../../tmp/", "link/../../tmp/"):
        env.run("cp", str(tmp_path / marker), f"{name}:{dest}")
        assert not host_tmp.exists(), dest
    assert env.ok("exec", name, "cat", "/tmp/" + marker) == "rel\n"
    host_file = tmp_path / "hostonly"
    host_file.write_text("secret")
    rel = os.path.relpath(host_file, "/")
    r = env.run("cp", f"{name}:/tmp/up/{rel}", str(tmp_path / "got"))
    assert r.rc != 0 and not (tmp_path / "got").exists()
