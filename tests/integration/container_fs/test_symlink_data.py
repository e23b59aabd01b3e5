"""A symlink inside a container is data: ``ln -s ../../../../../.. /up`` is carried as it
is by diff, commit, export, save/load, and cp both ways (issue 13, item 1). Containment
happens where paths are resolved (chroot, ``O_NOFOLLOW`` walks), never by refusing a link."""

from __future__ import annotations

import io
import subprocess
import tarfile

import pytest

from tests.integration.containers.conftest import Env, uniq

pytestmark = pytest.mark.integration

UP = "../../../../../.."


def _members(data: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        return {m.name.lstrip("/"): m for m in tf.getmembers()}


def _raw(env: Env, *args: str, stdin: bytes | None = None) -> bytes:
    p = subprocess.run(env.argv(*args), input=stdin, capture_output=True, env=env.env, timeout=60)
    assert p.returncode == 0, f"docker {' '.join(args)}: {p.stderr.decode()}"
    return p.stdout


def test_climbing_symlink_survives_every_path(env: Env) -> None:
    name = uniq("up")
    repo = f"berthd-test/{name}:v1"
    env.ok("run", "-d", "--name", name, "busybox", "sleep", "100")
    try:
        env.ok("exec", name, "ln", "-s", UP, "/up")
        assert "A /up" in env.ok("diff", name).splitlines()

        exported = _members(_raw(env, "export", name))
        assert exported["up"].issym() and exported["up"].linkname == UP

        out = _raw(env, "cp", f"{name}:/up", "-")
        got = _members(out)
        assert list(got) == ["up"] and got["up"].issym() and got["up"].linkname == UP

        buf = io.BytesIO()  # cp into the container: the link lands as sent
        with tarfile.open(fileobj=buf, mode="w") as tf:
            link = tarfile.TarInfo("up2")
            link.type, link.linkname = tarfile.SYMTYPE, "../../../.."
            tf.addfile(link)
        _raw(env, "cp", "-", f"{name}:/", stdin=buf.getvalue())
        assert env.ok("exec", name, "readlink", "/up2") == "../../../..\n"

        image_id = env.ok("commit", name, repo).strip()
        assert env.ok("run", "--rm", repo, "readlink", "/up") == UP + "\n"
        saved = _raw(env, "save", repo)
        env.ok("rmi", repo)
        assert image_id not in env.ok("images", "-q", "--no-trunc")
        assert "Loaded image" in env.ok("load", stdin=saved)
        assert env.ok("run", "--rm", repo, "sh", "-c", "readlink /up; readlink /up2") == (
            f"{UP}\n../../../..\n"
        )
    finally:
        env.run("rm", "-f", name)
        env.run("rmi", "-f", repo)
