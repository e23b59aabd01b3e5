"""``docker commit`` (→ run → save round trip, changes, pause, events), ``docker container
prune`` (filters, SpaceReclaimed) and ``docker system df`` container sizes."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
import time

import pytest

from tests.integration.containers.conftest import Env, uniq

pytestmark = pytest.mark.integration


def _events(env: Env, since: float, *filters: str) -> list[dict[str, object]]:
    args = ["events", "--since", f"{since:.3f}", "--until", f"{time.time():.3f}"]
    for f in filters:
        args += ["--filter", f]
    args += ["--format", "{{json .}}"]
    return [json.loads(line) for line in env.ok(*args).splitlines() if line]


def test_commit_run_save_round_trip(env: Env) -> None:
    name = uniq("cm")
    env.ok("run", "-d", "--name", name, "busybox", "sh", "-c", "echo data > /made && sleep 100")
    time.sleep(0.3)
    since = time.time()
    repo = f"berthd-test/{name}"
    out = env.ok(
        "commit", "-m", "msg", "-a", "me <me@x>", "-c", "ENV K=v", "-c", 'CMD ["cat", "/made"]',
        name, f"{repo}:v1",
    )  # fmt: skip
    image_id = out.strip()
    assert image_id.startswith("sha256:")
    assert env.inspect(name)["State"]["Running"] and not env.inspect(name)["State"]["Paused"]
    img = env.client.api.inspect_image(f"{repo}:v1")
    base = env.client.api.inspect_image("busybox")
    assert img["RootFS"]["Layers"][:-1] == base["RootFS"]["Layers"]
    assert len(img["RootFS"]["Layers"]) == len(base["RootFS"]["Layers"]) + 1
    assert "K=v" in img["Config"]["Env"] and img["Config"]["Cmd"] == ["cat", "/made"]
    assert img["Author"] == "me <me@x>" and img["Parent"] == base["Id"]
    hist = env.client.api.history(f"{repo}:v1")
    assert hist[0]["Comment"] == "msg"
    assert env.ok("run", "--rm", f"{repo}:v1") == "data\n"
    actions = [e["Action"] for e in _events(env, since, f"container={name}")]
    assert actions == ["pause", "unpause", "commit"]
    commit = _events(env, since, "event=commit")[0]
    attrs = commit["Actor"]["Attributes"]  # type: ignore[index]
    assert attrs["imageID"] == image_id and attrs["imageRef"] == f"{repo}:v1"  # type: ignore[index]
    saved = subprocess.run(env.argv("save", f"{repo}:v1"), capture_output=True, env=env.env)
    assert saved.returncode == 0
    with tarfile.open(fileobj=io.BytesIO(saved.stdout)) as tf:
        manifest = json.load(tf.extractfile("manifest.json"))  # type: ignore[arg-type]
    assert manifest[0]["RepoTags"] == [f"{repo}:v1"]
    assert len(manifest[0]["Layers"]) == len(img["RootFS"]["Layers"])
    env.ok("rm", "-f", name)


def test_commit_no_pause_stopped_and_sdk(env: Env) -> None:
    name = uniq("cmn")
    env.ok("run", "--name", name, "busybox", "true")
    since = time.time()
    env.ok("commit", "--pause=false", name)
    assert [e["Action"] for e in _events(env, since, f"container={name}")] == ["commit"]
    img = env.client.containers.get(name).commit(repository="berthd-test/sdk", tag="t")
    assert "berthd-test/sdk:t" in img.tags
    r = env.run("commit", "-c", "FROM x", name)
    assert r.rc != 0 and "FROM is not a valid change command" in r.err
    r = env.run("commit", "nosuchcontainer")
    assert r.rc != 0 and "No such container" in r.err


def test_container_prune(env: Env) -> None:
    keep_running = uniq("pr")
    env.ok("run", "-d", "--name", keep_running, "busybox", "sleep", "100")
    labelled = uniq("prl")
    env.ok("run", "--name", labelled, "--label", "keep=yes", "busybox", "true")
    wrote = uniq("prw")
    env.ok("run", "--name", wrote, "busybox", "sh", "-c", "head -c 20000 /dev/zero > /z")
    r = env.run("container", "prune", "-f", "--filter", "bogus=1")
    assert r.rc != 0 and "invalid filter 'bogus'" in r.err
    res = env.client.api.prune_containers(filters={"label!": "keep=yes"})
    deleted = res["ContainersDeleted"] or []
    ids = {env.inspect(n)["Id"] for n in (keep_running, labelled)}
    assert not ids & set(deleted)
    assert res["SpaceReclaimed"] >= 20000
    assert env.run("inspect", wrote).rc != 0
    future = env.client.api.prune_containers(filters={"until": "1h"})
    assert future["ContainersDeleted"] is None and future["SpaceReclaimed"] == 0
    labelled_id = env.inspect(labelled)["Id"]
    out = env.ok("container", "prune", "-f")
    assert labelled_id in out and "Total reclaimed space" in out
    env.ok("rm", "-f", keep_running)


def test_system_df_and_ps_sizes(env: Env) -> None:
    name = uniq("df")
    env.ok("run", "--name", name, "busybox", "sh", "-c", "head -c 30000 /dev/zero > /z")
    df = env.client.api.df()
    row = next(c for c in df["Containers"] if c["Id"] == env.inspect(name)["Id"])
    assert row["SizeRw"] >= 30000 and row["SizeRootFs"] > row["SizeRw"]
    out = env.ok("system", "df", "-v")
    assert name in out
    env.ok("rm", name)
