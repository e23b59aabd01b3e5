"""An instruction's ``--flag[=value]`` words (buildkit ``instructions/bflag.go``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum

from .suggest import suggest

__all__ = ["BFlags", "Flag", "FlagError"]


class FlagError(Exception):
    """A flag the instruction refuses; the message is moby's."""


class _Kind(Enum):
    BOOL = 1
    STRING = 2
    STRINGS = 3


@dataclass
class Flag:
    name: str
    kind: _Kind
    value: str = ""
    values: list[str] = field(default_factory=list)

    @property
    def is_true(self) -> bool:
        return self.value == "true"


class BFlags:
    """Declare the flags an instruction takes, then :meth:`parse` the words given."""

    def __init__(self, args: Sequence[str]) -> None:
        self.args = list(args)
        self.flags: dict[str, Flag] = {}
        self.used: dict[str, Flag] = {}  # in the order given (Go: map order)

    def add_bool(self, name: str, default: bool = False) -> Flag:
        return self._add(Flag(name, _Kind.BOOL, "true" if default else "false"))

    def add_string(self, name: str, default: str = "") -> Flag:
        return self._add(Flag(name, _Kind.STRING, default))

    def add_strings(self, name: str) -> Flag:
        return self._add(Flag(name, _Kind.STRINGS))

    def _add(self, flag: Flag) -> Flag:
        self.flags[flag.name] = flag
        return flag

    def parse(self) -> None:
        for arg in self.args:
            if not arg.startswith("--"):
                raise FlagError(f"arg should start with -- : {arg}")
            if arg == "--":
                return
            name, sep, value = arg[2:].partition("=")
            flag = self.flags.get(name)
            if flag is None:
                raise FlagError(suggest(f"unknown flag: {name}", name, sorted(self.flags), True))
            if name in self.used and flag.kind is not _Kind.STRINGS:
                raise FlagError(f"duplicate flag specified: {name}")
            self.used[name] = flag
            if flag.kind is _Kind.BOOL:
                if sep and value == "":
                    raise FlagError(f"missing a value on flag: {name}")
                low = value.lower()
                if low in ("true", ""):
                    flag.value = "true"
                elif low == "false":
                    flag.value = "false"
                else:
                    raise FlagError(f"expecting boolean value for flag {name}, not: {value}")
            elif not sep:
                raise FlagError(f"missing a value on flag: {name}")
            elif flag.kind is _Kind.STRING:
                flag.value = value
            else:
                flag.values.append(value)
