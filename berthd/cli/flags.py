"""The ``berthd`` command line, built from the option table.

Flags that were not given are absent from the result (argparse's SUPPRESS),
so the loader can tell "set on the command line" from "default" and refuse a
key given both ways.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from berthd.config import OPTIONS

__all__ = ["DEFAULT_CONFIG_FILE", "CommandLine", "build_parser", "parse_command_line"]

DEFAULT_CONFIG_FILE = "/etc/berthd/daemon.json"


def _parse_bool(value: str) -> bool:
    low = value.strip().lower()
    if low in ("1", "t", "true", "yes", "on"):
        return True
    if low in ("0", "f", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f'invalid boolean value "{value}"')


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="berthd",
        description="A self-sufficient runtime for containers: a drop-in dockerd.",
        argument_default=argparse.SUPPRESS,
    )
    p.add_argument(
        "-v", "--version", action="store_true", help="Print version information and quit"
    )
    p.add_argument(
        "--config-file", help=f"Daemon configuration file (default {DEFAULT_CONFIG_FILE})"
    )
    p.add_argument(
        "--validate", action="store_true", help="Validate the configuration file and quit"
    )
    for opt in OPTIONS:
        names = list(opt.flags)
        if opt.kind == "bool":
            p.add_argument(
                *names, dest=opt.key, nargs="?", const=True, type=_parse_bool, help=opt.help
            )
        elif opt.kind in ("list", "runtimes"):
            p.add_argument(*names, dest=opt.key, action="append", help=opt.help)
        elif opt.kind == "int":
            p.add_argument(*names, dest=opt.key, type=int, help=opt.help)
        else:
            p.add_argument(*names, dest=opt.key, help=opt.help)
    return p


@dataclass(frozen=True)
class CommandLine:
    flag_values: dict[str, Any]  # daemon.json key → value, only flags that were given
    config_file: str
    config_file_explicit: bool
    show_version: bool
    validate: bool


def parse_command_line(argv: Sequence[str]) -> CommandLine:
    ns = vars(build_parser().parse_args(list(argv)))
    config_file = ns.pop("config_file", None)
    show_version = bool(ns.pop("version", False))
    validate = bool(ns.pop("validate", False))
    return CommandLine(
        flag_values=ns,
        config_file=config_file or DEFAULT_CONFIG_FILE,
        config_file_explicit=config_file is not None,
        show_version=show_version,
        validate=validate,
    )
