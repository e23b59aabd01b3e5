from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from berthd.errdefs import InvalidParameter
from berthd.oci.defaults import DEFAULT_CAPABILITIES, MASKED_PATHS, READONLY_PATHS
from berthd.oci.mounts import MountPoint
from berthd.oci.spec import SpecOptions, build_spec, validate_host_config

PROFILE = json.dumps(
    {
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 38,
        "archMap": [
            {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"]},
        ],
        "syscalls": [
            {"names": ["read"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["bpf"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
        ],
    }
)


@pytest.fixture
def rootfs(tmp_path: Path) -> str:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/passwd").write_text(
        "root:x:0:0:root:/root:/bin/sh\nu:x:1000:1000::/home/u:/bin/sh\n"
    )
    (tmp_path / "etc/group").write_text("root:x:0:\nu:x:1000:\n")
    return str(tmp_path)


def opts(**kw: Any) -> SpecOptions:
    base: dict[str, Any] = {
        "seccomp_default": PROFILE,
        "arch": "amd64",
        "kernel": (6, 1, 0),
        "last_cap": 40,
        "init_path": "/usr/bin/tini",
        "num_cpus": 4,
    }
    base.update(kw)
    return SpecOptions(**base)


def build(
    rootfs: str, config: dict[str, Any] | None = None, hc: dict[str, Any] | None = None, **kw: Any
) -> dict[str, Any]:
    cfg = {"Hostname": "abc123", "Cmd": ["sh"]}
    cfg.update(config or {})
    return build_spec("abc123", cfg, hc or {}, rootfs, opts(**kw))


def test_default_spec(rootfs: str) -> None:
    s = build(rootfs)
    assert s["ociVersion"].startswith("1.0")
    assert s["root"] == {"path": rootfs, "readonly": False}
    assert s["hostname"] == "abc123"
    p = s["process"]
    assert p["args"] == ["sh"] and p["cwd"] == "/" and p["terminal"] is False
    assert p["user"] == {"uid": 0, "gid": 0, "additionalGids": [0]}
    assert p["env"][-1] == "HOME=/root"
    assert p["capabilities"]["effective"] == list(DEFAULT_CAPABILITIES)
    assert "rlimits" not in p
    assert p["oomScoreAdj"] == 0
    assert "noNewPrivileges" not in p
    lx = s["linux"]
    assert [n["type"] for n in lx["namespaces"]] == ["mount", "network", "uts", "pid", "ipc"]
    assert lx["maskedPaths"] == list(MASKED_PATHS)
    assert lx["readonlyPaths"] == list(READONLY_PATHS)
    assert lx["cgroupsPath"] == "/berthd/abc123"
    assert lx["resources"]["devices"][0] == {"allow": False, "access": "rwm"}
    assert lx["seccomp"]["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"]
    assert [c["names"] for c in lx["seccomp"]["syscalls"]] == [["read"]]
    mounts = {m["destination"]: m for m in s["mounts"]}
    assert mounts["/dev/pts"]["options"] == [
        "nosuid",
        "noexec",
        "newinstance",
        "ptmxmode=0666",
        "mode=0620",
        "gid=5",
    ]
    assert "size=67108864" in mounts["/dev/shm"]["options"]
    assert "ro" in mounts["/sys"]["options"]
    assert mounts["/sys/fs/cgroup"]["type"] == "cgroup"
    assert mounts["/dev/mqueue"]["type"] == "mqueue"


def test_privileged(rootfs: str) -> None:
    s = build(rootfs, hc={"Privileged": True})
    lx = s["linux"]
    assert "maskedPaths" not in lx and "readonlyPaths" not in lx
    assert "seccomp" not in lx
    assert len(s["process"]["capabilities"]["bounding"]) == 41
    assert lx["resources"]["devices"] == [{"allow": True, "access": "rwm"}]
    assert any(d["path"] == "/dev/null" for d in lx["devices"])
    sys = next(m for m in s["mounts"] if m["destination"] == "/sys")
    assert "ro" not in sys["options"]


def test_cap_add_changes_seccomp_and_unconfined(rootfs: str) -> None:
    s = build(rootfs, hc={"CapAdd": ["SYS_ADMIN"], "CapDrop": ["MKNOD"]})
    assert "CAP_SYS_ADMIN" in s["process"]["capabilities"]["bounding"]
    assert "CAP_MKNOD" not in s["process"]["capabilities"]["bounding"]
    assert ["bpf"] in [c["names"] for c in s["linux"]["seccomp"]["syscalls"]]
    s = build(rootfs, hc={"SecurityOpt": ["seccomp=unconfined", "no-new-privileges"]})
    assert "seccomp" not in s["linux"]
    assert s["process"]["noNewPrivileges"] is True
    custom = json.dumps({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": []})
    s = build(rootfs, hc={"SecurityOpt": ["seccomp=" + custom]})
    assert s["linux"]["seccomp"] == {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": []}
    with pytest.raises(InvalidParameter, match="Decoding seccomp profile failed"):
        build(rootfs, hc={"SecurityOpt": ["seccomp={bad"]})
    s = build(rootfs, seccomp_default="unconfined")
    assert "seccomp" not in s["linux"]


def test_non_root_user_gets_only_bounding(rootfs: str) -> None:
    s = build(rootfs, config={"User": "u", "Tty": True, "WorkingDir": "/tmp/"})
    p = s["process"]
    assert p["user"]["uid"] == 1000
    assert set(p["capabilities"]) == {"bounding"}
    assert "TERM=xterm" in p["env"] and "HOME=/home/u" in p["env"]
    assert p["cwd"] == "/tmp" and p["terminal"] is True


def test_init_and_modes(rootfs: str) -> None:
    s = build(rootfs, config={"Entrypoint": ["/ep"], "Cmd": ["x"]}, hc={"Init": True})
    assert s["process"]["args"] == ["/sbin/docker-init", "--", "/ep", "x"]
    init = next(m for m in s["mounts"] if m["destination"] == "/sbin/docker-init")
    assert init == {
        "destination": "/sbin/docker-init",
        "type": "bind",
        "source": "/usr/bin/tini",
        "options": ["bind", "ro"],
    }
    # no init with the host's pid namespace
    s = build(
        rootfs,
        hc={
            "Init": True,
            "PidMode": "host",
            "NetworkMode": "host",
            "IpcMode": "host",
            "UTSMode": "host",
        },
    )
    assert s["process"]["args"] == ["sh"]
    assert [n["type"] for n in s["linux"]["namespaces"]] == ["mount"]
    assert "hostname" not in s
    assert "sysctl" not in s["linux"]
    s = build(
        rootfs,
        hc={"NetworkMode": "container:x", "CgroupnsMode": "private"},
        namespace_paths={"network": "/proc/42/ns/net"},
    )
    ns = {n["type"]: n for n in s["linux"]["namespaces"]}
    assert ns["network"] == {"type": "network", "path": "/proc/42/ns/net"}
    assert "cgroup" in ns
    with pytest.raises(InvalidParameter, match="invalid IPC mode: bogus"):
        build(rootfs, hc={"IpcMode": "bogus"})


def test_resources_sysctls_ulimits_in_spec(rootfs: str) -> None:
    s = build(
        rootfs,
        config={"Domainname": "example.org"},
        hc={
            "Memory": 64 << 20,
            "NanoCpus": 500_000_000,
            "PidsLimit": 50,
            "Ulimits": [{"Name": "nofile", "Soft": 100, "Hard": 200}],
            "Sysctls": {"net.core.somaxconn": "1024"},
            "OomScoreAdj": 500,
            "CgroupParent": "/custom",
            "Devices": [
                {"PathOnHost": "/dev/null", "PathInContainer": "/dev/n2", "CgroupPermissions": "r"}
            ],
        },
    )
    lx = s["linux"]
    assert lx["resources"]["memory"]["limit"] == 64 << 20
    assert lx["resources"]["cpu"] == {"period": 100000, "quota": 50000}
    assert lx["resources"]["pids"] == {"limit": 50}
    assert lx["resources"]["devices"][-1] == {
        "allow": True,
        "type": "c",
        "major": 1,
        "minor": 3,
        "access": "r",
    }
    assert lx["devices"][0]["path"] == "/dev/n2"
    assert lx["cgroupsPath"] == "/custom/abc123"
    assert lx["sysctl"]["kernel.domainname"] == "example.org"
    assert lx["sysctl"]["net.core.somaxconn"] == "1024"
    assert s["process"]["rlimits"] == [{"type": "RLIMIT_NOFILE", "hard": 200, "soft": 100}]
    assert s["process"]["oomScoreAdj"] == 500
    with pytest.raises(InvalidParameter, match="hosts network namespace"):
        build(rootfs, hc={"NetworkMode": "host", "Sysctls": {"net.core.somaxconn": "1"}})


def test_mounts_in_spec(rootfs: str, tmp_path: Path) -> None:
    s = build(
        rootfs,
        hc={
            "Binds": ["/srv:/data:ro", "vol:/vol"],
            "Tmpfs": {"/run": "size=1m"},
            "ReadonlyRootfs": True,
            "ShmSize": 1 << 20,
        },
        resolve_volume=lambda mp: "/var/lib/berthd/volumes/" + mp.name + "/_data",
        extra_mounts=[MountPoint(type="bind", destination="/etc/hosts", source="/tmp/hosts")],
    )
    m = {x["destination"]: x for x in s["mounts"]}
    assert s["root"]["readonly"] is True
    assert m["/data"]["options"] == ["rbind", "ro", "rprivate"]
    assert m["/vol"]["source"] == "/var/lib/berthd/volumes/vol/_data"
    assert m["/run"]["type"] == "tmpfs"
    assert m["/etc/hosts"]["options"] == ["rbind", "rprivate"]
    assert "size=1048576" in m["/dev/shm"]["options"]


def test_validate_host_config() -> None:
    assert validate_host_config({}, {}) == []
    with pytest.raises(InvalidParameter, match="needs to be an absolute path"):
        validate_host_config({"WorkingDir": "rel"}, {})
    with pytest.raises(InvalidParameter, match="Invalid signal: FOO"):
        validate_host_config({"StopSignal": "FOO"}, {})
    with pytest.raises(InvalidParameter, match="Minimum memory limit allowed is 6MB"):
        validate_host_config({}, {"Memory": 1})
    with pytest.raises(InvalidParameter, match="bind source path does not exist"):
        validate_host_config(
            {}, {"Mounts": [{"Type": "bind", "Source": "/nope-x", "Target": "/x"}]}
        )


def test_cgroupns_default_follows_cgroup_version(rootfs: str) -> None:
    def types(s: dict[str, Any]) -> list[str]:
        return [n["type"] for n in s["linux"]["namespaces"]]

    assert "cgroup" not in types(build(rootfs, cgroup_v2=False))
    assert "cgroup" in types(build(rootfs, cgroup_v2=True))
    assert "cgroup" not in types(build(rootfs, hc={"CgroupnsMode": "host"}, cgroup_v2=True))
    with pytest.raises(InvalidParameter, match="invalid cgroup namespace mode: x"):
        build(rootfs, hc={"CgroupnsMode": "x"})


def test_apparmor_and_label_are_recorded_not_applied(rootfs: str) -> None:
    s = build(rootfs, hc={"SecurityOpt": ["apparmor=docker-default", "label=disable"]})
    assert "apparmorProfile" not in s["process"]
    assert "selinuxLabel" not in s["process"]


def test_tmpfs_options_checked_at_create() -> None:
    with pytest.raises(InvalidParameter, match='Invalid tmpfs option \\["bogus"\\]'):
        validate_host_config({}, {"Tmpfs": {"/x": "bogus"}})


def test_domainname_needs_own_uts_namespace(rootfs: str) -> None:
    with pytest.raises(InvalidParameter, match=r'sysctl "kernel\.domainname" is not in a separate'):
        build(rootfs, config={"Domainname": "x.org"}, hc={"UTSMode": "host"})


def test_user_mount_wins_over_daemon_mount(rootfs: str) -> None:
    s = build(
        rootfs,
        hc={"Binds": ["/srv/hosts:/etc/hosts"]},
        extra_mounts=[MountPoint(type="bind", destination="/etc/hosts", source="/daemon/hosts")],
    )
    hosts = [m for m in s["mounts"] if m["destination"] == "/etc/hosts"]
    assert [m["source"] for m in hosts] == ["/srv/hosts"]
