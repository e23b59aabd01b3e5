"""Create-time normalisation: the request's Config/HostConfig, merged with the image.

Follows dockerd's rules (``daemon/commit.go`` merge, ``runconfig``): the
user's Env first with the image's missing keys appended, image Cmd only when
the user gave neither Entrypoint nor Cmd, labels merged, WorkingDir, User and
StopSignal inherited when empty; HostConfig gets dockerd's defaults.
"""

from __future__ import annotations

from typing import Any

from berthd.errdefs import InvalidParameter
from berthd.image.spec import Config
from berthd.logger import log_opts

__all__ = [
    "RESTART_POLICIES",
    "merge_image_config",
    "normalize_host_config",
    "parse_create_body",
    "validate_restart_policy",
]

RESTART_POLICIES = ("", "no", "always", "on-failure", "unless-stopped")
DEFAULT_SHM_SIZE = 64 * 1024 * 1024

# Config fields whose value is a string list that Go also accepts as one string.
_STRSLICE = ("Cmd", "Entrypoint", "Shell")
_STR_LISTS = ("Env", "OnBuild")


def _strslice(name: str, value: Any) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise InvalidParameter(
        f"json: cannot unmarshal {type(value).__name__} into Go struct field "
        f"Config.{name} of type strslice.StrSlice"
    )


def parse_create_body(body: Any) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Split a ``POST /containers/create`` body into Config, HostConfig, NetworkingConfig."""
    if body is None:
        raise InvalidParameter("config cannot be empty in order to create a container")
    if not isinstance(body, dict):
        raise InvalidParameter(
            "invalid JSON: json: cannot unmarshal into Go value of type container.CreateRequest"
        )
    config = {k: v for k, v in body.items() if k not in ("HostConfig", "NetworkingConfig")}
    host_config = body.get("HostConfig") or {}
    networking = body.get("NetworkingConfig") or {}
    if not isinstance(host_config, dict) or not isinstance(networking, dict):
        raise InvalidParameter("invalid JSON: HostConfig and NetworkingConfig must be objects")
    for name in _STRSLICE:
        if name in config:
            config[name] = _strslice(name, config[name])
    for name in _STR_LISTS:
        v = config.get(name)
        if v is not None and not (isinstance(v, list) and all(isinstance(x, str) for x in v)):
            raise InvalidParameter(
                f"json: cannot unmarshal into Go struct field Config.{name} of type []string"
            )
    labels = config.get("Labels")
    if labels is not None and not (
        isinstance(labels, dict) and all(isinstance(v, str) for v in labels.values())
    ):
        raise InvalidParameter(
            "json: cannot unmarshal into Go struct field Config.Labels of type map[string]string"
        )
    for env in config.get("Env") or []:
        if env.partition("=")[0] == "":  # opts.ValidateEnv
            raise InvalidParameter(f"invalid environment variable: {env}")
    return config, dict(host_config), dict(networking)


def merge_image_config(user: dict[str, Any], image: Config) -> dict[str, Any]:
    out = dict(user)
    if not out.get("User"):
        out["User"] = image.get("User") or ""
    ports = dict(image.get("ExposedPorts") or {})
    ports.update(out.get("ExposedPorts") or {})
    out["ExposedPorts"] = ports or None
    user_env = list(out.get("Env") or [])
    keys = {e.partition("=")[0] for e in user_env}
    for e in image.get("Env") or []:
        if e.partition("=")[0] not in keys:
            user_env.append(e)
    out["Env"] = user_env
    labels = dict(image.get("Labels") or {})
    labels.update(out.get("Labels") or {})
    out["Labels"] = labels
    entrypoint = out.get("Entrypoint")
    if entrypoint == [""]:
        out["Entrypoint"] = None
    elif not entrypoint:
        if not out.get("Cmd"):
            out["Cmd"] = image.get("Cmd")
            if image.get("ArgsEscaped"):
                out["ArgsEscaped"] = True
        if entrypoint is None:
            out["Entrypoint"] = image.get("Entrypoint")
    if not out.get("WorkingDir"):
        out["WorkingDir"] = image.get("WorkingDir") or ""
    volumes = dict(image.get("Volumes") or {})
    volumes.update(out.get("Volumes") or {})
    out["Volumes"] = volumes or None
    if not out.get("StopSignal") and image.get("StopSignal"):
        out["StopSignal"] = image["StopSignal"]
    base = image.get("Healthcheck")
    if out.get("Healthcheck") is None and base is not None:
        out["Healthcheck"] = base
    elif out.get("Healthcheck") is not None and base is not None:
        hc = dict(out["Healthcheck"])
        if not hc.get("Test"):
            hc["Test"] = base.get("Test")
        for k in ("Interval", "Timeout", "StartPeriod", "StartInterval", "Retries"):
            if not hc.get(k):
                hc[k] = base.get(k, 0)
        out["Healthcheck"] = hc
    if not out.get("OnBuild"):
        out["OnBuild"] = None
    if not out.get("Shell") and image.get("Shell"):
        out["Shell"] = image["Shell"]
    for k, default in (
        ("Hostname", ""),
        ("Domainname", ""),
        ("AttachStdin", False),
        ("AttachStdout", False),
        ("AttachStderr", False),
        ("Tty", False),
        ("OpenStdin", False),
        ("StdinOnce", False),
    ):
        out.setdefault(k, default)
    out.setdefault("Cmd", None)
    out.setdefault("Entrypoint", None)
    out.setdefault("Image", "")
    out.setdefault("Labels", {})
    if not out.get("Cmd") and not out.get("Entrypoint"):
        raise InvalidParameter("No command specified")
    return out


def validate_restart_policy(policy: dict[str, Any]) -> None:
    """container.ValidateRestartPolicy (moby v26). An empty name passes with any
    count (what an update that changes no policy sends); create names it "no" first."""
    name = str(policy.get("Name") or "")
    count = policy.get("MaximumRetryCount") or 0
    if name not in RESTART_POLICIES:
        raise InvalidParameter(
            f"invalid restart policy: unknown policy '{name}'; use one of 'no', 'always', "
            "'on-failure', or 'unless-stopped'"
        )
    if not isinstance(count, int) or isinstance(count, bool):
        raise InvalidParameter("invalid restart policy: maximum retry count must be a number")
    if name == "on-failure" and count < 0:
        raise InvalidParameter("invalid restart policy: maximum retry count cannot be negative")
    if name not in ("", "on-failure") and count != 0:
        raise InvalidParameter(
            "invalid restart policy: maximum retry count can only be used with 'on-failure'"
            + (" and cannot be negative" if count < 0 else "")
        )


def normalize_host_config(hc: dict[str, Any], default_runtime: str) -> dict[str, Any]:
    out = dict(hc)
    policy = dict(out.get("RestartPolicy") or {})
    policy["Name"] = policy.get("Name") or "no"  # as dockerd, before the check
    validate_restart_policy(policy)
    policy.setdefault("MaximumRetryCount", 0)
    out["RestartPolicy"] = policy
    if out.get("AutoRemove") and policy["Name"] != "no":
        raise InvalidParameter("can't create 'AutoRemove' container with restart policy")
    mode = str(out.get("NetworkMode") or "")
    out["NetworkMode"] = "bridge" if mode in ("", "default") else mode
    out["Runtime"] = out.get("Runtime") or default_runtime
    log_config = dict(out.get("LogConfig") or {})
    log_config["Type"] = log_config.get("Type") or "json-file"
    log_config["Config"] = log_config.get("Config") or {}
    out["LogConfig"] = log_config
    log_opts(log_config)  # dockerd's errors for an unknown driver or bad options, at create
    if not out.get("ShmSize"):
        out["ShmSize"] = DEFAULT_SHM_SIZE
    for key in (
        "Binds",
        "Links",
        "VolumesFrom",
        "CapAdd",
        "CapDrop",
        "Dns",
        "DnsOptions",
        "DnsSearch",
        "ExtraHosts",
        "GroupAdd",
        "SecurityOpt",
        "Devices",
        "Ulimits",
        "Mounts",
    ):
        out.setdefault(key, None)
    out.setdefault("PortBindings", {})
    out.setdefault("IpcMode", "private")
    out.setdefault("PidMode", "")
    out.setdefault("Privileged", False)
    out.setdefault("PublishAllPorts", False)
    out.setdefault("ReadonlyRootfs", False)
    out.setdefault("AutoRemove", False)
    out.setdefault("CgroupnsMode", "host")
    out.setdefault("ConsoleSize", [0, 0])
    out.setdefault("Isolation", "")
    out.setdefault("OomScoreAdj", 0)
    out.setdefault("UTSMode", "")
    out.setdefault("UsernsMode", "")
    out.setdefault("VolumeDriver", "")
    out.setdefault("ContainerIDFile", "")
    return out
