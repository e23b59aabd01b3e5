"""Merging command-line flags with daemon.json, as dockerd does.

Order: defaults < file < flags. A file key that matches no option is refused
(naming the key); a key given both as a flag and in the file is refused;
validation runs on the merged result, never on one source alone.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Mapping
from dataclasses import replace
from types import MappingProxyType
from typing import Any

import orjson

from berthd.config.hosts import parse_host
from berthd.config.model import STOCK_RUNTIMES, DaemonConfig, RuntimeSpec
from berthd.config.options import OPTIONS, OPTIONS_BY_KEY, Option
from berthd.config.registry_options import validate_insecure_registry, validate_mirror
from berthd.errdefs import InvalidParameter

__all__ = [
    "ConfigError",
    "build_config",
    "load_config",
    "parse_runtime_flag",
    "read_config_file",
    "reload_config",
]

LOG_LEVELS = ("debug", "info", "warn", "error", "fatal")
LOG_FORMATS = ("text", "json")


class ConfigError(InvalidParameter):
    """The configuration is refused; the message says why."""


def read_config_file(path: str, explicit: bool) -> dict[str, Any]:
    """The file's top-level object, or ``{}`` for a missing default file."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        if e.errno == errno.ENOENT and not explicit:
            return {}
        raise ConfigError(f"open {path}: {os.strerror(e.errno or 0).lower()}") from None
    if not raw.strip():
        return {}
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise ConfigError(f"invalid JSON in {path}: {e}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the configuration must be a JSON object")
    return data


def parse_runtime_flag(value: str) -> tuple[str, RuntimeSpec]:
    """``--add-runtime name=path`` → (name, spec)."""
    name, sep, path = value.partition("=")
    if not sep or not name or not path:
        raise ConfigError(f"invalid runtime argument: {value}")
    return name, RuntimeSpec(path=path)


def _type_error(opt: Option, value: object, want: str) -> ConfigError:
    got = type(value).__name__
    got = {"str": "string", "int": "number", "float": "number", "dict": "object"}.get(got, got)
    return ConfigError(f"json: cannot unmarshal {got} into option {opt.key!r} of type {want}")


def _coerce_file_value(opt: Option, value: object) -> object:
    """Check a daemon.json value's type and turn it into the config's type."""
    if opt.kind == "bool":
        if not isinstance(value, bool):
            raise _type_error(opt, value, "bool")
        return value
    if opt.kind == "str":
        if not isinstance(value, str):
            raise _type_error(opt, value, "string")
        return value
    if opt.kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise _type_error(opt, value, "int")
        return value
    if opt.kind == "list":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise _type_error(opt, value, "[]string")
        return tuple(value)
    if opt.kind == "runtimes":
        if not isinstance(value, dict):
            raise _type_error(opt, value, "map[string]Runtime")
        out: dict[str, RuntimeSpec] = {}
        for name, spec in value.items():
            if not isinstance(spec, dict):
                raise _type_error(opt, spec, "Runtime")
            unknown = sorted(set(spec) - {"path", "runtimeArgs"})
            if unknown:
                raise ConfigError(f"runtime {name}: unknown field(s): {', '.join(unknown)}")
            path = spec.get("path", "")
            args = spec.get("runtimeArgs", [])
            if not isinstance(path, str) or not isinstance(args, list):
                raise _type_error(opt, spec, "Runtime")
            if not all(isinstance(a, str) for a in args):
                raise _type_error(opt, args, "[]string")
            out[name] = RuntimeSpec(path=path, runtime_args=tuple(args))
        return out
    raise AssertionError(opt.kind)


def _coerce_flag_value(opt: Option, value: object) -> object:
    if opt.kind == "list":
        assert isinstance(value, list | tuple)
        return tuple(value)
    if opt.kind == "runtimes":
        assert isinstance(value, list | tuple)
        out: dict[str, RuntimeSpec] = {}
        for item in value:
            name, spec = parse_runtime_flag(str(item))
            if name in out:
                raise ConfigError(f"runtime {name!r} was already defined")
            out[name] = spec
        return out
    return value


def _check_keys(file_values: Mapping[str, Any], flag_values: Mapping[str, Any]) -> None:
    unknown = [k for k in file_values if k not in OPTIONS_BY_KEY]
    if unknown:
        raise ConfigError(
            "the following directives don't match any configuration option: " + ", ".join(unknown)
        )
    conflicts = [
        f"{OPTIONS_BY_KEY[k].flag_name}: (from flag: {_show(flag_values[k])}, "
        f"from file: {_show(file_values[k])})"
        for k in file_values
        if k in flag_values
    ]
    if conflicts:
        raise ConfigError(
            "the following directives are specified both as a flag and in the "
            "configuration file: " + ", ".join(conflicts)
        )


def _show(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "[" + " ".join(str(v) for v in value) + "]"
    return str(value)


def _validate(cfg: DaemonConfig) -> None:
    if cfg.log_level not in LOG_LEVELS:
        raise ConfigError(f"invalid logging level: {cfg.log_level}")
    if cfg.log_format not in LOG_FORMATS:
        raise ConfigError(f"invalid log format: {cfg.log_format}")
    if cfg.shutdown_timeout < -1:
        raise ConfigError(
            f"invalid shutdown-timeout {cfg.shutdown_timeout}: must be -1 (wait forever) or more"
        )
    seen: dict[str, str] = {}
    for label in cfg.labels:
        key, sep, value = label.partition("=")
        if not sep or not key:
            raise ConfigError(f"bad attribute format: {label}")
        if key in seen and seen[key] != value:
            raise ConfigError(f"conflict labels for {key}={seen[key]} and {key}={value}")
        seen[key] = value
    for h in cfg.hosts:
        try:
            parse_host(h, cfg.tls_enabled)
        except InvalidParameter as e:
            raise ConfigError(str(e)) from None
    for name, spec in cfg.runtimes.items():
        if name in STOCK_RUNTIMES:
            raise ConfigError(f"runtime name '{name}' is reserved")
        if not spec.path:
            raise ConfigError(f"runtime {name}: a path is required")
    if cfg.default_runtime and cfg.default_runtime not in (*STOCK_RUNTIMES, *cfg.runtimes):
        raise ConfigError(f"specified default runtime '{cfg.default_runtime}' does not exist")
    _validate_registry(cfg)
    for opt, bad, why in _UNSUPPORTED_NETWORK_CHOICES:
        if getattr(cfg, opt.replace("-", "_")) == bad:
            raise ConfigError(f"{opt}={str(bad).lower()} is not supported by berthd: {why}")


def _validate_registry(cfg: DaemonConfig) -> None:
    for what, value in (
        ("max concurrent downloads", cfg.max_concurrent_downloads),
        ("max concurrent uploads", cfg.max_concurrent_uploads),
        ("max download attempts", cfg.max_download_attempts),
        ("registry read timeout", cfg.registry_read_timeout),
    ):
        if value < 0:
            raise ConfigError(f"invalid {what}: {value}")
    try:
        for m in cfg.registry_mirrors:
            validate_mirror(m)
        for r in cfg.insecure_registries:
            validate_insecure_registry(r, warn=False)
    except InvalidParameter as e:
        raise ConfigError(str(e)) from None


# dockerd takes 0 for these as "the default"
_ZERO_IS_DEFAULT = ("max-concurrent-downloads", "max-concurrent-uploads", "max-download-attempts")


# Values of dockerd network options that netavark (1.4, Debian 12) cannot honour.
_UNSUPPORTED_NETWORK_CHOICES = (
    ("iptables", False, "netavark always manages the iptables rules of its networks"),
    ("ip-masq", False, "netavark always masquerades traffic leaving a bridge network"),
    ("icc", False, "netavark cannot isolate the containers of one bridge from each other"),
)


def build_config(
    file_values: Mapping[str, Any],
    flag_values: Mapping[str, Any],
    base: DaemonConfig | None = None,
    config_file: str = "",
) -> DaemonConfig:
    """defaults (or ``base``) < file < flags, then validate."""
    _check_keys(file_values, flag_values)
    changes: dict[str, Any] = {}
    for opt in OPTIONS:
        if opt.key in flag_values:
            changes[opt.attr] = _coerce_flag_value(opt, flag_values[opt.key])
        elif opt.key in file_values:
            changes[opt.attr] = _coerce_file_value(opt, file_values[opt.key])
    if "runtimes" in changes:
        changes["runtimes"] = MappingProxyType(dict(changes["runtimes"]))
    for key in _ZERO_IS_DEFAULT:
        opt = OPTIONS_BY_KEY[key]
        if changes.get(opt.attr) == 0:
            changes[opt.attr] = opt.default
    cfg = replace(base or DaemonConfig(), config_file=config_file, **changes)
    _validate(cfg)
    return cfg


def load_config(flag_values: Mapping[str, Any], config_file: str, explicit: bool) -> DaemonConfig:
    """The start-up configuration; errors name the file as dockerd does."""
    try:
        file_values = read_config_file(config_file, explicit)
        return build_config(file_values, flag_values, config_file=config_file)
    except ConfigError as e:
        if config_file and (explicit or os.path.exists(config_file)):
            raise ConfigError(
                f"unable to configure the Docker daemon with file {config_file}: {e}"
            ) from None
        raise


def reload_config(
    current: DaemonConfig, flag_values: Mapping[str, Any]
) -> tuple[DaemonConfig, list[str]]:
    """Re-read the file on SIGHUP; apply only reloadable keys present in it.

    Returns the new configuration and the keys that were applied. Raises
    ConfigError (leaving ``current`` in force) when the file is invalid.
    """
    file_values = read_config_file(current.config_file, explicit=True)
    merged = build_config(file_values, flag_values, config_file=current.config_file)
    applied = [k for k in file_values if OPTIONS_BY_KEY[k].reloadable]
    changes = {OPTIONS_BY_KEY[k].attr: getattr(merged, OPTIONS_BY_KEY[k].attr) for k in applied}
    new = replace(current, **changes)
    _validate(new)
    return new, applied
