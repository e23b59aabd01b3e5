"""The image config document, typed: docker image spec v1.2 plus what dockerd writes.

These are the shapes a builder, a puller, ``docker commit``, ``docker import`` and
``docker load`` hand each other. Keys are spelled as the spec and dockerd's
``image.Image`` / ``container.Config`` spell them (``diff_ids``, ``os.version``,
``ExposedPorts``); a key the document may leave out is not required (``total=False``).
Slices, maps and pointers Go writes as ``null`` when unset are ``… | None``.

Untrusted JSON (a pulled config, one read from a ``docker load`` tarball, a store
entry) becomes this form only through :func:`parse_image_config`, which checks every
field it keeps and raises ``errdefs.InvalidParameter`` with Go's ``encoding/json``
wording (``json: cannot unmarshal string into Go struct field Config.config.Env of type
[]string``), as dockerd's ``image.NewFromJSON`` does. As Go does, it ignores unknown
keys, takes ``null`` as "unset", and matches field names without regard to case.
:func:`parse_container_config` does the same for one ``container.Config`` object (what
the builder and ``docker commit`` pass as a mapping).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from typing import TypedDict

from berthd import errdefs
from berthd.lib.gotime import json_time_error

__all__ = [
    "ERR_NO_ROOTFS",
    "Config",
    "HealthConfig",
    "History",
    "ImageConfig",
    "RootFS",
    "parse_container_config",
    "parse_image_config",
]

ERR_NO_ROOTFS = "invalid image JSON, no RootFS key"


class HealthConfig(TypedDict, total=False):
    """``container.HealthConfig`` (durations in nanoseconds)."""

    Test: list[str] | None
    Interval: int
    Timeout: int
    StartPeriod: int
    StartInterval: int
    Retries: int


class Config(TypedDict, total=False):
    """The ``config`` (and ``container_config``) object: what a container from this
    image starts with. The spec's fields first, then the rest of ``container.Config``
    that dockerd writes."""

    User: str
    Memory: int
    MemorySwap: int
    CpuShares: int
    ExposedPorts: dict[str, dict[str, object]] | None
    Env: list[str] | None
    Entrypoint: list[str] | None
    Cmd: list[str] | None
    Healthcheck: HealthConfig | None
    ArgsEscaped: bool
    Volumes: dict[str, dict[str, object]] | None
    WorkingDir: str
    Labels: dict[str, str] | None
    StopSignal: str
    Hostname: str
    Domainname: str
    AttachStdin: bool
    AttachStdout: bool
    AttachStderr: bool
    Tty: bool
    OpenStdin: bool
    StdinOnce: bool
    Image: str
    NetworkDisabled: bool
    MacAddress: str
    OnBuild: list[str] | None
    StopTimeout: int | None
    Shell: list[str] | None


class _RootFSRequired(TypedDict):
    type: str


class RootFS(_RootFSRequired, total=False):
    """``rootfs``: the layers' diff IDs, bottom first."""

    diff_ids: list[str] | None


class History(TypedDict, total=False):
    """One ``history`` entry."""

    created: str
    author: str
    created_by: str
    comment: str
    empty_layer: bool


class _ImageConfigRequired(TypedDict):
    rootfs: RootFS


_OSVersion = TypedDict(
    "_OSVersion", {"os.version": str, "os.features": list[str] | None}, total=False
)


class ImageConfig(_ImageConfigRequired, _OSVersion, total=False):
    """An image config document (``image.Image``); ``rootfs`` is the one key dockerd
    requires (``invalid image JSON, no RootFS key``)."""

    id: str
    parent: str
    comment: str
    created: str
    container: str
    container_config: Config
    docker_version: str
    author: str
    config: Config | None
    architecture: str
    variant: str
    os: str
    Size: int
    history: list[History] | None


# --- Go's decoding errors ----------------------------------------------------------------
def _kind(value: object) -> str:
    """What Go calls the JSON value in "cannot unmarshal <kind>"."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _fail(
    value: object, struct: str, path: str, go_type: str, kind: str = ""
) -> errdefs.InvalidParameter:
    kind = kind or _kind(value)
    where = f"Go struct field {struct}.{path}" if path else "Go value"
    return errdefs.InvalidParameter(f"json: cannot unmarshal {kind} into {where} of type {go_type}")


def _string(value: object, struct: str, path: str, go_type: str = "string") -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _fail(value, struct, path, go_type)
    return value


def _time(value: object) -> str:
    """A ``time.Time`` field: a JSON string ``time.Parse`` takes as RFC 3339."""
    if value is None:
        return ""
    error = json_time_error(json.dumps(value, ensure_ascii=False, separators=(",", ":")))
    if error is not None:
        raise errdefs.InvalidParameter(error)
    assert isinstance(value, str)  # anything else fails at the opening quote
    return value


def _bool(value: object, struct: str, path: str) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise _fail(value, struct, path, "bool")
    return value


def _int(value: object, struct: str, path: str, go_type: str = "int") -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(value, struct, path, go_type)
    if isinstance(value, float) or not -(1 << 63) <= value < (1 << 63):
        raise _fail(value, struct, path, go_type, f"number {value}")  # Go quotes the literal
    return value


def _strings(
    value: object, struct: str, path: str, go_type: str = "[]string", item_type: str = "string"
) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise _fail(value, struct, path, go_type)
    return [_string(v, struct, path, item_type) for v in value]


def _strslice(value: object, struct: str, path: str) -> list[str] | None:
    """``strslice.StrSlice``: an array of strings or one string."""
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) or v is None for v in value):
        return [v or "" for v in value]
    # its UnmarshalJSON falls back to a string, and that error is the one reported
    raise _fail(value, struct, path, "string")


def _strmap(value: object, struct: str, path: str) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _fail(value, struct, path, "map[string]string")
    return {str(k): _string(v, struct, path) for k, v in value.items()}


def _set(
    value: object, struct: str, path: str, go_type: str
) -> dict[str, dict[str, object]] | None:
    """A Go ``map[…]struct{}``: the keys count, each value must be an object."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _fail(value, struct, path, go_type)
    out: dict[str, dict[str, object]] = {}
    for k, v in value.items():
        if v is not None and not isinstance(v, dict):
            raise _fail(v, struct, path, "struct {}")
        out[str(k)] = {}
    return out


def _each(value: Mapping[str, object], names: tuple[str, ...]) -> Iterator[tuple[str, object]]:
    """Every occurrence of a known field, by its declared name (Go folds case), in
    document order: a repeated key is decoded (and can fail) each time, as in Go."""
    folded = {n.lower(): n for n in names}
    for key, v in value.items():
        name = key if key in names else folded.get(key.lower())
        if name is not None:
            yield name, v


def _fields(value: Mapping[str, object], names: tuple[str, ...]) -> dict[str, object]:
    """The object's known fields by their declared name; the later key wins."""
    return dict(_each(value, names))


# --- container.Config --------------------------------------------------------------------
_C = "Config"
_CONFIG_CHECKS: dict[str, Callable[[object, str], object]] = {
    **{
        n: (lambda v, p: _string(v, _C, p))
        for n in ("User", "WorkingDir", "StopSignal", "Hostname", "Domainname", "Image")
    },
    "MacAddress": lambda v, p: _string(v, _C, p),
    **{
        n: (lambda v, p: _bool(v, _C, p))
        for n in (
            "ArgsEscaped",
            "AttachStdin",
            "AttachStdout",
            "AttachStderr",
            "Tty",
            "OpenStdin",
            "StdinOnce",
            "NetworkDisabled",
        )
    },
    "ExposedPorts": lambda v, p: _set(v, _C, p, "nat.PortSet"),
    "Volumes": lambda v, p: _set(v, _C, p, "map[string]struct {}"),
    "Env": lambda v, p: _strings(v, _C, p),
    "OnBuild": lambda v, p: _strings(v, _C, p),
    "Cmd": lambda v, p: _strslice(v, _C, p),
    "Entrypoint": lambda v, p: _strslice(v, _C, p),
    "Shell": lambda v, p: _strslice(v, _C, p),
    "Labels": lambda v, p: _strmap(v, _C, p),
    "StopTimeout": lambda v, p: _int(v, _C, p),
    "Healthcheck": lambda v, p: _health(v, p),
}
# in the spec, not in container.Config: Go ignores them; kept only when well formed
_SPEC_ONLY = ("Memory", "MemorySwap", "CpuShares")
_CONFIG_NAMES = (*_CONFIG_CHECKS, *_SPEC_ONLY)
_HEALTH_NAMES = ("Test", "Interval", "Timeout", "StartPeriod", "StartInterval", "Retries")


def _health(value: object, path: str) -> HealthConfig | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _fail(value, _C, path, "container.HealthConfig")
    f = _fields(value, _HEALTH_NAMES)
    s, p = "HealthConfig", path + "."
    for name, v in _each(value, _HEALTH_NAMES):  # document order: the first error is Go's
        if name == "Test":
            _strings(v, s, p + name)
        else:
            _int(v, s, p + name, "int" if name == "Retries" else "time.Duration")
    out: HealthConfig = {}
    if "Test" in f:
        out["Test"] = _strings(f["Test"], s, p + "Test")
    if f.get("Interval") is not None:
        out["Interval"] = _int(f["Interval"], s, p + "Interval")
    if f.get("Timeout") is not None:
        out["Timeout"] = _int(f["Timeout"], s, p + "Timeout")
    if f.get("StartPeriod") is not None:
        out["StartPeriod"] = _int(f["StartPeriod"], s, p + "StartPeriod")
    if f.get("StartInterval") is not None:
        out["StartInterval"] = _int(f["StartInterval"], s, p + "StartInterval")
    if f.get("Retries") is not None:
        out["Retries"] = _int(f["Retries"], s, p + "Retries")
    return out


def parse_container_config(value: object, path: str = "config") -> Config:
    """One ``container.Config`` object, checked field by field (``path`` is where it
    sits in the document, for the error: ``""`` when it is the whole document);
    ``{}`` for ``null``."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _fail(value, "Image", path, "container.Config")
    f = _fields(value, _CONFIG_NAMES)
    p = path + "." if path else ""
    for name, v in _each(value, _CONFIG_NAMES):
        if name in _CONFIG_CHECKS:
            _CONFIG_CHECKS[name](v, p + name)
    out: Config = {}

    def s(name: str) -> str:
        return _string(f[name], _C, p + name)

    def b(name: str) -> bool:
        return _bool(f[name], _C, p + name)

    def has(name: str) -> bool:
        return name in f and f[name] is not None

    if has("Hostname"):
        out["Hostname"] = s("Hostname")
    if has("Domainname"):
        out["Domainname"] = s("Domainname")
    if has("User"):
        out["User"] = s("User")
    if has("AttachStdin"):
        out["AttachStdin"] = b("AttachStdin")
    if has("AttachStdout"):
        out["AttachStdout"] = b("AttachStdout")
    if has("AttachStderr"):
        out["AttachStderr"] = b("AttachStderr")
    if "ExposedPorts" in f:
        out["ExposedPorts"] = _set(f["ExposedPorts"], _C, p + "ExposedPorts", "nat.PortSet")
    if has("Tty"):
        out["Tty"] = b("Tty")
    if has("OpenStdin"):
        out["OpenStdin"] = b("OpenStdin")
    if has("StdinOnce"):
        out["StdinOnce"] = b("StdinOnce")
    if "Env" in f:
        out["Env"] = _strings(f["Env"], _C, p + "Env")
    if "Cmd" in f:
        out["Cmd"] = _strslice(f["Cmd"], _C, p + "Cmd")
    if "Healthcheck" in f:
        out["Healthcheck"] = _health(f["Healthcheck"], p + "Healthcheck")
    if has("ArgsEscaped"):
        out["ArgsEscaped"] = b("ArgsEscaped")
    if has("Image"):
        out["Image"] = s("Image")
    if "Volumes" in f:
        out["Volumes"] = _set(f["Volumes"], _C, p + "Volumes", "map[string]struct {}")
    if has("WorkingDir"):
        out["WorkingDir"] = s("WorkingDir")
    if "Entrypoint" in f:
        out["Entrypoint"] = _strslice(f["Entrypoint"], _C, p + "Entrypoint")
    if has("NetworkDisabled"):
        out["NetworkDisabled"] = b("NetworkDisabled")
    if has("MacAddress"):
        out["MacAddress"] = s("MacAddress")
    if "OnBuild" in f:
        out["OnBuild"] = _strings(f["OnBuild"], _C, p + "OnBuild")
    if "Labels" in f:
        out["Labels"] = _strmap(f["Labels"], _C, p + "Labels")
    if has("StopSignal"):
        out["StopSignal"] = s("StopSignal")
    if "StopTimeout" in f:
        out["StopTimeout"] = (
            None if f["StopTimeout"] is None else _int(f["StopTimeout"], _C, p + "StopTimeout")
        )
    if "Shell" in f:
        out["Shell"] = _strslice(f["Shell"], _C, p + "Shell")
    for name in _SPEC_ONLY:
        v = f.get(name)
        if isinstance(v, int) and not isinstance(v, bool):
            if name == "Memory":
                out["Memory"] = v
            elif name == "MemorySwap":
                out["MemorySwap"] = v
            else:
                out["CpuShares"] = v
    return out


# --- image.Image ---------------------------------------------------------------------------
_I = "Image"
_IMAGE_STRINGS = (
    "id",
    "parent",
    "comment",
    "container",
    "docker_version",
    "author",
    "architecture",
    "variant",
    "os",
    "os.version",
)
_IMAGE_NAMES = (
    *_IMAGE_STRINGS,
    "created",
    "container_config",
    "config",
    "Size",
    "rootfs",
    "history",
    "os.features",
)


def _rootfs(value: object) -> RootFS | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _fail(value, _I, "rootfs", "image.RootFS")
    out: RootFS = {"type": "", "diff_ids": []}
    for name, v in _each(value, ("type", "diff_ids")):
        if name == "type":
            out["type"] = _string(v, "RootFS", "rootfs.type")
        else:
            out["diff_ids"] = _strings(
                v, "RootFS", "rootfs.diff_ids", "[]layer.DiffID", "layer.DiffID"
            )
    return out


def _history(value: object) -> list[History] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise _fail(value, _I, "history", "[]image.History")
    out: list[History] = []
    names = ("created", "author", "created_by", "comment", "empty_layer")
    for entry in value:
        if entry is None:
            out.append({})
            continue
        if not isinstance(entry, dict):
            raise _fail(entry, _I, "history", "image.History")
        h: History = {}
        for name, v in _each(entry, names):
            path = "history." + name
            if name == "empty_layer":
                if v is not None:
                    h["empty_layer"] = _bool(v, "History", path)
                continue
            text = _time(v) if name == "created" else _string(v, "History", path)
            if v is None:
                continue
            if name == "created":
                h["created"] = text
            elif name == "author":
                h["author"] = text
            elif name == "created_by":
                h["created_by"] = text
            else:
                h["comment"] = text
        out.append(h)
    return out


def parse_image_config(raw: bytes) -> ImageConfig:
    """``image.NewFromJSON``: the document, checked; ``errdefs.InvalidParameter`` for
    bytes that are not JSON, a field of the wrong type, or no ``rootfs``."""
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as err:  # deep nesting: a 400
        raise errdefs.InvalidParameter(f"invalid image JSON: {err}") from None
    if not isinstance(doc, dict):
        raise errdefs.InvalidParameter(
            f"json: cannot unmarshal {_kind(doc)} into Go value of type image.Image"
        )
    f = _fields(doc, _IMAGE_NAMES)
    rootfs: RootFS | None = None
    config: Config | None = None
    container_config: Config = {}
    history: list[History] | None = None
    strings: dict[str, str] = {}
    size = 0
    features: list[str] | None = None
    for name, v in _each(doc, _IMAGE_NAMES):  # document order: the first error is Go's
        if name == "rootfs":
            rootfs = _rootfs(v)
        elif name == "config":
            config = None if v is None else parse_container_config(v, "config")
        elif name == "container_config":
            container_config = parse_container_config(v, "container_config")
        elif name == "history":
            history = _history(v)
        elif name == "Size":
            size = _int(v, _I, "Size", "int64")
        elif name == "os.features":
            features = _strings(v, _I, "os.features")
        elif v is not None:
            go_type = "image.ID" if name == "parent" else "string"  # Image.Parent shadows V1's
            strings[name] = _time(v) if name == "created" else _string(v, _I, name, go_type)
    if rootfs is None:
        raise errdefs.InvalidParameter(ERR_NO_ROOTFS)
    out: ImageConfig = {"rootfs": rootfs}
    if "config" in f:
        out["config"] = config
    if "container_config" in f:
        out["container_config"] = container_config
    if "history" in f:
        out["history"] = history
    if "Size" in f and f["Size"] is not None:
        out["Size"] = size
    if "os.features" in f:
        out["os.features"] = features
    for name, text in strings.items():
        _set_string(out, name, text)
    return out


def _set_string(out: ImageConfig, name: str, text: str) -> None:
    if name == "created":
        out["created"] = text
    elif name == "id":
        out["id"] = text
    elif name == "parent":
        out["parent"] = text
    elif name == "comment":
        out["comment"] = text
    elif name == "container":
        out["container"] = text
    elif name == "docker_version":
        out["docker_version"] = text
    elif name == "author":
        out["author"] = text
    elif name == "architecture":
        out["architecture"] = text
    elif name == "variant":
        out["variant"] = text
    elif name == "os":
        out["os"] = text
    elif name == "os.version":
        out["os.version"] = text
