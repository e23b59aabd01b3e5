"""dockerd's checks of a create request, before any image is looked at or anything
is written: ``runconfig``'s decode-time checks, then ``verifyContainerSettings``
(``validateContainerConfig``, ``validateHostConfig``, the platform checks).

Every refusal is an InvalidParameter (400) with dockerd's wording; the checks
dockerd leaves to a later step and reports as a 500 (an unusable storage option,
an unknown isolation) are refused here as a 400 with the same words. The
platform part (resources, namespaces, mounts, capabilities, ulimits) is
``berthd.oci.validate_host_config``; what it returns are the create warnings.
"""

from __future__ import annotations

import ipaddress
import os
import posixpath
from collections.abc import Mapping
from typing import Any

from berthd.daemon.containers.normalize import validate_restart_policy
from berthd.errdefs import InvalidParameter
from berthd.lib.strconv import quote
from berthd.oci import parse_signal, validate_host_config
from berthd.oci.caps import normalize_capabilities

__all__ = ["check_ports", "verify_container_settings"]

# container.MinimumDuration: 1ms, in nanoseconds
_MIN_DURATION_NS = 1_000_000
HOST_GATEWAY = "host-gateway"


def _conflict(c: Mapping[str, Any], hc: Mapping[str, Any]) -> None:
    """runconfig's validateNetMode."""
    mode = str(hc.get("NetworkMode") or "")
    parts = mode.split(":")
    if parts[0] == "container" and (len(parts) < 2 or parts[1] == ""):
        raise InvalidParameter("Invalid network mode: invalid container format container:<name|id>")
    if mode.startswith("container:"):
        for present, what in (
            (c.get("Hostname"), "hostname and the network mode"),
            (hc.get("Links"), "container type network can't be used with links. This would "
             "result in undefined behavior"),
            (hc.get("Dns"), "dns and the network mode"),
            (hc.get("ExtraHosts"), "custom host-to-IP mapping and the network mode"),
            (hc.get("PortBindings") or hc.get("PublishAllPorts"),
             "port publishing and the container type network mode"),
            (c.get("ExposedPorts"), "port exposing and the container type network mode"),
        ):  # fmt: skip
            if present:
                raise InvalidParameter(f"conflicting options: {what}")
    if hc.get("UTSMode") == "host" and c.get("Hostname"):
        raise InvalidParameter("conflicting options: hostname and the UTS mode")


def _realtime(hc: Mapping[str, Any], supported: bool | None) -> None:
    """runconfig's validateResources: the real-time scheduler's budget."""
    period = int(hc.get("CpuRealtimePeriod") or 0)
    runtime = int(hc.get("CpuRealtimeRuntime") or 0)
    if period == 0 and runtime == 0:
        return
    if supported is None:
        supported = os.path.exists("/sys/fs/cgroup/cpu/cpu.rt_runtime_us")
    if not supported:
        raise InvalidParameter("Your kernel does not support CPU real-time scheduler")
    if period != 0 and runtime != 0 and runtime > period:
        raise InvalidParameter("cpu real-time runtime cannot be higher than cpu real-time period")


def _decode_checks(c: Mapping[str, Any], hc: Mapping[str, Any], realtime: bool | None) -> None:
    """What runconfig refuses while decoding the body (create only)."""
    _conflict(c, hc)
    isolation = str(hc.get("Isolation") or "")
    if isolation and isolation.lower() != "default":
        raise InvalidParameter(
            f"Invalid isolation: \"{isolation}\" - linux only supports 'default'"
        )
    if hc.get("IOMaximumBandwidth"):
        raise InvalidParameter(
            "Invalid QoS settings: linux does not support configuration of maximum bandwidth"
        )
    if hc.get("IOMaximumIOps"):
        raise InvalidParameter(
            "Invalid QoS settings: linux does not support configuration of maximum IOPs"
        )
    _realtime(hc, realtime)


def _check_env(env: list[str] | None) -> None:
    for entry in env or []:
        if entry.partition("=")[0] == "":
            raise InvalidParameter(f"invalid environment variable: {entry}")


def _check_healthcheck(health: Mapping[str, Any] | None) -> None:
    if not health:
        return
    for key in ("Interval", "Timeout"):
        value = int(health.get(key) or 0)
        if value != 0 and value < _MIN_DURATION_NS:
            raise InvalidParameter(f"{key} in Healthcheck cannot be less than 1ms")
    if int(health.get("Retries") or 0) < 0:
        raise InvalidParameter("Retries in Healthcheck cannot be negative")
    for key in ("StartPeriod", "StartInterval"):
        value = int(health.get(key) or 0)
        if value != 0 and value < _MIN_DURATION_NS:
            raise InvalidParameter(f"{key} in Healthcheck cannot be less than 1ms")


def _check_extra_hosts(hosts: list[str] | None) -> None:
    """opts.ValidateExtraHost: ``name:ip`` (the first ``:`` splits, for IPv6)."""
    for entry in hosts or []:
        name, sep, ip = entry.partition(":")
        if not sep or not name:
            raise InvalidParameter(f"bad format for add-host: {quote(entry)}")
        if ip == HOST_GATEWAY:
            continue
        try:
            if "%" in ip:
                raise ValueError(ip)
            ipaddress.ip_address(ip.strip())
        except ValueError:
            raise InvalidParameter(f"invalid IP address in add-host: {quote(ip)}") from None


def _split_proto_port(raw: str) -> tuple[str, str]:
    """nat.SplitProtoPort."""
    parts = raw.split("/")
    if not raw or not parts[0]:
        return "", ""
    if len(parts) == 1 or not parts[1]:
        return "tcp", parts[0]
    return parts[1], parts[0]


def _uint16(raw: str) -> int:
    if not raw.isascii() or not raw.isdigit() or int(raw) > 65535:
        raise ValueError(raw)
    return int(raw)


def check_ports(bindings: Mapping[str, Any] | None) -> None:
    """validatePortBindings: every container port and host port must parse."""
    for key, entries in (bindings or {}).items():
        _, port = _split_proto_port(key)
        try:
            if port:
                _uint16(port)
        except ValueError:
            raise InvalidParameter(f"invalid port specification: {quote(port)}") from None
        for pb in entries or []:
            host_port = str((pb or {}).get("HostPort") or "")
            _, hp = _split_proto_port(host_port)
            try:
                if hp:
                    lo, dash, hi = hp.partition("-")
                    if dash and _uint16(hi.split("-")[0]) < _uint16(lo):
                        raise ValueError(hp)
                    _uint16(lo)
            except ValueError:
                raise InvalidParameter(f"invalid port specification: {quote(host_port)}") from None


def _check_storage_opts(opts: Mapping[str, str] | None, driver: str) -> None:
    """No graph driver of berthd's has quotas: dockerd's refusal, as a 400."""
    if not opts:
        return
    if driver == "vfs":
        key = sorted(opts)[0]
        raise InvalidParameter(f"Storage opt {key} not supported")
    raise InvalidParameter(
        "--storage-opt is supported only for overlay over xfs with 'pquota' mount option"
    )


def verify_container_settings(
    config: Mapping[str, Any],
    host_config: Mapping[str, Any],
    storage_driver: str = "overlay2",
    num_cpus: int | None = None,
    realtime: bool | None = None,
) -> list[str]:
    """All of dockerd's create-time checks, in its order; its warnings.

    ``config``/``host_config`` are the request's, before any image or default is
    merged in. ``realtime``: whether the CPU real-time scheduler is available
    (default: read from the cgroup mount).
    """
    _decode_checks(config, host_config, realtime)
    # validateContainerConfig
    wd = str(config.get("WorkingDir") or "")
    if wd and not posixpath.isabs(wd):
        raise InvalidParameter(
            f"the working directory '{wd}' is invalid, it needs to be an absolute path"
        )
    if config.get("StopSignal"):
        parse_signal(str(config["StopSignal"]))
    _check_env(config.get("Env"))
    _check_healthcheck(config.get("Healthcheck"))
    # validateHostConfig
    # dockerd names an unnamed policy "no" before checking it
    policy = {**(host_config.get("RestartPolicy") or {})}
    policy["Name"] = policy.get("Name") or "no"
    if host_config.get("AutoRemove") and policy["Name"] != "no":
        raise InvalidParameter("can't create 'AutoRemove' container with restart policy")
    _check_extra_hosts(host_config.get("ExtraHosts"))
    check_ports(host_config.get("PortBindings"))
    validate_restart_policy(policy)
    for key in ("CapAdd", "CapDrop"):
        try:
            normalize_capabilities(host_config.get(key) or [])
        except InvalidParameter as e:
            raise InvalidParameter(f"invalid {key}: {e}") from None
    for key in host_config.get("Annotations") or {}:
        if key == "":
            raise InvalidParameter(
                "invalid Annotations: the empty string is not permitted as an annotation key"
            )
    _check_storage_opts(host_config.get("StorageOpt"), storage_driver)
    # verifyPlatformContainerSettings
    return validate_host_config(config, host_config, num_cpus=num_cpus)
