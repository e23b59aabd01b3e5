from __future__ import annotations

import pytest

from berthd.errdefs import InvalidParameter
from berthd.oci.defaults import default_mounts
from berthd.oci.mounts import (
    MountPoint,
    build_mounts,
    container_mount_points,
    convert_tmpfs_options,
    merge_tmpfs_options,
    parse_bind,
    parse_mount_spec,
)


def test_parse_bind_forms() -> None:
    mp = parse_bind("/host:/ctr")
    assert (mp.type, mp.source, mp.destination, mp.rw, mp.propagation) == (
        "bind",
        "/host",
        "/ctr",
        True,
        "rprivate",
    )
    mp = parse_bind("/host/:/ctr/sub/:ro,rshared,z")
    assert (mp.source, mp.destination, mp.rw, mp.propagation) == (
        "/host",
        "/ctr/sub",
        False,
        "rshared",
    )
    mp = parse_bind("myvol:/data:nocopy")
    assert (mp.type, mp.name, mp.copy_data) == ("volume", "myvol", False)
    mp = parse_bind("/anon")
    assert (mp.type, mp.name, mp.destination) == ("volume", "", "/anon")


@pytest.mark.parametrize(
    ("raw", "msg"),
    [
        ("/a:/b:xyz", "invalid mode: xyz"),
        ("/a:/b:ro,rw", "invalid mode: ro,rw"),
        ("/b:ro", "invalid volume specification: '/b:ro'"),
        (":/b", "invalid volume specification: ':/b'"),
        ("/a:/b:ro:x", "invalid volume specification: '/a:/b:ro:x'"),
        (
            "/a:/",
            "invalid volume specification: '/a:/': invalid mount config for type \"bind\": "
            "invalid specification: destination can't be '/'",
        ),
        (
            "/a:rel",
            "invalid volume specification: '/a:rel': invalid mount config for type \"bind\": "
            "invalid mount path: 'rel' mount path must be absolute",
        ),
    ],
)
def test_parse_bind_errors(raw: str, msg: str) -> None:
    with pytest.raises(InvalidParameter) as ei:
        parse_bind(raw)
    assert str(ei.value) == msg


def test_mount_spec_bind_source_must_exist(tmp_path: object) -> None:
    with pytest.raises(InvalidParameter) as ei:
        parse_mount_spec({"Type": "bind", "Source": "/x-does-not-exist", "Target": "/x"})
    assert str(ei.value) == (
        'invalid mount config for type "bind": bind source path does not exist: /x-does-not-exist'
    )
    mp = parse_mount_spec({"Type": "bind", "Source": "/etc", "Target": "/e", "ReadOnly": True})
    assert (mp.source, mp.rw) == ("/etc", False)
    with pytest.raises(InvalidParameter, match="mount type unknown"):
        parse_mount_spec({"Type": "npipe", "Target": "/x"})
    with pytest.raises(InvalidParameter, match="field Source must not be specified"):
        parse_mount_spec({"Type": "tmpfs", "Source": "x", "Target": "/x"})


def test_tmpfs_options() -> None:
    assert convert_tmpfs_options({"SizeBytes": 64 << 20, "Mode": 0o1777}, False) == (
        "mode=1777,size=64m"
    )
    assert convert_tmpfs_options({"SizeBytes": 1000}, True) == "ro,size=1000"
    assert merge_tmpfs_options(["noexec", "nosuid", "nodev", "rprivate", "exec", "size=1m"]) == [
        "nosuid",
        "nodev",
        "rprivate",
        "exec",
        "size=1m",
    ]
    with pytest.raises(InvalidParameter) as ei:
        merge_tmpfs_options(["foo"])
    assert str(ei.value) == 'Invalid tmpfs option ["foo"]'


def test_duplicate_and_volume_hook() -> None:
    with pytest.raises(InvalidParameter, match="Duplicate mount point: /x"):
        container_mount_points({"Binds": ["/a:/x", "/b:/x/"]})
    pts = container_mount_points(
        {"Binds": ["vol:/data:ro"]}, resolve_volume=lambda mp: f"/var/lib/v/{mp.name}/_data"
    )
    assert pts[0] == MountPoint(
        type="bind",
        destination="/data",
        source="/var/lib/v/vol/_data",
        rw=False,
        mode="ro",
        propagation="rprivate",
        name="vol",
    )
    with pytest.raises(InvalidParameter):
        container_mount_points({"Tmpfs": {"rel": ""}})


def dests(mounts: list[dict]) -> list[str]:  # type: ignore[type-arg]
    return [m["destination"] for m in mounts]


def test_build_mounts_order_override_and_shm() -> None:
    points = [
        parse_bind("/h1:/a/b/c"),
        parse_bind("/h2:/a:ro"),
        parse_bind("/h3:/dev/shm"),
    ]
    mounts, prop = build_mounts(default_mounts(), points, {"/t": "size=1m"}, shm_size=1 << 26)
    assert prop == ""
    d = dests(mounts)
    assert d.count("/dev/shm") == 1
    # defaults first, then user mounts by depth
    assert d[:6] == ["/proc", "/dev", "/dev/pts", "/sys", "/sys/fs/cgroup", "/dev/mqueue"]
    assert d[6:] == ["/a", "/t", "/dev/shm", "/a/b/c"]
    a = next(m for m in mounts if m["destination"] == "/a")
    assert a == {
        "destination": "/a",
        "type": "bind",
        "source": "/h2",
        "options": ["rbind", "ro", "rprivate"],
    }
    t = next(m for m in mounts if m["destination"] == "/t")
    assert t["options"] == ["noexec", "nosuid", "nodev", "rprivate", "size=1m"]

    mounts, _ = build_mounts(default_mounts(), [], shm_size=67108864)
    shm = next(m for m in mounts if m["destination"] == "/dev/shm")
    assert shm["options"][-1] == "size=67108864"
    mounts, _ = build_mounts(default_mounts(), [], ipc_mode="none")
    assert "/dev/shm" not in dests(mounts)


def test_user_dev_replaces_everything_under_dev() -> None:
    mounts, _ = build_mounts(default_mounts(), [parse_bind("/hostdev:/dev")])
    assert [d for d in dests(mounts) if d.startswith("/dev")] == ["/dev"]


def test_readonly_rootfs_and_privileged() -> None:
    mounts, _ = build_mounts(default_mounts(), [parse_bind("/h:/data")], readonly_rootfs=True)
    opts = {m["destination"]: m["options"] for m in mounts}
    assert "ro" not in opts["/proc"] and "ro" not in opts["/dev"] and "ro" not in opts["/dev/shm"]
    assert "ro" in opts["/sys"]
    assert "ro" not in opts["/data"]  # user mounts keep their own mode
    mounts, _ = build_mounts(default_mounts(), [], privileged=True)
    opts = {m["destination"]: m["options"] for m in mounts}
    assert "ro" not in opts["/sys"] and "ro" not in opts["/sys/fs/cgroup"]


def test_propagation_sets_rootfs_propagation() -> None:
    _, prop = build_mounts(default_mounts(), [parse_bind("/h:/x:rslave")])
    assert prop == "rslave"
    _, prop = build_mounts(
        default_mounts(), [parse_bind("/h:/x:shared"), parse_bind("/h:/y:slave")]
    )
    assert prop == "shared"


@pytest.mark.parametrize("sub", ["a", "a/b", "./a", "a/../b", "a/..", ".", "a//b/", "..a"])
def test_volume_subpath_local_accepted(sub: str) -> None:
    spec = {"Type": "volume", "Source": "v", "Target": "/x", "VolumeOptions": {"Subpath": sub}}
    assert parse_mount_spec(spec).subpath == sub


@pytest.mark.parametrize("sub", ["/a", "..", "../a", "a/../../b", "a/../.."])
def test_volume_subpath_leaving_the_volume_refused(sub: str) -> None:
    spec = {"Type": "volume", "Source": "v", "Target": "/x", "VolumeOptions": {"Subpath": sub}}
    with pytest.raises(InvalidParameter) as e:
        parse_mount_spec(spec)
    assert str(e.value) == (
        'invalid mount config for type "volume": subpath must be a relative path within the volume'
    )


def test_volume_subpath_of_anonymous_volume_refused() -> None:
    spec = {"Type": "volume", "Target": "/x", "VolumeOptions": {"Subpath": "a"}}
    with pytest.raises(InvalidParameter) as e:
        parse_mount_spec(spec)
    assert str(e.value) == (
        'invalid mount config for type "volume": must not set Subpath when using anonymous volumes'
    )
