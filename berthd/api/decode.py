"""Type checks of JSON request bodies, as Go's ``encoding/json`` makes them in dockerd.

dockerd decodes a body into Go structs, so a value of the wrong JSON type is a
400 before any handler runs: ``json: cannot unmarshal string into Go struct
field Resources.HostConfig.Memory of type int64``. berthd's handlers take plain
dicts; ``check`` walks a body against a schema of the same Go types
(``berthd.api.schemas``) and raises the same error (behind dockerd's
``invalid JSON:`` prefix), so that no wrong type ever
reaches a backend. As in Go, ``null`` is accepted anywhere (a ``null`` element
of a list or map becomes the element type's zero value, in place) and unknown
keys are ignored (with ``prune``, dropped, as a Go struct has nowhere to keep
them, and keys matched case-insensitively are renamed to the declared field, so
what is stored is what dockerd would store).

``decode_json`` reads a body the way Go's decoder does before any type is
looked at: invalid UTF-8 and lone surrogate escapes become U+FFFD instead of
an error, and integers of any size keep their exact value (orjson turns those
past 64 bits into floats, which would misquote them in the error).

A schema is one of: a scalar type name (``"string"``, ``"bool"``, ``"int"``,
``"int64"``, ``"uint16"``, ``"uint32"``, ``"uint64"``, ``"float64"``), ``"any"``,
``"strslice"`` (a string or a list of strings), ``Slice(elem)``, ``Map(elem)``,
``Array(elem, n)`` or ``Struct(name, fields)``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import orjson

from berthd.errdefs import InvalidParameter

__all__ = ["Array", "Map", "Schema", "Slice", "Struct", "check", "decode_json"]

# 20 digits in a row: maybe an integer orjson would turn into a float
_LONG_DIGITS = re.compile(rb"[0-9]{20}")
# an escaped backslash (kept), or a surrogate escape with or without its other half
_ESCAPES = re.compile(
    r"(\\\\)|\\u([dD][89abAB][0-9a-fA-F]{2})(\\u[dD][c-fC-F][0-9a-fA-F]{2})?"
    r"|\\u[dD][c-fC-F][0-9a-fA-F]{2}"
)


def _no_constant(name: str) -> Any:
    raise ValueError(f"invalid character '{name[0]}' looking for beginning of value")


def _lone_surrogate(m: re.Match[str]) -> str:
    """Go decodes a surrogate escape without its pair (``\\ud800``) as U+FFFD."""
    if m.group(1) or m.group(3):
        return m.group(0)
    return "\\ufffd"


def decode_json(body: bytes) -> Any:
    """A JSON document as Go's ``encoding/json`` reads it; InvalidParameter
    (``invalid JSON: …``) when it is not JSON at all."""
    exact_ints = _LONG_DIGITS.search(body) is not None
    if not exact_ints:
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError as e:
            if "UTF-8" not in str(e) and "surrogate" not in str(e):
                raise InvalidParameter(f"invalid JSON: {e}") from None
    text = _ESCAPES.sub(_lone_surrogate, body.decode("utf-8", "replace"))
    try:
        if not exact_ints:
            return orjson.loads(text)
        return json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise InvalidParameter("invalid JSON: exceeded max depth") from None
    except ValueError as e:  # orjson.JSONDecodeError is one
        raise InvalidParameter(f"invalid JSON: {e}") from None


_INT_RANGES = {
    "int": (-(2**63), 2**63 - 1),
    "int64": (-(2**63), 2**63 - 1),
    "uint16": (0, 2**16 - 1),
    "uint32": (0, 2**32 - 1),
    "uint64": (0, 2**64 - 1),
}


@dataclass(frozen=True)
class Slice:
    elem: Schema


@dataclass(frozen=True)
class Map:
    elem: Schema


@dataclass(frozen=True)
class Array:
    elem: Schema
    length: int


@dataclass(frozen=True)
class Struct:
    name: str  # the Go type, as errors print it ("container.HostConfig" → "HostConfig")
    fields: dict[str, Schema] = field(default_factory=dict)
    embedded: tuple[Struct, ...] = ()  # Go embedded structs: their fields are promoted

    def lookup(self, key: str) -> tuple[str, Schema] | None:
        """The declared field name and its schema; embedded structs' fields are
        promoted, and Go matches names case-insensitively (an exact match first)."""
        owners = (self, *self.embedded)
        for owner in owners:
            if key in owner.fields:
                return key, owner.fields[key]
        folded = key.casefold()
        for owner in owners:
            for name, spec in owner.fields.items():
                if name.casefold() == folded:
                    return name, spec
        return None


Schema: TypeAlias = str | Slice | Map | Array | Struct


def go_type(spec: Schema) -> str:
    if isinstance(spec, str):
        return {"strslice": "strslice.StrSlice", "any": "interface {}"}.get(spec, spec)
    if isinstance(spec, Slice):
        return "[]" + go_type(spec.elem)
    if isinstance(spec, Map):
        return "map[string]" + go_type(spec.elem)
    if isinstance(spec, Array):
        return f"[{spec.length}]" + go_type(spec.elem)
    return spec.name


def zero_value(spec: Schema) -> Any:
    """What Go leaves for a ``null`` element of a slice or map."""
    if spec == "string":
        return ""
    if spec == "bool":
        return False
    if isinstance(spec, str) and (spec in _INT_RANGES or spec == "float64"):
        return 0
    if isinstance(spec, Struct):
        return {}
    return None


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _number_text(value: int | float) -> str:
    return repr(value) if isinstance(value, float) else str(value)


def check(value: Any, spec: Schema, struct: str = "", path: str = "", prune: bool = False) -> None:
    """Raise dockerd's 400 if ``value`` does not decode into ``spec``; with
    ``prune``, drop what Go would drop; declared keys are spelled as declared either way
    (in place: Go matches field names without regard to case)."""
    if value is None or spec == "any":
        return

    def fail(kind: str | None = None) -> InvalidParameter:
        where = f"Go struct field {struct}.{path}" if path else "Go value"
        what = kind or _json_kind(value)
        return InvalidParameter(
            f"invalid JSON: json: cannot unmarshal {what} into {where} of type {go_type(spec)}"
        )

    if isinstance(spec, str):
        if spec == "string":
            if not isinstance(value, str):
                raise fail()
        elif spec == "bool":
            if not isinstance(value, bool):
                raise fail()
        elif spec == "float64":
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise fail()
        elif spec == "strslice":
            if isinstance(value, str):
                return
            if not isinstance(value, list):
                raise fail()
            for i, item in enumerate(value):
                if item is None:
                    value[i] = ""
                elif not isinstance(item, str):
                    raise InvalidParameter(
                        f"invalid JSON: json: cannot unmarshal {_json_kind(item)} into "
                        f"Go struct field {struct}.{path} of type string"
                    )
        else:
            lo, hi = _INT_RANGES[spec]
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise fail()
            if isinstance(value, float) or not lo <= value <= hi:
                raise fail(f"number {_number_text(value)}")
        return
    if isinstance(spec, Slice | Array):
        if not isinstance(value, list):
            raise fail()
        if isinstance(spec, Array) and len(value) > spec.length:
            return  # Go drops the excess elements
        for i, item in enumerate(value):
            if item is None:
                value[i] = zero_value(spec.elem)  # Go decodes a null element so
            check(value[i], spec.elem, struct, path, prune)
        return
    if isinstance(spec, Map):
        if not isinstance(value, dict):
            raise fail()
        for key, item in value.items():
            if item is None:
                value[key] = zero_value(spec.elem)
            check(value[key], spec.elem, struct, path, prune)
        return
    if not isinstance(value, dict):
        raise fail()
    kept: dict[str, Any] = {}
    for key, item in value.items():
        found = spec.lookup(key)
        if found is None:
            continue
        name, sub = found
        # Go names the struct being decoded and the path of declared field names
        check(item, sub, spec.name.rpartition(".")[2], f"{path}.{name}" if path else name, prune)
        kept.pop(name, None)
        kept[name] = item  # of several spellings of one field, the last wins, as in Go
    if prune:
        value.clear()
        value.update(kept)
    else:  # keep what is not declared, but spell declared fields as Go would name them
        for key in list(value):
            found = spec.lookup(key)
            if found is not None and found[0] != key:
                item = value.pop(key)
                if kept.get(found[0]) is item:
                    value[found[0]] = item
