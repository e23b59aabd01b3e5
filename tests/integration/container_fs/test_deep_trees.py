"""Trees a container makes 3,000 levels deep, with paths past PATH_MAX (4,096 bytes) and
255-byte names: diff, export, cp out and in, ps -s / system df, commit (and run the image),
save/rmi/load, rm -f and container prune all answer, and leave nothing behind (issue 13,
item 2). Two deep containers in all, to keep the test short."""

from __future__ import annotations

import io
import os
import subprocess
import tarfile

import pytest

from tests.integration.containers.conftest import Env, uniq

pytestmark = pytest.mark.integration

DEPTH = 3000
LONG = "n" * 255
LONG_LEVELS = 20  # 20 x 256 bytes: 5,120
# Built and checked 500 levels at a time (``mkdir -p``/``cd -P`` of a 1,000-byte relative
# path): busybox's logical ``cd`` hands chdir(2) the whole path, which stops at PATH_MAX,
# and one ``cd -P`` per level costs a getcwd of the whole depth each time.
CHUNK = "/".join(["d"] * 500)
MAKE = (
    f"for i in 1 2 3 4 5 6; do mkdir -p {CHUNK} && cd -P {CHUNK} || exit 1; done; "
    f"echo leaf > f; cd /; "
    f"for i in $(seq {LONG_LEVELS}); do mkdir {LONG} && cd -P {LONG} || exit 1; done; "
    "echo long > g"
)
# Down the chains inside a container: the leaves, and nothing deeper.
CHECK = (
    f"for i in 1 2 3 4 5 6; do cd -P {CHUNK} || exit 1; done; [ ! -e d ] && cat f && cd / && "
    f"for i in $(seq {LONG_LEVELS}); do cd -P {LONG} || exit 1; done; cat g"
)
SEEN = "leaf\nlong\n"
LEAF = "/".join(["d"] * DEPTH) + "/f"
LONG_LEAF = "/".join([LONG] * LONG_LEVELS) + "/g"


def _raw(env: Env, *args: str, stdin: bytes | None = None) -> bytes:
    p = subprocess.run(env.argv(*args), input=stdin, capture_output=True, env=env.env, timeout=60)
    assert p.returncode == 0, f"docker {args[0]}: {p.stderr.decode()[-500:]}"
    return p.stdout


def _files(data: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        return {
            m.name.lstrip("/"): tf.extractfile(m).read()  # type: ignore[union-attr]
            for m in tf.getmembers()
            if m.isfile()
        }


def _upper(env: Env, name: str) -> str:
    return str(env.inspect(name)["GraphDriver"]["Data"]["UpperDir"])


def test_deep_tree_everywhere(env: Env) -> None:
    name, pruned = uniq("deep"), uniq("deepp")
    repo = f"berthd-test/{name}:v1"
    try:
        env.ok("run", "--name", name, "busybox", "sh", "-c", MAKE, timeout=120)
        upper = _upper(env, name)

        diff = env.ok("diff", name).splitlines()
        assert f"A /{LEAF}" in diff and f"A /{LONG_LEAF}" in diff
        assert len(diff) == DEPTH + 1 + LONG_LEVELS + 1

        exported = _files(_raw(env, "export", name))
        assert exported[LEAF] == b"leaf\n" and exported[LONG_LEAF] == b"long\n"

        copied_tar = _raw(env, "cp", f"{name}:/d", "-")
        assert _files(copied_tar)[LEAF] == b"leaf\n"

        rows = env.client.api.containers(all=True, size=True, filters={"name": name})
        assert rows[0]["SizeRw"] >= len(b"leaf\nlong\n")
        df = {c["Id"]: c for c in env.client.df()["Containers"]}
        assert df[rows[0]["Id"]]["SizeRw"] == rows[0]["SizeRw"]

        env.ok("commit", name, repo, timeout=120)
        assert env.ok("run", "--rm", repo, "sh", "-c", CHECK, timeout=120) == SEEN
        saved = _raw(env, "save", repo)
        env.ok("rmi", repo)
        assert "Loaded image" in env.ok("load", stdin=saved, timeout=120)
        assert env.ok("run", "--rm", repo, "sh", "-c", CHECK, timeout=120) == SEEN
        env.ok("rmi", repo)

        _raw(env, "cp", "-", f"{name}:/tmp", stdin=copied_tar)  # and back in, elsewhere
        assert _files(_raw(env, "cp", f"{name}:/tmp/d", "-"))[LEAF] == b"leaf\n"

        env.ok("rm", "-f", name)
        assert not os.path.lexists(upper), "rm -f left the container's layer behind"

        env.ok("run", "--name", pruned, "--label", f"deep={pruned}", "busybox", "sh", "-c", MAKE)
        upper = _upper(env, pruned)
        out = env.ok("container", "prune", "-f", "--filter", f"label=deep={pruned}")
        assert out.splitlines()[-1].startswith("Total reclaimed space: ")
        assert out.splitlines()[-1] != "Total reclaimed space: 0B"
        assert not os.path.lexists(upper), "prune left the container's layer behind"
        assert env.ok("version", "--format", "{{.Server.Version}}").strip()
    finally:
        env.run("rm", "-f", name, pruned)
        env.run("rmi", "-f", repo)
