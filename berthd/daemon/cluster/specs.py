"""Swarm object specs: validation with SwarmKit's wording, defaults, and normalisation.

A spec is stored as the Engine API JSON that dockerd would answer after its
round trip through SwarmKit's protobufs (``Labels`` always present, a default
replicated mode, ``Isolation: default`` …), so inspect shows what dockerd
shows. ``insert_defaults`` is SwarmKit's ``api/defaults`` merge, answered for
``GET /services/{id}?insertDefaults=true``. Errors raised here carry SwarmKit's
gRPC prefix (``rpc error: code = … desc = …``), as dockerd passes them through.
"""

from __future__ import annotations

import base64
import binascii
import copy
import re
from typing import Any

from berthd.errdefs import BerthdError, Conflict, InvalidParameter, NotFound, System

__all__ = [
    "DEFAULT_SWARM_SPEC",
    "MAX_CONFIG_SIZE",
    "MAX_SECRET_SIZE",
    "insert_service_defaults",
    "normalize_service_spec",
    "rpc_error",
    "swarm_spec",
    "validate_data_object",
    "validate_service_spec",
]

MAX_SECRET_SIZE = 500 * 1024
MAX_CONFIG_SIZE = 1000 * 1024
_SECOND = 1_000_000_000

DEFAULT_SWARM_SPEC: dict[str, Any] = {
    "Name": "default",
    "Labels": {},
    "Orchestration": {"TaskHistoryRetentionLimit": 5},
    "Raft": {
        "SnapshotInterval": 10000,
        "KeepOldSnapshots": 0,
        "LogEntriesForSlowFollowers": 500,
        "ElectionTick": 10,
        "HeartbeatTick": 1,
    },
    "Dispatcher": {"HeartbeatPeriod": 5 * _SECOND},
    "CAConfig": {"NodeCertExpiry": 2160 * 3600 * _SECOND},
    "TaskDefaults": {},
    "EncryptionConfig": {"AutoLockManagers": False},
}

_UPDATE_DEFAULTS: dict[str, Any] = {
    "Parallelism": 1,
    "FailureAction": "pause",
    "Monitor": 5 * _SECOND,
    "MaxFailureRatio": 0,
    "Order": "stop-first",
}

_CODES: dict[type[BerthdError], str] = {
    InvalidParameter: "InvalidArgument",
    NotFound: "NotFound",
    Conflict: "AlreadyExists",
    System: "Unknown",
}

_DNS_NAME = re.compile(r"^[a-zA-Z0-9](?:[-_]*[A-Za-z0-9]+)*$")
_DATA_NAME = re.compile(r"^[a-zA-Z0-9]+(?:[a-zA-Z0-9-_.]*[a-zA-Z0-9])?$")
_REFERENCE = re.compile(
    r"^(?:(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*"
    r"(?::[0-9]+)?/)?[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*)*)"
    r"(?::[\w][\w.-]{0,127})?(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?$"
)


def rpc_error(kind: type[BerthdError], desc: str, code: str = "") -> BerthdError:
    """An error as dockerd relays SwarmKit's gRPC status: the code name, then the text
    (``code`` when the kind's usual code is not the one: FailedPrecondition is a 400)."""
    return kind(f"rpc error: code = {code or _CODES.get(kind, 'Unknown')} desc = {desc}")


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        elif value is not None:
            out[key] = value
    return out


def swarm_spec(given: dict[str, Any] | None, base: dict[str, Any] | None = None) -> dict[str, Any]:
    """The swarm spec to store: ``given`` over ``base`` (the defaults at init)."""
    given = dict(given or {})
    name = given.get("Name") or "default"
    if base is not None and name != "default":
        raise rpc_error(InvalidParameter, "modification of cluster name is not allowed")
    expiry = (given.get("CAConfig") or {}).get("NodeCertExpiry") or 0
    if 0 < expiry < 3600 * _SECOND:
        raise rpc_error(InvalidParameter, "minimum certificate expiry time is: 1h0m0s")
    heartbeat = (given.get("Dispatcher") or {}).get("HeartbeatPeriod") or 0
    if heartbeat < 0:
        raise rpc_error(InvalidParameter, "heartbeat time period cannot be a negative duration")
    out = _merge(base or DEFAULT_SWARM_SPEC, given)
    # SwarmKit keeps its raft ticks: a zero sent (the CLI's init does) is the default
    raft = out.setdefault("Raft", {})
    for tick, default in (("ElectionTick", 10), ("HeartbeatTick", 1)):
        if not raft.get(tick):
            raft[tick] = default
    out["Name"] = "default"
    if out.get("Labels") is None:
        out["Labels"] = {}
    return out


def _check_name(name: str) -> None:
    if not name:
        raise rpc_error(InvalidParameter, "meta: name must be provided")
    if not _DNS_NAME.match(name):
        raise rpc_error(InvalidParameter, "name must be valid as a DNS name component")
    if len(name) > 63:
        raise rpc_error(InvalidParameter, "name must be 63 characters or fewer")


def _nonneg(value: Any, message: str) -> None:
    if isinstance(value, int | float) and value < 0:
        raise rpc_error(InvalidParameter, message)


def _check_task(task: dict[str, Any]) -> None:
    res = task.get("Resources") or {}
    for part in ("Limits", "Reservations"):
        r = res.get(part) or {}
        cpus = r.get("NanoCPUs") or 0
        if cpus and cpus < 1_000_000:
            raise rpc_error(
                InvalidParameter, f"invalid cpu value {cpus / 1e9:g}: Must be at least 0.001"
            )
        mem = r.get("MemoryBytes") or 0
        if mem and mem < 4 * 1024 * 1024:
            raise rpc_error(InvalidParameter, f"invalid memory value {mem}: Must be at least 4MiB")
    restart = task.get("RestartPolicy") or {}
    _nonneg(restart.get("Delay"), "TaskSpec: restart-delay cannot be negative")
    _nonneg(restart.get("Window"), "TaskSpec: restart-window cannot be negative")
    spec = task.get("ContainerSpec") or {}
    image = spec.get("Image") or ""
    if not image:
        raise rpc_error(InvalidParameter, "ContainerSpec: image reference must be provided")
    if not _REFERENCE.match(image):
        raise rpc_error(InvalidParameter, f'ContainerSpec: "{image}" is not a valid repository/tag')
    seen: set[str] = set()
    for mount in spec.get("Mounts") or []:
        target = (mount or {}).get("Target", "")
        if target in seen:
            raise rpc_error(InvalidParameter, f"ContainerSpec: duplicate mount point: {target}")
        seen.add(target)
    health = spec.get("Healthcheck") or {}
    for field in ("Interval", "Timeout", "StartPeriod", "StartInterval"):
        value = health.get(field) or 0
        if value and value < 1_000_000:
            raise rpc_error(
                InvalidParameter,
                f"ContainerSpec: {field} in HealthConfig cannot be less than 1ms",
            )
    _nonneg(health.get("Retries"), "ContainerSpec: Retries in HealthConfig cannot be negative")
    for what in ("Secret", "Config"):
        targets: dict[str, str] = {}
        for ref in spec.get(what + "s") or []:
            ref = ref or {}
            name = ref.get(what + "Name", "")
            if not ref.get(what + "ID") or not name:
                raise rpc_error(InvalidParameter, f"malformed {what.lower()} reference")
            file = (ref.get("File") or {}).get("Name")
            if file is None and not ref.get("Runtime"):
                raise rpc_error(
                    InvalidParameter, f"malformed {what.lower()} reference, no target provided"
                )
            if file is not None:
                if not file or ("/" in file.strip("/") and file.startswith("..")):
                    raise rpc_error(
                        InvalidParameter,
                        f"malformed file {what.lower()} reference, "
                        "invalid target file name provided",
                    )
                if file in targets:
                    raise rpc_error(
                        InvalidParameter,
                        f"{what.lower()} references '{targets[file]}' and '{name}' "
                        f"have a conflicting target: '{file}'",
                    )
                targets[file] = name


def _check_update(config: dict[str, Any] | None) -> None:
    if not config:
        return
    _nonneg(config.get("Delay"), "TaskSpec: update-delay cannot be negative")
    _nonneg(config.get("Monitor"), "TaskSpec: update-monitor cannot be negative")
    ratio = config.get("MaxFailureRatio") or 0
    if ratio < 0 or ratio > 1:
        raise rpc_error(
            InvalidParameter,
            "TaskSpec: update-maxfailureratio cannot be less than 0 or bigger than 1",
        )


def _check_mode(mode: dict[str, Any]) -> None:
    set_modes = [k for k in ("Replicated", "Global", "ReplicatedJob", "GlobalJob") if k in mode]
    if len(set_modes) > 1:
        raise InvalidParameter("must specify only one service mode")
    replicas = (mode.get("Replicated") or {}).get("Replicas")
    if isinstance(replicas, int) and replicas < 0:
        raise rpc_error(InvalidParameter, "Number of replicas must be non-negative")


def _check_endpoint(spec: dict[str, Any]) -> None:
    endpoint = spec.get("EndpointSpec") or {}
    mode = endpoint.get("Mode") or ""
    if mode not in ("", "vip", "dnsrr"):
        raise InvalidParameter(f'invalid resolution mode: "{mode}"')
    published: set[tuple[int, str]] = set()
    for port in endpoint.get("Ports") or []:
        port = port or {}
        publish_mode = port.get("PublishMode") or "ingress"
        pub = int(port.get("PublishedPort") or 0)
        if mode == "dnsrr" and publish_mode == "ingress" and pub:
            raise rpc_error(
                InvalidParameter,
                "EndpointSpec: port published with ingress mode can't be used with dnsrr mode",
            )
        key = (pub, str(port.get("Protocol") or "tcp"))
        if pub and key in published:
            raise rpc_error(InvalidParameter, "EndpointSpec: duplicate published ports provided")
        published.add(key)


def validate_service_spec(spec: dict[str, Any]) -> None:
    """dockerd's conversion checks, then SwarmKit's validateServiceSpec, in their order."""
    task = spec.get("TaskTemplate") or {}
    runtime = task.get("Runtime") or "container"
    if runtime == "attachment":
        raise InvalidParameter('invalid task spec: spec type "attachment" not supported')
    if runtime == "plugin":
        raise InvalidParameter('runtime type "plugin" only supported in experimental')
    if runtime != "container":
        raise InvalidParameter(f'unsupported runtime type: "{runtime}"')
    if task.get("ContainerSpec") is None or task.get("PluginSpec") is not None:
        raise InvalidParameter("mismatched Runtime and *Spec fields")
    _check_mode(spec.get("Mode") or {})
    _check_endpoint(spec)
    _check_name(str(spec.get("Name") or ""))
    _check_task(task)
    _check_update(spec.get("UpdateConfig"))
    _check_update(spec.get("RollbackConfig"))
    mode = spec.get("Mode") or {}
    if ("ReplicatedJob" in mode or "GlobalJob" in mode) and spec.get("UpdateConfig"):
        raise rpc_error(InvalidParameter, "Jobs may not have an update config")


def normalize_service_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """The spec as dockerd answers it after SwarmKit's round trip."""
    out = copy.deepcopy(spec)
    if out.get("Labels") is None:
        out["Labels"] = {}
    task = out.setdefault("TaskTemplate", {})
    container = task.setdefault("ContainerSpec", {})
    container.setdefault("Isolation", "default")
    task.setdefault("ForceUpdate", 0)
    task["Runtime"] = "container"
    mode = out.get("Mode") or {}
    if not mode:
        mode = {"Replicated": {"Replicas": 1}}
    elif "Replicated" in mode:
        replicated = mode["Replicated"] or {}
        if replicated.get("Replicas") is None:
            replicated["Replicas"] = 1
        mode["Replicated"] = replicated
    elif "ReplicatedJob" in mode:
        job = mode["ReplicatedJob"] or {}
        job.setdefault("MaxConcurrent", 1)
        job.setdefault("TotalCompletions", job["MaxConcurrent"])
        mode["ReplicatedJob"] = job
    out["Mode"] = mode
    for key in ("Networks", "UpdateConfig", "RollbackConfig", "EndpointSpec"):
        if out.get(key) in (None, []):
            out.pop(key, None)
    return out


def insert_service_defaults(spec: dict[str, Any]) -> dict[str, Any]:
    """SwarmKit's defaults.InterpolateService: the defaults under what is set."""
    defaults: dict[str, Any] = {
        "TaskTemplate": {
            "ContainerSpec": {"StopGracePeriod": 10 * _SECOND, "DNSConfig": {}},
            "Resources": {},
            "RestartPolicy": {"Condition": "any", "Delay": 5 * _SECOND, "MaxAttempts": 0},
            "Placement": {},
        },
        "UpdateConfig": dict(_UPDATE_DEFAULTS),
        "RollbackConfig": dict(_UPDATE_DEFAULTS),
    }
    return _under(spec, defaults)


def _under(spec: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """``defaults`` filled in where ``spec`` has nothing, keeping the spec's key order."""
    out = copy.deepcopy(spec)
    for key, value in defaults.items():
        have = out.get(key)
        if isinstance(have, dict) and isinstance(value, dict):
            out[key] = _under(have, value)
        elif have is None:
            out[key] = copy.deepcopy(value)
    return out


def validate_data_object(kind: str, spec: dict[str, Any]) -> bytes:
    """A secret's or config's spec checks; returns its data."""
    name = str(spec.get("Name") or "")
    if not name:
        raise rpc_error(InvalidParameter, "name must be provided")
    if len(name) > 64 or not _DATA_NAME.match(name):
        raise rpc_error(
            InvalidParameter,
            "invalid name, only 64 [a-zA-Z0-9-_.] characters allowed, "
            "and the start and end character must be [a-zA-Z0-9]",
        )
    raw = spec.get("Data") or ""
    try:
        data = base64.b64decode(raw, validate=True) if isinstance(raw, str) else b""
    except (binascii.Error, ValueError):
        raise InvalidParameter(
            f"json: cannot unmarshal string into Go struct field {kind.title()}Spec.Data of type []uint8"
        ) from None
    driver = spec.get("Driver")
    if kind == "secret" and driver is not None and not (driver or {}).get("Name"):
        raise rpc_error(InvalidParameter, "secret driver must have a name")
    limit = MAX_SECRET_SIZE if kind == "secret" else MAX_CONFIG_SIZE
    if driver is None and (not data or len(data) >= limit):
        raise rpc_error(
            InvalidParameter,
            f"{kind} data must be larger than 0 and less than {limit} bytes",
        )
    return data
