"""Volumes in containers through a real berthd (dockerd's behaviour as the spec).

-v name:/path creates the volume on first use; data outlives the container and
the daemon; an empty volume over a non-empty image directory is filled from
the image unless ``nocopy``; image VOLUMEs become anonymous volumes that ``rm
-v`` and ``--rm`` remove and plain ``rm`` keeps; a volume used by any
container, even a stopped one, cannot be removed (409 "volume is in use",
``force`` does not override it: it only ignores a missing volume);
--volumes-from, --mount with driver options, and references after restarts.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import docker
import pytest

from tests.helpers.wait import wait_for
from tests.integration.restore.harness import Env, running_env, uniq
from tests.integration.volumes_in_containers.conftest import ETC_IMAGE, IMAGES, VOL_IMAGE

pytestmark = pytest.mark.integration


def volume_names(e: Env) -> set[str]:
    return set(e.ok("volume", "ls", "-q").split())


def vinspect(e: Env, name: str) -> dict[str, object]:
    return dict(json.loads(e.ok("volume", "inspect", name))[0])


def mountpoint(e: Env, name: str) -> Path:
    return Path(str(vinspect(e, name)["Mountpoint"]))


def volume_mounts(e: Env, ref: str) -> list[dict[str, object]]:
    return [m for m in e.inspect(ref)["Mounts"] if m["Type"] == "volume"]


def test_named_volume_created_on_first_use_and_survives(env: Env) -> None:
    e = env
    vol, name = uniq("nv"), uniq("w")
    assert vol not in volume_names(e)
    e.ok("run", "--name", name, "-v", f"{vol}:/data", "busybox", "sh", "-c", "echo hello > /data/f")
    assert vol in volume_names(e)
    info = vinspect(e, vol)
    assert info["Driver"] == "local"
    assert info["Mountpoint"] == os.path.join(e.data_root, "volumes", vol, "_data")
    assert (mountpoint(e, vol) / "f").read_text() == "hello\n"
    (m,) = volume_mounts(e, name)
    assert m["Name"] == vol and m["Destination"] == "/data" and m["RW"] is True
    assert m["Driver"] == "local" and m["Source"] == info["Mountpoint"]

    e.ok("rm", name)
    assert vol in volume_names(e)
    read = ("run", "--rm", "-v", f"{vol}:/data", "busybox", "cat", "/data/f")
    assert e.ok(*read) == "hello\n"
    e.restart()
    assert e.ok(*read) == "hello\n"
    e.restart(kill=True)
    assert e.ok(*read) == "hello\n"
    e.ok("volume", "rm", vol)


def test_empty_volume_prefilled_from_image(env: Env) -> None:
    e = env
    vol = uniq("pf")
    out = e.ok("run", "--rm", "-v", f"{vol}:/etc", "busybox", "cat", "/etc/passwd")
    assert out.startswith("root:x:0:0:")
    host = mountpoint(e, vol)
    assert (host / "passwd").read_text() == out
    assert (host / "group").is_file()
    # the copy keeps the image directory's mode
    assert (host.stat().st_mode & 0o7777) == 0o755
    e.ok("volume", "rm", vol)


def test_nocopy_leaves_volume_empty(env: Env) -> None:
    e = env
    vol, vol2 = uniq("nc"), uniq("nc")
    e.ok("run", "--rm", "-v", f"{vol}:/etc:nocopy", "busybox", "true")
    assert not (mountpoint(e, vol) / "passwd").exists()
    spec = f"type=volume,src={vol2},dst=/etc,volume-nocopy"
    e.ok("run", "--rm", "--mount", spec, "busybox", "true")
    assert not (mountpoint(e, vol2) / "passwd").exists()
    e.ok("volume", "rm", vol, vol2)


def test_non_empty_volume_not_prefilled(env: Env) -> None:
    e = env
    vol = uniq("ne")
    e.ok("run", "--rm", "-v", f"{vol}:/m", "busybox", "touch", "/m/marker")
    out = e.ok("run", "--rm", "-v", f"{vol}:/etc", "busybox", "ls", "/etc")
    assert "marker" in out.split() and "passwd" not in out.split()
    e.ok("volume", "rm", vol)


def test_image_volume_prefilled(env: Env) -> None:
    e = env
    name = uniq("ive")
    out = e.ok("run", "--name", name, ETC_IMAGE, "cat", "/etc/group")
    assert out.startswith("root:x:0:")
    (m,) = volume_mounts(e, name)
    assert m["Destination"] == "/etc" and len(str(m["Name"])) == 64
    e.ok("rm", "-v", name)
    assert m["Name"] not in volume_names(e)


def test_image_volume_anonymous_lifecycle(env: Env) -> None:
    e = env
    before = volume_names(e)
    # plain rm keeps the anonymous volume (dangling)
    a = uniq("anon")
    e.ok("run", "--name", a, VOL_IMAGE, "sh", "-c", "echo a > /data/x")
    (m,) = volume_mounts(e, a)
    anon = str(m["Name"])
    assert len(anon) == 64 and m["Destination"] == "/data"
    labels = vinspect(e, anon)["Labels"]
    assert labels == {"com.docker.volume.anonymous": ""}
    e.ok("rm", a)
    assert anon in volume_names(e)
    dangling = e.ok("volume", "ls", "-q", "--filter", "dangling=true").split()
    assert anon in dangling
    e.ok("volume", "rm", anon)
    # rm -v removes it
    b = uniq("anon")
    e.ok("run", "--name", b, VOL_IMAGE, "true")
    (m,) = volume_mounts(e, b)
    e.ok("rm", "-v", b)
    assert m["Name"] not in volume_names(e)
    # so does --rm, for the image's and for -v /path anonymous volumes
    e.ok("run", "--rm", "-v", "/more", VOL_IMAGE, "sh", "-c", "echo b > /data/y")
    c = uniq("anon")
    e.ok("run", "-d", "--rm", "--name", c, VOL_IMAGE, "sleep", "1000")
    anon_c = str(volume_mounts(e, c)[0]["Name"])
    assert anon_c in volume_names(e)
    e.ok("stop", "-t", "0", c)
    wait_for(lambda: c not in e.ps_names(), 10)
    assert volume_names(e) == before
    # a named volume survives --rm and rm -v
    named = uniq("keep")
    e.ok("run", "--rm", "-v", f"{named}:/data", VOL_IMAGE, "true")
    assert named in volume_names(e)
    e.ok("volume", "rm", named)


def test_volume_in_use_by_stopped_container_cannot_be_removed(env: Env) -> None:
    e = env
    vol, name = uniq("use"), uniq("user")
    cid = e.ok("create", "--name", name, "-v", f"{vol}:/data", "busybox", "true").strip()
    for args in (("volume", "rm", vol), ("volume", "rm", "-f", vol)):
        r = e.run(*args)
        assert r.rc == 1
        assert f"remove {vol}: volume is in use - [{cid}]" in r.err, r.err
    for force in (False, True):
        with pytest.raises(docker.errors.APIError) as err:
            e.api.remove_volume(vol, force=force)
        assert err.value.status_code == 409
        assert "volume is in use" in str(err.value.explanation)
    assert vol in volume_names(e)
    # prune leaves it alone too
    e.ok("volume", "prune", "-f", "--all")
    assert vol in volume_names(e)
    e.ok("rm", name)
    e.ok("volume", "rm", vol)
    # force ignores only a missing volume
    assert e.run("volume", "rm", "-f", vol).rc == 0
    r = e.run("volume", "rm", vol)
    assert r.rc == 1 and "no such volume" in r.err


def test_volumes_from(env: Env) -> None:
    e = env
    vol, src, img_src = uniq("vf"), uniq("src"), uniq("isrc")
    e.ok("run", "-d", "--name", src, "-v", f"{vol}:/shared", "busybox", "sleep", "1000")
    e.ok("run", "--rm", "--volumes-from", src, "busybox", "sh", "-c", "echo x > /shared/y")
    assert e.ok("exec", src, "cat", "/shared/y") == "x\n"
    r = e.run("run", "--rm", "--volumes-from", f"{src}:ro", "busybox", "touch", "/shared/z")
    assert r.rc != 0 and "Read-only file system" in r.err + r.out
    ro = uniq("ro")
    e.ok("create", "--name", ro, "--volumes-from", f"{src}:ro", "busybox", "true")
    (m,) = volume_mounts(e, ro)
    assert m["Name"] == vol and m["RW"] is False and m["Destination"] == "/shared"
    # anonymous image volumes are shared too
    e.ok("run", "--name", img_src, VOL_IMAGE, "sh", "-c", "echo img > /data/i")
    out = e.ok("run", "--rm", "--volumes-from", img_src, "busybox", "cat", "/data/i")
    assert out == "img\n"
    # the volume is in use by the container that took it from src
    e.ok("rm", "-f", src)
    assert e.run("volume", "rm", vol).rc == 1
    e.ok("rm", ro)
    e.ok("volume", "rm", vol)
    e.ok("rm", "-v", img_src)


def test_mount_volume_with_driver_options(env: Env) -> None:
    e = env
    vol, vol2 = uniq("tv"), uniq("tv")
    spec = (
        f"type=volume,src={vol},dst=/scratch,readonly,volume-opt=type=tmpfs,volume-opt=device=tmpfs"
    )
    out = e.ok(
        "run", "--rm", "--mount", spec, "busybox", "sh", "-c",
        "grep ' /scratch ' /proc/mounts; touch /scratch/x 2>&1; echo rc=$?",
    )  # fmt: skip
    line = out.splitlines()[0].split()
    assert line[1] == "/scratch" and line[2] == "tmpfs" and "ro" in line[3].split(","), out
    assert "rc=1" in out
    info = vinspect(e, vol)
    assert info["Options"] == {"type": "tmpfs", "device": "tmpfs"}
    assert not [m for m, t in e.mounts() if t == "tmpfs" and vol in m]
    # a writable tmpfs volume: its content lasts as long as it is mounted
    spec2 = f"type=volume,src={vol2},dst=/s,volume-opt=type=tmpfs,volume-opt=device=tmpfs"
    e.ok("run", "--rm", "--mount", spec2, "busybox", "sh", "-c", "echo t > /s/t")
    r = e.run("run", "--rm", "--mount", spec2, "busybox", "cat", "/s/t")
    assert r.rc != 0
    e.ok("volume", "rm", vol, vol2)


def test_refs_correct_after_restart(env: Env) -> None:
    e = env
    vol, name = uniq("rv"), uniq("ref")
    e.ok("create", "--name", name, "-v", f"{vol}:/data", "busybox", "true")
    e.restart()
    assert e.run("volume", "rm", vol).rc == 1
    e.restart(kill=True)
    assert e.run("volume", "rm", vol).rc == 1
    dangling = e.ok("volume", "ls", "-q", "--filter", "dangling=true").split()
    assert vol not in dangling
    e.ok("rm", name)
    e.ok("volume", "rm", vol)


def test_running_container_volume_after_live_restore() -> None:
    """kill -9 with live-restore: the tmpfs volume stays mounted and referenced."""
    with running_env(("--live-restore",), IMAGES) as e:
        vol, name = uniq("lr"), uniq("lr")
        spec = f"type=volume,src={vol},dst=/s,volume-opt=type=tmpfs,volume-opt=device=tmpfs"
        e.ok("run", "-d", "--name", name, "--mount", spec, "busybox", "sleep", "1000")
        e.ok("exec", name, "sh", "-c", "echo kept > /s/f")
        e.kill9()
        e.start()
        assert e.ok("exec", name, "cat", "/s/f") == "kept\n"
        assert e.run("volume", "rm", vol).rc == 1
        e.ok("stop", "-t", "0", name)
        assert e.run("volume", "rm", vol).rc == 1
        e.ok("rm", name)
        assert not [m for m, t in e.mounts() if t == "tmpfs" and vol in m]
        e.ok("volume", "rm", vol)
    assert not e.leaks, e.leaks
