"""Daemon configuration: the option table, flags + daemon.json merge, reload."""

from __future__ import annotations

from berthd.config.hosts import DEFAULT_UNIX_SOCKET, Host, parse_host
from berthd.config.load import (
    ConfigError,
    build_config,
    load_config,
    parse_runtime_flag,
    read_config_file,
    reload_config,
)
from berthd.config.model import STOCK_RUNTIMES, DaemonConfig, RuntimeSpec
from berthd.config.options import OPTIONS, OPTIONS_BY_KEY, Option

__all__ = [
    "DEFAULT_UNIX_SOCKET",
    "OPTIONS",
    "OPTIONS_BY_KEY",
    "STOCK_RUNTIMES",
    "ConfigError",
    "DaemonConfig",
    "Host",
    "Option",
    "RuntimeSpec",
    "build_config",
    "load_config",
    "parse_host",
    "parse_runtime_flag",
    "read_config_file",
    "reload_config",
]
