from __future__ import annotations

import json
import os

import pytest

from berthd.errdefs import InvalidParameter
from berthd.oci import seccomp
from berthd.oci.defaults import DEFAULT_CAPABILITIES

PROFILE = {
    "defaultAction": "SCMP_ACT_ERRNO",
    "defaultErrnoRet": 38,
    "archMap": [
        {
            "architecture": "SCMP_ARCH_X86_64",
            "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        },
        {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]},
    ],
    "syscalls": [
        {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW", "comment": "x", "errno": ""},
        {
            "names": ["personality"],
            "action": "SCMP_ACT_ALLOW",
            "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}],
        },
        {"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64"]}},
        {
            "names": ["sync_file_range2"],
            "action": "SCMP_ACT_ALLOW",
            "includes": {"arches": ["ppc64le"]},
        },
        {"names": ["bpf"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
        {
            "names": ["bpf"],
            "action": "SCMP_ACT_ERRNO",
            "errnoRet": 1,
            "excludes": {"caps": ["CAP_SYS_ADMIN"]},
        },
        {"names": ["newcall"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "5.8"}},
        {"names": ["oldcall"], "action": "SCMP_ACT_ALLOW", "excludes": {"minKernel": "5.8"}},
        {"names": ["notx86"], "action": "SCMP_ACT_ALLOW", "excludes": {"arches": ["amd64"]}},
    ],
}


def convert(caps: list[str], kernel: tuple[int, int, int] = (6, 1, 0)) -> dict:  # type: ignore[type-arg]
    prof = seccomp.load_profile(json.dumps(PROFILE))
    out = seccomp.setup_seccomp(prof, caps, arch="amd64", kernel=kernel)
    assert out is not None
    return out


def names(out: dict) -> list[str]:  # type: ignore[type-arg]
    return [n for s in out["syscalls"] for n in s["names"]]


def test_arch_resolution_and_defaults() -> None:
    out = convert(list(DEFAULT_CAPABILITIES))
    assert out["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    assert out["defaultAction"] == "SCMP_ACT_ERRNO"
    assert out["defaultErrnoRet"] == 38
    assert "arch_prctl" in names(out)
    assert "sync_file_range2" not in names(out)
    assert "notx86" not in names(out)
    # args kept, with Go's zero values filled in
    pers = next(s for s in out["syscalls"] if s["names"] == ["personality"])
    assert pers["args"] == [{"index": 0, "value": 8, "valueTwo": 0, "op": "SCMP_CMP_EQ"}]
    # no Docker-only keys leak into the OCI result
    for s in out["syscalls"]:
        assert set(s) <= {"names", "action", "errnoRet", "args"}


def test_caps_filter_uses_final_capability_set() -> None:
    without = convert(list(DEFAULT_CAPABILITIES))
    bpf = [s for s in without["syscalls"] if s["names"] == ["bpf"]]
    assert bpf == [{"names": ["bpf"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]
    with_admin = convert([*DEFAULT_CAPABILITIES, "CAP_SYS_ADMIN"])
    bpf = [s for s in with_admin["syscalls"] if s["names"] == ["bpf"]]
    assert bpf == [{"names": ["bpf"], "action": "SCMP_ACT_ALLOW"}]


def test_min_kernel() -> None:
    assert "newcall" in names(convert([], kernel=(5, 8, 0)))
    assert "oldcall" not in names(convert([], kernel=(5, 8, 0)))
    assert "newcall" not in names(convert([], kernel=(5, 4, 0)))
    assert "oldcall" in names(convert([], kernel=(5, 4, 0)))


def test_empty_profile_means_disabled() -> None:
    assert seccomp.setup_seccomp(seccomp.load_profile("{}"), []) is None


@pytest.mark.parametrize(
    ("body", "tail"),
    [
        ("not json", "invalid character 'n' looking for beginning of value"),
        ('{"defaultAction": ', "unexpected end of JSON input"),
        ('{"defaultAction": 5}', "json: cannot unmarshal number into Go struct field"),
        ('{"syscalls": {}}', "json: cannot unmarshal object into Go struct field"),
        ('{"syscalls": [{"names": "read"}]}', "json: cannot unmarshal string"),
        ('{"syscalls": [{"names": ["a"], "errnoRet": -1}]}', "json: cannot unmarshal number -1"),
    ],
)
def test_decode_errors(body: str, tail: str) -> None:
    with pytest.raises(InvalidParameter) as ei:
        seccomp.load_profile(body)
    assert str(ei.value).startswith("Decoding seccomp profile failed: " + tail)


def test_name_and_names_conflict() -> None:
    prof = seccomp.load_profile(
        '{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"name":"a","names":["b"],"action":"x"}]}'
    )
    with pytest.raises(InvalidParameter, match="'name' and 'names' were specified"):
        seccomp.setup_seccomp(prof, [])


def test_architectures_and_archmap_conflict() -> None:
    prof = seccomp.load_profile(
        '{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86"],'
        '"archMap":[{"architecture":"SCMP_ARCH_X86_64"}]}'
    )
    with pytest.raises(InvalidParameter, match="use either 'architectures' or 'archMap'"):
        seccomp.setup_seccomp(prof, [])


def test_keys_match_case_insensitively_like_go() -> None:
    prof = seccomp.load_profile('{"DefaultAction":"SCMP_ACT_LOG","SYSCALLS":[]}')
    assert seccomp.setup_seccomp(prof, []) == {"defaultAction": "SCMP_ACT_LOG", "syscalls": []}


def test_kernel_version_parsing() -> None:
    assert seccomp.kernel_version("6.18.0-1-amd64") == (6, 18, 0)
    assert seccomp.kernel_version("5.10") == (5, 10, 0)
    with pytest.raises(InvalidParameter):
        seccomp.load_profile('{"syscalls":[{"includes":{"minKernel":"abc"}}]}')


@pytest.mark.skipif(
    not os.path.exists(seccomp.DEFAULT_PROFILE_PATH), reason="containers-common not installed"
)
def test_host_default_profile_converts() -> None:
    prof = seccomp.load_profile(seccomp.read_default_profile())
    out = seccomp.setup_seccomp(prof, list(DEFAULT_CAPABILITIES), arch="amd64")
    assert out is not None
    assert out["defaultErrnoRet"] == 38
    assert out["architectures"][0] == "SCMP_ARCH_X86_64"
    allowed = {n for s in out["syscalls"] if s["action"] == "SCMP_ACT_ALLOW" for n in s["names"]}
    assert "read" in allowed and "arch_prctl" in allowed
    assert "bpf" not in allowed and "perf_event_open" not in allowed
