"""``POST /build`` query parameters (moby ``newImageBuildOptions``), typed."""

from __future__ import annotations

import base64
import json
import platform as host_platform
from dataclasses import dataclass, field

from berthd import errdefs
from berthd.builder.backend import HostOptions

__all__ = ["BuildOptions", "Query", "parse_build_options"]

_FALSE = {"", "0", "no", "false", "none"}
_GO_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386"}


class Query:
    """The query as name → every value (aiohttp's MultiDict, flattened)."""

    def __init__(self, values: dict[str, list[str]]) -> None:
        self.values = values

    def get(self, key: str, default: str = "") -> str:
        vals = self.values.get(key)
        return vals[0] if vals else default

    def getall(self, key: str, default: list[str]) -> list[str]:
        return list(self.values.get(key) or default)

    def __contains__(self, key: str) -> bool:
        return key in self.values


@dataclass
class BuildOptions:
    tags: list[str] = field(default_factory=list)
    dockerfile: str = "Dockerfile"
    remote: str = ""
    target: str = ""
    quiet: bool = False
    nocache: bool = False
    pull: bool = False
    remove: bool = True
    force_remove: bool = False
    build_args: dict[str, str | None] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    cache_from: list[str] = field(default_factory=list)
    platform: str = ""
    host: HostOptions = field(default_factory=HostOptions)
    aux: bool = True  # API >= 1.30: an aux message with each stage's image ID
    # X-Registry-Config: registry → its auth config (for pulls of base images)
    registry_auth: dict[str, dict[str, str]] = field(default_factory=dict)


def host_arch() -> str:
    m = host_platform.machine()
    return _GO_ARCH.get(m, m)


def _bool(q: Query, name: str) -> bool:
    return name in q and q.get(name, "").strip().lower() not in _FALSE


def _int(q: Query, name: str) -> int:
    """``httputils.Int64ValueOrZero``: anything that is not an integer is 0."""
    try:
        return int(q.get(name, "") or 0)
    except ValueError:
        return 0


def go_json_error(raw: str, go_type: str) -> str:
    """What Go's ``json.Unmarshal`` says about ``raw`` (the usual cases)."""
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        pos = exc.pos
        if pos >= len(raw):
            return "unexpected end of JSON input"
        ch = raw[pos]
        return f"invalid character {ch!r} looking for beginning of value"
    kind = {dict: "object", list: "array", str: "string", bool: "bool"}.get(type(value), "number")
    return f"json: cannot unmarshal {kind} into Go value of type {go_type}"


def _json_map(q: Query, name: str, what: str, null_ok: bool) -> dict[str, str | None]:
    raw = q.get(name, "")
    if not raw:
        return {}
    gotype = "map[string]*string" if null_ok else "map[string]string"
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = ...
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(v, str) or (null_ok and v is None) for v in value.values()
    ):
        raise errdefs.InvalidParameter(f"{what}: {go_json_error(raw, gotype)}")
    return {str(k): v for k, v in value.items()}


def _json_list(q: Query, name: str, what: str) -> list[str]:
    raw = q.get(name, "")
    if not raw:
        return []
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = ...
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise errdefs.InvalidParameter(f"{what}: {go_json_error(raw, '[]string')}")
    return list(value)


def _ulimits(q: Query) -> list[dict[str, object]]:
    raw = q.get("ulimits", "")
    if not raw:
        return []
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = ...
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise errdefs.InvalidParameter(
            f"error reading ulimit settings: {go_json_error(raw, '[]*units.Ulimit')}"
        )
    return [{str(k): v for k, v in item.items()} for item in value]


def parse_platform(spec: str) -> tuple[str, str, str]:
    """``os[/arch[/variant]]`` (containerd ``platforms.Parse``, the common forms)."""
    parts = spec.lower().split("/")
    if not spec or len(parts) > 3 or any(not p for p in parts):
        raise errdefs.InvalidParameter(
            f"{spec!r}: invalid platform specifier, expected os/arch[/variant]".replace("'", '"')
        )
    os_ = parts[0]
    arch = parts[1] if len(parts) > 1 else host_arch()
    arch = {"x86_64": "amd64", "x86-64": "amd64", "aarch64": "arm64"}.get(arch, arch)
    variant = parts[2] if len(parts) > 2 else ""
    return os_, arch, variant


def parse_registry_config(header: str) -> dict[str, dict[str, str]]:
    """``getAuthConfigs``: base64url JSON; a bad header is ignored, as dockerd does."""
    if not header:
        return {}
    try:
        raw = base64.urlsafe_b64decode(header + "=" * (-len(header) % 4))
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return {}
    if not isinstance(doc, dict):
        return {}
    out: dict[str, dict[str, str]] = {}
    for key, cfg in doc.items():
        if isinstance(cfg, dict):
            out[str(key)] = {str(k): v for k, v in cfg.items() if isinstance(v, str)}
    return out


def parse_build_options(q: Query) -> BuildOptions:
    """Raise InvalidParameter with dockerd's wording for what it refuses."""
    if q.getall("securityopt", []):
        raise errdefs.InvalidParameter("security options are not supported on linux")
    isolation = q.get("isolation", "")
    if isolation and isolation.lower() != "default":
        raise errdefs.InvalidParameter(f'unsupported isolation: "{isolation}"')
    shm = q.get("shmsize", "")
    shm_size = 0
    if shm:
        try:
            shm_size = int(shm)
        except ValueError:
            raise errdefs.InvalidParameter(
                f'strconv.ParseInt: parsing "{shm}": invalid syntax'
            ) from None
    outputs = q.get("outputs", "")
    if outputs:
        try:
            json.loads(outputs)
        except json.JSONDecodeError:
            raise errdefs.InvalidParameter(
                f"invalid outputs specified: {go_json_error(outputs, '[]types.ImageBuildOutput')}"
            ) from None
    ulimits = _ulimits(q)
    build_args = _json_map(q, "buildargs", "error reading build args", True)
    labels = {k: v or "" for k, v in _json_map(q, "labels", "error reading labels", False).items()}
    cache_from = _json_list(q, "cachefrom", "error reading cache-from")
    version = q.get("version", "")
    if version not in ("", "1", "2"):
        raise errdefs.InvalidParameter(f'invalid version "{version}"')
    if version == "2":
        raise errdefs.NotImplemented_(
            "builder version 2 (BuildKit) is not supported by this daemon: "
            "use the classic builder (DOCKER_BUILDKIT=0)"
        )
    if _bool(q, "squash"):
        raise errdefs.InvalidParameter("squash is only supported with experimental mode")
    platform = q.get("platform", "")
    if platform:
        parse_platform(platform)
    force_remove = _bool(q, "forcerm")
    remove = True if force_remove or q.get("rm", "") == "" else _bool(q, "rm")
    return BuildOptions(
        tags=list(q.getall("t", [])),
        dockerfile=q.get("dockerfile", "") or "Dockerfile",
        remote=q.get("remote", ""),
        target=q.get("target", ""),
        quiet=_bool(q, "q"),
        nocache=_bool(q, "nocache"),
        pull=_bool(q, "pull"),
        remove=remove,
        force_remove=force_remove,
        build_args=build_args,
        labels=labels,
        cache_from=cache_from,
        platform=platform,
        host=HostOptions(
            network_mode=q.get("networkmode", ""),
            extra_hosts=list(q.getall("extrahosts", [])),
            shm_size=shm_size,
            memory=_int(q, "memory"),
            memory_swap=_int(q, "memswap"),
            cpu_shares=_int(q, "cpushares"),
            cpu_period=_int(q, "cpuperiod"),
            cpu_quota=_int(q, "cpuquota"),
            cpuset_cpus=q.get("cpusetcpus", ""),
            cpuset_mems=q.get("cpusetmems", ""),
            cgroup_parent=q.get("cgroupparent", ""),
            ulimits=ulimits,
        ),
    )
