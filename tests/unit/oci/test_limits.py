from __future__ import annotations

import os
import resource

import pytest

from berthd.errdefs import InvalidParameter
from berthd.oci.devices import (
    append_cgroup_rules,
    devices_from_path,
    host_devices,
    parse_device,
)
from berthd.oci.sysctls import build_sysctls, validate_sysctls
from berthd.oci.ulimits import RLIM_INFINITY, parse_ulimit, rlimits


def test_parse_ulimit() -> None:
    assert parse_ulimit("nofile=1024:2048") == {"Name": "nofile", "Soft": 1024, "Hard": 2048}
    assert parse_ulimit("nproc=10") == {"Name": "nproc", "Soft": 10, "Hard": 10}
    for bad, msg in [
        ("nofile", "invalid ulimit argument: nofile"),
        ("foo=1", "invalid ulimit type: foo"),
        ("nofile=2:1", "ulimit soft limit must be less than or equal to hard limit: 2 > 1"),
        ("nofile=1:2:3", "too many limit value arguments - 1:2:3, can only have up to two"),
    ]:
        with pytest.raises(InvalidParameter) as ei:
            parse_ulimit(bad)
        assert str(ei.value).startswith(msg)


def test_rlimits() -> None:
    own = {"nofile": (1024, 20000), "core": (0, -1)}
    got = rlimits(
        [{"Name": "nofile", "Soft": 1024, "Hard": 2048}],
        defaults=[
            {"Name": "nofile", "Soft": 1, "Hard": 1},
            {"Name": "core", "Soft": -1, "Hard": -1},
        ],
        own_limits=own,
    )
    assert got == [
        {"type": "RLIMIT_NOFILE", "hard": 2048, "soft": 1024},
        {"type": "RLIMIT_CORE", "hard": RLIM_INFINITY, "soft": RLIM_INFINITY},
    ]
    assert rlimits(None) == []


def test_rlimit_above_daemon_hard_limit_is_refused() -> None:
    with pytest.raises(InvalidParameter, match="above the daemon's own hard limit 20000"):
        rlimits(
            [{"Name": "nofile", "Soft": 1024, "Hard": 30000}], own_limits={"nofile": (1, 20000)}
        )
    with pytest.raises(InvalidParameter, match="hard limit unlimited"):
        rlimits([{"Name": "nofile", "Soft": -1, "Hard": -1}], own_limits={"nofile": (1, 20000)})
    # and the real limit of this process is what is used by default
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY:
        with pytest.raises(InvalidParameter):
            rlimits([{"Name": "nofile", "Soft": 1, "Hard": hard + 1}])


def test_sysctls() -> None:
    validate_sysctls(
        {"kernel.shmmax": "1", "fs.mqueue.msg_max": "10", "net.core.somaxconn": "1"},
        private_ipc=True,
        private_net=True,
        private_uts=True,
    )
    cases = [
        (
            {"net.ipv4.ip_forward": "1"},
            True,
            False,
            "is not allowed in the hosts network namespace",
        ),
        ({"kernel.sem": "1"}, False, True, "is not allowed in the hosts ipc namespace"),
        ({"vm.swappiness": "1"}, True, True, 'sysctl "vm.swappiness" is not in a separate kernel'),
        ({"kernel.hostname": "x"}, True, True, "it should be set using the hostname option"),
    ]
    for sysctl, ipc, net, msg in cases:
        with pytest.raises(InvalidParameter, match=msg):
            validate_sysctls(sysctl, private_ipc=ipc, private_net=net, private_uts=True)


def test_build_sysctls(tmp_path: os.PathLike[str]) -> None:
    base = os.fspath(tmp_path)
    os.makedirs(os.path.join(base, "net/ipv4"))
    open(os.path.join(base, "net/ipv4/ping_group_range"), "w").close()
    got = build_sysctls({"net.ipv4.ping_group_range": "1 1"}, "example.org", True, base)
    assert got == {"kernel.domainname": "example.org", "net.ipv4.ping_group_range": "1 1"}
    assert build_sysctls(None, "", False, base) == {}


def test_device_from_host_node() -> None:
    devs, rules = devices_from_path("/dev/null", "/dev/mynull", "rw")
    assert devs[0]["path"] == "/dev/mynull"
    assert (devs[0]["type"], devs[0]["major"], devs[0]["minor"]) == ("c", 1, 3)
    assert devs[0]["fileMode"] == 0o666
    assert rules == [{"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rw"}]


def test_device_errors() -> None:
    with pytest.raises(InvalidParameter) as ei:
        devices_from_path("/dev/nonexistent-xyz", "/dev/x")
    assert str(ei.value) == (
        'error gathering device information while adding custom device "/dev/nonexistent-xyz": '
        "lstat /dev/nonexistent-xyz: no such file or directory"
    )
    with pytest.raises(InvalidParameter, match="not a device node"):
        devices_from_path("/etc/hostname", "/dev/x")


def test_host_devices_skips_pts_and_console() -> None:
    devs = host_devices()
    paths = {d["path"] for d in devs}
    assert "/dev/null" in paths
    assert not any(p.startswith("/dev/pts/") for p in paths)
    assert "/dev/console" not in paths


def test_parse_device() -> None:
    assert parse_device("/dev/sda") == {
        "PathOnHost": "/dev/sda",
        "PathInContainer": "/dev/sda",
        "CgroupPermissions": "rwm",
    }
    assert parse_device("/dev/sda:r")["CgroupPermissions"] == "r"
    assert parse_device("/dev/sda:/dev/xvda:rw")["PathInContainer"] == "/dev/xvda"
    with pytest.raises(InvalidParameter, match="invalid device mode: rwx"):
        parse_device("/dev/sda:/dev/xvda:rwx")
    with pytest.raises(InvalidParameter, match="invalid device specification"):
        parse_device("a:b:c:d")


def test_cgroup_rules() -> None:
    assert append_cgroup_rules([], ["c 1:* rwm"]) == [
        {"allow": True, "type": "c", "major": 1, "minor": -1, "access": "rwm"}
    ]
    with pytest.raises(InvalidParameter, match="invalid device cgroup rule format: 'x'"):
        append_cgroup_rules([], ["x"])
