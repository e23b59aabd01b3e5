"""OCI platforms as containerd's ``platforms`` package: parse, normalise, match, rank.

``docker pull --platform`` and manifest-list selection use these rules: a request is
parsed (``linux/arm64``), filled in with the host's defaults, normalised (``aarch64`` →
``arm64``), and an index entry matches when it is one of the platforms the request can
run (``platforms.Only``: arm64 also runs arm/v8…v5, amd64/v3 also runs v2 and v1).
Matches are ranked best first by their place in that list.
"""

from __future__ import annotations

import platform as _host
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from berthd import errdefs

__all__ = ["Platform", "default_spec", "host_spec", "matches", "normalize", "parse", "rank"]

_SPECIFIER_RE = re.compile(r"^[A-Za-z0-9_-]+$")
_KNOWN_OS = {
    "aix", "android", "darwin", "dragonfly", "freebsd", "hurd", "illumos", "ios", "js",
    "linux", "nacl", "netbsd", "openbsd", "plan9", "solaris", "windows", "zos",
}  # fmt: skip
_KNOWN_ARCH = {
    "386", "amd64", "amd64p32", "arm", "armbe", "arm64", "arm64be", "ppc64", "ppc64le",
    "loong64", "mips", "mipsle", "mips64", "mips64le", "mips64p32", "mips64p32le", "ppc",
    "riscv", "riscv64", "s390", "s390x", "sparc", "sparc64", "wasm",
}  # fmt: skip
_GO_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386"}


@dataclass(frozen=True, slots=True)
class Platform:
    os: str = ""
    architecture: str = ""
    variant: str = ""
    os_version: str = ""
    os_features: tuple[str, ...] = field(default=())

    def format(self) -> str:
        """``platforms.Format``: ``os/arch[/variant]`` (``unknown`` for an empty OS)."""
        if not self.os:
            return "unknown"
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)

    def to_json(self) -> dict[str, object]:
        """ocispec.Platform's JSON (empty optional fields left out)."""
        doc: dict[str, object] = {"architecture": self.architecture, "os": self.os}
        if self.os_version:
            doc["os.version"] = self.os_version
        if self.os_features:
            doc["os.features"] = list(self.os_features)
        if self.variant:
            doc["variant"] = self.variant
        return doc

    @classmethod
    def from_json(cls, doc: Mapping[str, object]) -> Platform:
        def text(key: str) -> str:
            value = doc.get(key)
            return value if isinstance(value, str) else ""

        features = doc.get("os.features")
        feats = (
            tuple(f for f in features if isinstance(f, str)) if isinstance(features, list) else ()
        )
        return cls(text("os"), text("architecture"), text("variant"), text("os.version"), feats)


def _normalize_os(os_: str) -> str:
    os_ = os_.lower()
    return "darwin" if os_ == "macos" else os_


def _normalize_arch(arch: str, variant: str) -> tuple[str, str]:
    arch, variant = arch.lower(), variant.lower()
    if arch == "i386":
        return "386", ""
    if arch in ("x86_64", "x86-64", "amd64"):
        return "amd64", "" if variant == "v1" else variant
    if arch in ("aarch64", "arm64"):
        return "arm64", "" if variant in ("8", "v8") else variant
    if arch == "armhf":
        return "arm", "v7"
    if arch == "armel":
        return "arm", "v6"
    if arch == "arm":
        if variant in ("", "7"):
            return "arm", "v7"
        if variant in ("5", "6", "8"):
            return "arm", "v" + variant
    return arch, variant


def normalize(p: Platform) -> Platform:
    arch, variant = _normalize_arch(p.architecture, p.variant)
    return Platform(_normalize_os(p.os), arch, variant, p.os_version, p.os_features)


def _amd64_variant() -> str:
    """go-archvariant: the highest x86-64 microarchitecture level this CPU has."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            flags: set[str] = set()
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    break
    except OSError:
        return "v1"
    v2 = {"cx16", "lahf_lm", "popcnt", "sse4_1", "sse4_2", "ssse3"}
    v3 = {"avx", "avx2", "bmi1", "bmi2", "f16c", "fma", "abm", "movbe", "xsave"}
    v4 = {"avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"}
    if not v2 <= flags:
        return "v1"
    if not v3 <= flags:
        return "v2"
    return "v4" if v4 <= flags else "v3"


def default_spec() -> Platform:
    """``platforms.DefaultSpec``: the host's OS and architecture."""
    machine = _host.machine()
    arch = _GO_ARCH.get(machine, machine)
    return Platform("linux", arch, "v7" if arch == "arm" else "")


def host_spec() -> Platform:
    """moby's ``maximumSpec``: the default spec with the amd64 level filled in."""
    spec = default_spec()
    if spec.architecture == "amd64":
        return Platform(spec.os, spec.architecture, _amd64_variant())
    return spec


def parse(specifier: str) -> Platform:
    """``platforms.Parse``; errors as containerd words them (400)."""
    if "*" in specifier:
        raise errdefs.InvalidParameter(
            f'"{specifier}": wildcards not yet supported: invalid argument'
        )
    parts = specifier.split("/")
    for part in parts:
        if not _SPECIFIER_RE.match(part):
            raise errdefs.InvalidParameter(
                f'"{part}" is an invalid component of "{specifier}": platform specifier component'
                f' must match "{_SPECIFIER_RE.pattern}": invalid argument'
            )
    host = default_spec()
    if len(parts) == 1:
        os_ = _normalize_os(parts[0])
        if os_ in _KNOWN_OS:
            return Platform(os_, host.architecture, host.variant)
        arch, variant = _normalize_arch(parts[0], "")
        if arch == "arm" and variant == "v7":
            variant = ""
        if arch in _KNOWN_ARCH:
            return Platform(host.os, arch, variant)
        raise errdefs.InvalidParameter(
            f'"{specifier}": unknown operating system or architecture: invalid argument'
        )
    if len(parts) == 2:
        arch, variant = _normalize_arch(parts[1], "")
        if arch == "arm" and variant == "v7":
            variant = ""
        return Platform(_normalize_os(parts[0]), arch, variant)
    if len(parts) == 3:
        arch, variant = _normalize_arch(parts[1], parts[2])
        if arch == "arm64" and variant == "":
            variant = "v8"
        return Platform(_normalize_os(parts[0]), arch, variant)
    raise errdefs.InvalidParameter(
        f'"{specifier}": cannot parse platform specifier: invalid argument'
    )


def with_default(p: Platform) -> Platform:
    """moby's ``withDefault``: fill what the request left out from the host."""
    host = host_spec()
    os_ = p.os or host.os
    if not p.architecture:
        return Platform(os_, host.architecture, host.variant, p.os_version, p.os_features)
    return Platform(os_, p.architecture, p.variant, p.os_version, p.os_features)


def _vector(p: Platform) -> list[Platform]:
    """``platformVector``: the platform, then what it can also run, best first."""
    out = [p]
    if p.architecture == "amd64" and p.variant.startswith("v") and p.variant[1:].isdigit():
        level = int(p.variant[1:])
        out += [Platform(p.os, "amd64", f"v{n}", p.os_version) for n in range(level - 1, 0, -1)]
    elif p.architecture == "arm" and p.variant.startswith("v") and p.variant[1:].isdigit():
        level = int(p.variant[1:])
        out += [Platform(p.os, "arm", f"v{n}", p.os_version) for n in range(level - 1, 4, -1)]
    elif p.architecture == "arm64":
        out += _vector(Platform(p.os, "arm", p.variant or "v8", p.os_version))
    return out


def _same(want: Platform, candidate: Platform) -> bool:
    want, got = normalize(want), normalize(candidate)
    return (want.os, want.architecture, want.variant) == (got.os, got.architecture, got.variant)


def rank(want: Platform, candidate: Platform) -> int | None:
    """Position of ``candidate`` in ``Only(want)``'s order, None when it does not match."""
    for i, p in enumerate(_vector(normalize(want))):
        if _same(p, candidate):
            return i
    return None


def matches(want: Platform, candidate: Platform) -> bool:
    return rank(want, candidate) is not None
