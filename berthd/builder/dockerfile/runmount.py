"""``RUN --mount=…`` values (buildkit ``instructions/commands_runmount.go``).

The classic builder runs no mounts, but dockerd still parses them: at parse time
(no expander: only ``from=$X`` and CSV errors are caught) and again when the RUN
step is dispatched (with the stage's variables, every key checked) — before it
refuses the flag with "the --mount option requires BuildKit".
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from dataclasses import dataclass

from berthd.lib.strconv import parse_bool
from berthd.lib.strconv import quote as go_quote

from .suggest import suggest

__all__ = ["Mount", "MountError", "parse_mount"]

_TYPES = ("bind", "cache", "secret", "ssh", "tmpfs")  # sorted: Go lists them from a map
_SHARING = ("locked", "private", "shared")
# Go's own slice order (suggestions take the first nearest)
_KEYS = (
    "type", "from", "source", "target", "readonly", "id", "sharing", "required",
    "mode", "uid", "gid", "src", "dst", "ro", "rw", "readwrite",
)  # fmt: skip
_RAM = re.compile(r"^(\d+(?:\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$")


class MountError(Exception):
    """A mount value buildkit refuses; the message is buildkit's."""


@dataclass
class Mount:
    type: str = "bind"
    from_: str = ""
    source: str = ""
    target: str = ""
    read_only: bool = False
    size_limit: int = 0
    cache_id: str = ""
    cache_sharing: str = ""
    required: bool = False
    mode: int | None = None
    uid: int | None = None
    gid: int | None = None


def _ram_in_bytes(value: str) -> int:
    m = _RAM.match(value)
    if m is None:
        raise ValueError(value)
    mult = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}
    return int(float(m.group(1)) * mult[(m.group(2) or "").lower()])


def _uint(value: str, base: int) -> int:
    if not value or any(c not in "0123456789"[:base] for c in value):
        raise ValueError(value)
    n = int(value, base)
    if n >= 1 << 32:
        raise ValueError(value)
    return n


def parse_mount(value: str, expand: Callable[[str], str] | None) -> Mount:
    """One ``--mount`` value; ``expand`` None is the parse-time pass."""
    try:
        fields = next(csv.reader([value], strict=True), [])
    except csv.Error as e:
        raise MountError(f"failed to parse csv mounts: {e}") from None
    m = Mount()
    ro_auto = True
    for fld in fields:
        key, sep, val = fld.partition("=")
        key = key.lower()
        if not sep:
            if expand is None:
                continue
            if key in ("readonly", "ro"):
                m.read_only, ro_auto = True, False
            elif key in ("readwrite", "rw"):
                m.read_only, ro_auto = False, False
            elif key == "required" and m.type in ("secret", "ssh"):
                m.required = True
            elif key == "required":
                raise MountError(f"unexpected key '{key}' for mount type '{m.type}'")
            else:
                raise MountError(f"invalid field '{fld}' must be a key=value pair")
            continue
        if expand is not None:
            val = expand(val)
        elif key == "from":
            if re.search(r"\$.", val, re.S):
                raise MountError(
                    f"'{key}' doesn't support variable expansion, define alias stage instead"
                )
        else:
            continue
        _apply_field(m, key, val, fld)
        if key in ("readonly", "ro", "readwrite", "rw"):
            ro_auto = False
    _check(m, ro_auto)
    return m


def _apply_field(m: Mount, key: str, val: str, fld: str) -> None:
    try:
        if key == "type":
            if val.lower() not in _TYPES:
                msg = f"unsupported mount type {go_quote(val)}"
                raise MountError(suggest(msg, val, _TYPES, True))
            m.type = val.lower()
        elif key == "from":
            m.from_ = val
        elif key in ("source", "src"):
            m.source = val
        elif key in ("target", "dst", "destination"):
            m.target = val
        elif key in ("readonly", "ro"):
            m.read_only = parse_bool(val)
        elif key in ("readwrite", "rw"):
            m.read_only = not parse_bool(val)
        elif key == "required":
            if m.type not in ("secret", "ssh"):
                raise MountError(f"unexpected key '{key}' for mount type '{m.type}'")
            m.required = parse_bool(val)
        elif key == "size":
            if m.type != "tmpfs":
                raise MountError(f"unexpected key '{key}' for mount type '{m.type}'")
            m.size_limit = _ram_in_bytes(val)
        elif key == "id":
            m.cache_id = val
        elif key == "sharing":
            if val.lower() not in _SHARING:
                msg = f"unsupported sharing value {go_quote(val)}"
                raise MountError(suggest(msg, val, _SHARING, True))
            m.cache_sharing = val.lower()
        elif key in ("mode", "uid", "gid"):
            try:
                number = _uint(val, 8 if key == "mode" else 10)
            except ValueError:
                raise MountError(f"invalid value {val} for {key}") from None
            setattr(m, key, number)
        else:
            raise MountError(suggest(f"unexpected key '{key}' in '{fld}'", key, _KEYS, True))
    except ValueError:
        raise MountError(f"invalid value for {key}: {val}") from None


def _check(m: Mount, ro_auto: bool) -> None:
    if m.type not in ("secret", "ssh", "cache"):
        for key in ("mode", "uid", "gid"):
            if getattr(m, key) is not None:
                raise MountError(f"{key} not allowed for {go_quote(m.type)} type mounts")
    if ro_auto:
        m.read_only = m.type not in ("cache", "tmpfs")
    if m.type == "secret":
        if m.from_:
            raise MountError("secret mount should not have a from")
        if m.cache_sharing:
            raise MountError("secret mount should not define sharing")
        if not m.source and not m.target and not m.cache_id:
            raise MountError("invalid secret mount. one of source, target required")
        if m.source and m.cache_id:
            raise MountError("both source and id can't be set")
    if m.cache_sharing and m.type != "cache":
        raise MountError(f"invalid cache sharing set for {m.type} mount")
