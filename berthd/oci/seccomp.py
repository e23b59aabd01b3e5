"""Seccomp: a Docker-format profile converted to OCI ``linux.seccomp``.

Docker profiles carry ``archMap`` and per-rule ``includes``/``excludes`` (arches,
capabilities, minimum kernel). runc knows none of that: handed the raw file it
applies every conditional rule unconditionally (the spike showed ``bpf`` allowed
without CAP_SYS_ADMIN). So, like dockerd's ``profiles/seccomp.setupSeccomp``, we
resolve the host arch, keep only the rules whose conditions hold for the
container's final capability set and the running kernel, and drop the rest.

Decoding follows Go's ``encoding/json`` into moby's ``Seccomp`` struct: keys match
case-insensitively, unknown keys are ignored (the containers-common profile has
``errno``/``defaultErrno`` keys moby's struct lacks, so rejecting unknown keys
would reject the default profile), and wrong types are an error.
"""

from __future__ import annotations

import json
import os
import platform
import re
from collections.abc import Sequence
from typing import Any

from berthd.errdefs import InvalidParameter

__all__ = [
    "DEFAULT_PROFILE_PATH",
    "UNCONFINED",
    "kernel_version",
    "load_profile",
    "native_arch",
    "read_default_profile",
    "setup_seccomp",
]

DEFAULT_PROFILE_PATH = "/usr/share/containers/seccomp.json"
UNCONFINED = "unconfined"

# uname machine -> libseccomp/Go native arch name used in includes/excludes.arches
_MACHINE_TO_NATIVE = {
    "x86_64": "amd64",
    "amd64": "amd64",
    "i386": "x86",
    "i686": "x86",
    "aarch64": "arm64",
    "arm64": "arm64",
    "armv7l": "arm",
    "armv6l": "arm",
    "ppc64le": "ppc64le",
    "ppc64": "ppc64",
    "s390x": "s390x",
    "s390": "s390",
    "mips64": "mips64",
    "mipsel": "mipsle",
}

# native arch -> SCMP_ARCH_* (dockerd's nativeToSeccomp)
_NATIVE_TO_SECCOMP = {
    "x86": "SCMP_ARCH_X86",
    "amd64": "SCMP_ARCH_X86_64",
    "arm": "SCMP_ARCH_ARM",
    "arm64": "SCMP_ARCH_AARCH64",
    "mips64": "SCMP_ARCH_MIPS64",
    "mips64n32": "SCMP_ARCH_MIPS64N32",
    "mipsel64": "SCMP_ARCH_MIPSEL64",
    "mips3l64n32": "SCMP_ARCH_MIPSEL64N32",
    "mipsle": "SCMP_ARCH_MIPSEL",
    "ppc": "SCMP_ARCH_PPC",
    "ppc64": "SCMP_ARCH_PPC64",
    "ppc64le": "SCMP_ARCH_PPC64LE",
    "s390": "SCMP_ARCH_S390",
    "s390x": "SCMP_ARCH_S390X",
}

_PREFIX = "Decoding seccomp profile failed: "


def native_arch(machine: str | None = None) -> str:
    """The Go-style arch name of this host (``amd64`` on x86_64)."""
    m = machine or platform.machine()
    return _MACHINE_TO_NATIVE.get(m, m)


def _parse_release(release: str) -> tuple[int, int, int]:
    # kernel.ParseRelease: "<kernel>.<major>[.<minor>][flavour]"
    m = re.match(r"^(\d+)\.(\d+)(?:\.(\d+))?", release)
    if not m:
        raise ValueError(f'failed to parse kernel version "{release}"')
    return int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)


def kernel_version(release: str | None = None) -> tuple[int, int, int]:
    """The running kernel as (kernel, major, minor), from uname."""
    return _parse_release(release or os.uname().release)


def read_default_profile(path: str = DEFAULT_PROFILE_PATH) -> str:
    """The default profile's text; the daemon reads it once at start."""
    with open(path, encoding="utf-8") as f:
        return f.read()


# ---- decoding, the way Go's encoding/json fills moby's Seccomp struct ----

_JSON_KIND = {
    bool: "bool",
    int: "number",
    float: "number",
    str: "string",
    list: "array",
    dict: "object",
}


def _type_error(value: Any, where: str, gotype: str) -> InvalidParameter:
    kind = _JSON_KIND.get(type(value), "value")
    return InvalidParameter(
        f"{_PREFIX}json: cannot unmarshal {kind} into Go struct field {where} of type {gotype}"
    )


def _fields(obj: Any, where: str, gotype: str, names: Sequence[str]) -> dict[str, Any]:
    """Pick known fields case-insensitively; later duplicates win, as in Go."""
    if not isinstance(obj, dict):
        raise _type_error(obj, where, gotype)
    lower = {n.lower(): n for n in names}
    out: dict[str, Any] = {}
    for k, v in obj.items():
        name = lower.get(k.lower())
        if name is not None and v is not None:
            out[name] = v
    return out


def _str(v: Any, where: str, gotype: str = "string") -> str:
    if not isinstance(v, str):
        raise _type_error(v, where, gotype)
    return v


def _uint(v: Any, where: str, gotype: str = "uint") -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        if isinstance(v, int | float) and not isinstance(v, bool):
            raise InvalidParameter(
                f"{_PREFIX}json: cannot unmarshal number {v} into Go struct field "
                f"{where} of type {gotype}"
            )
        raise _type_error(v, where, gotype)
    return v


def _strs(v: Any, where: str) -> list[str]:
    if not isinstance(v, list):
        raise _type_error(v, where, "[]string")
    return [_str(x, where) for x in v]


def _filter(v: Any, where: str) -> dict[str, Any]:
    f = _fields(v, where, "seccomp.Filter", ("caps", "arches", "minKernel"))
    out: dict[str, Any] = {}
    if "caps" in f:
        out["caps"] = _strs(f["caps"], where + ".caps")
    if "arches" in f:
        out["arches"] = _strs(f["arches"], where + ".arches")
    if "minKernel" in f:
        mk = _str(f["minKernel"], where + ".minKernel", "seccomp.KernelVersion")
        try:
            out["minKernel"] = _parse_release(mk)
        except ValueError as e:
            raise InvalidParameter(f"{_PREFIX}{e}") from None
    return out


def _arg(v: Any) -> dict[str, Any]:
    w = "Seccomp.syscalls.args"
    a = _fields(v, w, "specs.LinuxSeccompArg", ("index", "value", "valueTwo", "op"))
    return {
        "index": _uint(a.get("index", 0), w + ".index"),
        "value": _uint(a.get("value", 0), w + ".value", "uint64"),
        "valueTwo": _uint(a.get("valueTwo", 0), w + ".valueTwo", "uint64"),
        "op": _str(a.get("op", ""), w + ".op", "specs.LinuxSeccompOperator"),
    }


def _syscall(v: Any) -> dict[str, Any]:
    w = "Seccomp.syscalls"
    names = ("name", "names", "action", "errnoRet", "args", "comment", "includes", "excludes")
    s = _fields(v, w, "seccomp.Syscall", names)
    out: dict[str, Any] = {
        "name": _str(s.get("name", ""), w + ".name"),
        "names": _strs(s.get("names", []), w + ".names"),
        "action": _str(s.get("action", ""), w + ".action", "specs.LinuxSeccompAction"),
    }
    if "errnoRet" in s:
        out["errnoRet"] = _uint(s["errnoRet"], w + ".errnoRet")
    args = s.get("args", [])
    if not isinstance(args, list):
        raise _type_error(args, w + ".args", "[]specs.LinuxSeccompArg")
    out["args"] = [_arg(a) for a in args]
    if "comment" in s:
        _str(s["comment"], w + ".comment")
    out["includes"] = _filter(s.get("includes", {}), w + ".includes")
    out["excludes"] = _filter(s.get("excludes", {}), w + ".excludes")
    return out


def _go_syntax_error(body: str, err: json.JSONDecodeError) -> str:
    rest = body[err.pos :].lstrip()
    if not rest:
        return "unexpected end of JSON input"
    return f"invalid character {rest[0]!r} looking for beginning of value"


def load_profile(body: str) -> dict[str, Any]:
    """Decode a Docker-format profile (the text of ``--security-opt seccomp=<file>``).

    Returns the normalised profile for :func:`setup_seccomp`. Errors are dockerd's
    ``Decoding seccomp profile failed: …``.
    """
    try:
        raw = json.loads(body)
    except json.JSONDecodeError as e:
        raise InvalidParameter(_PREFIX + _go_syntax_error(body, e)) from None
    if raw is None:
        raw = {}
    top = (
        "defaultAction",
        "defaultErrnoRet",
        "architectures",
        "archMap",
        "flags",
        "listenerPath",
        "listenerMetadata",
        "syscalls",
    )
    p = _fields(raw, "Seccomp", "seccomp.Seccomp", top)
    out: dict[str, Any] = {
        "defaultAction": _str(p.get("defaultAction", ""), "Seccomp.defaultAction"),
        "architectures": _strs(p.get("architectures", []), "Seccomp.architectures"),
        "flags": _strs(p.get("flags", []), "Seccomp.flags"),
    }
    if "defaultErrnoRet" in p:
        out["defaultErrnoRet"] = _uint(p["defaultErrnoRet"], "Seccomp.defaultErrnoRet")
    for key in ("listenerPath", "listenerMetadata"):
        if key in p:
            out[key] = _str(p[key], "Seccomp." + key)
    arch_map = p.get("archMap", [])
    if not isinstance(arch_map, list):
        raise _type_error(arch_map, "Seccomp.archMap", "[]seccomp.Architecture")
    out["archMap"] = []
    for entry in arch_map:
        a = _fields(
            entry,
            "Seccomp.archMap",
            "seccomp.Architecture",
            ("architecture", "subArchitectures"),
        )
        out["archMap"].append(
            {
                "architecture": _str(a.get("architecture", ""), "Seccomp.archMap.architecture"),
                "subArchitectures": _strs(
                    a.get("subArchitectures", []), "Seccomp.archMap.subArchitectures"
                ),
            }
        )
    calls = p.get("syscalls", [])
    if not isinstance(calls, list):
        raise _type_error(calls, "Seccomp.syscalls", "[]*seccomp.Syscall")
    out["syscalls"] = [_syscall(c) for c in calls]
    return out


def setup_seccomp(
    profile: dict[str, Any],
    capabilities: Sequence[str],
    arch: str | None = None,
    kernel: tuple[int, int, int] | None = None,
) -> dict[str, Any] | None:
    """Convert a decoded profile to OCI ``linux.seccomp`` for one container.

    ``capabilities`` is the container's final bounding set (after cap-add/drop), as
    in dockerd. ``arch`` is the Go-style host arch and ``kernel`` the running
    kernel; both default to this host. Returns None for an empty profile (no
    default action, no rules), which dockerd treats as "seccomp disabled".
    """
    if not profile.get("defaultAction") and not profile.get("syscalls"):
        return None
    if profile.get("architectures") and profile.get("archMap"):
        raise InvalidParameter(
            "'architectures' and 'archMap' were specified in the seccomp profile, "
            "use either 'architectures' or 'archMap'"
        )
    native = arch or native_arch()
    kver = kernel or kernel_version()
    caps = set(capabilities)

    out: dict[str, Any] = {"defaultAction": profile["defaultAction"]}
    if "defaultErrnoRet" in profile:
        out["defaultErrnoRet"] = profile["defaultErrnoRet"]
    arches: list[str] = list(profile.get("architectures", []))
    scmp = _NATIVE_TO_SECCOMP.get(native)
    if scmp is not None:
        for entry in profile.get("archMap", []):
            if entry["architecture"] == scmp:
                arches.append(entry["architecture"])
                arches.extend(entry["subArchitectures"])
                break
    if arches:
        out["architectures"] = arches
    if profile.get("flags"):
        out["flags"] = list(profile["flags"])
    for key in ("listenerPath", "listenerMetadata"):
        if profile.get(key):
            out[key] = profile[key]

    syscalls: list[dict[str, Any]] = []
    for call in profile.get("syscalls", []):
        if not _applies(call, native, caps, kver):
            continue
        names = list(call["names"])
        if call["name"]:
            if names:
                raise InvalidParameter(
                    "'name' and 'names' were specified in the seccomp profile, "
                    "use either 'name' or 'names'"
                )
            names = [call["name"]]
        rule: dict[str, Any] = {"names": names, "action": call["action"]}
        if "errnoRet" in call:
            rule["errnoRet"] = call["errnoRet"]
        if call["args"]:
            rule["args"] = [dict(a) for a in call["args"]]
        syscalls.append(rule)
    out["syscalls"] = syscalls
    return out


def _applies(call: dict[str, Any], native: str, caps: set[str], kver: tuple[int, int, int]) -> bool:
    exc = call["excludes"]
    if native in exc.get("arches", []):
        return False
    if any(c in caps for c in exc.get("caps", [])):
        return False
    if "minKernel" in exc and kver >= exc["minKernel"]:
        return False
    inc = call["includes"]
    if inc.get("arches") and native not in inc["arches"]:
        return False
    if any(c not in caps for c in inc.get("caps", [])):
        return False
    return not ("minKernel" in inc and kver < inc["minKernel"])
