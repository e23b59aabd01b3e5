"""The ``filters`` query parameter of list and events endpoints.

Clients send ``filters`` as JSON, either ``{"key": {"value": true}}`` (the
current form) or the legacy ``{"key": ["value"]}``. This mirrors moby's
``api/types/filters``: a mapping of keys to value sets, with exact, fuzzy
(prefix) and key=value matching.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping

import orjson

from berthd.errdefs import InvalidParameter

__all__ = ["FilterArgs", "invalid_filter", "match_kv_list"]


def match_kv_list(values: Iterable[str], labels: Mapping[str, str] | None) -> bool:
    """moby's ``Args.MatchKVList``: every ``key`` / ``key=value`` of ``values`` must be
    in ``labels`` (AND); no values match anything."""
    values = list(values)
    if not values:
        return True
    if not labels:
        return False
    for value in values:
        key, sep, want = value.partition("=")
        if key not in labels or (sep and labels[key] != want):
            return False
    return True


def invalid_filter(name: str = "", values: Iterable[str] | None = None) -> InvalidParameter:
    """dockerd's wording: ``invalid filter``, ``invalid filter 'x'``, ``invalid filter 'x=[v]'``."""
    msg = "invalid filter"
    if name:
        msg += " '" + name
        if values is not None:
            msg += "=[" + " ".join(values) + "]"
        msg += "'"
    return InvalidParameter(msg)


class FilterArgs:
    """A parsed ``filters`` value: key → set of values."""

    def __init__(self, fields: Mapping[str, Iterable[str]] | None = None) -> None:
        self._fields: dict[str, set[str]] = {}
        for key, values in (fields or {}).items():
            self._fields[key] = set(values)

    @classmethod
    def from_json(cls, raw: str | None) -> FilterArgs:
        if not raw:
            return cls()
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise invalid_filter() from None
        if not isinstance(data, dict):
            raise invalid_filter()
        fields: dict[str, set[str]] = {}
        for key, value in data.items():
            if isinstance(value, dict):
                if not all(isinstance(v, bool) for v in value.values()):
                    raise invalid_filter()
                fields[key] = {str(v) for v, on in value.items() if on}
            elif isinstance(value, list):
                if not all(isinstance(v, str) for v in value):
                    raise invalid_filter()
                fields[key] = set(value)
            else:
                raise invalid_filter()
        return cls(fields)

    def to_json(self) -> str:
        return orjson.dumps(
            {k: dict.fromkeys(sorted(v), True) for k, v in self._fields.items()}
        ).decode()

    def __len__(self) -> int:
        return len(self._fields)

    def keys(self) -> list[str]:
        return sorted(self._fields)

    def contains(self, key: str) -> bool:
        return key in self._fields

    def get(self, key: str) -> list[str]:
        return sorted(self._fields.get(key, ()))

    def validate(self, accepted: Iterable[str]) -> None:
        allowed = set(accepted)
        for key in sorted(self._fields):
            if key not in allowed:
                raise invalid_filter(key)

    def exact_match(self, key: str, source: str) -> bool:
        """True when the key is absent or one of its values equals ``source``."""
        values = self._fields.get(key)
        if not values:
            return True
        return source in values

    def fuzzy_match(self, key: str, source: str) -> bool:
        """True when the key is absent, or a value equals or prefixes ``source``."""
        values = self._fields.get(key)
        if not values:
            return True
        if source in values:
            return True
        return any(source.startswith(v) for v in values)

    def unique_exact_match(self, key: str, source: str) -> bool:
        values = self._fields.get(key)
        if not values:
            return True
        if len(values) > 1:
            return False
        return source in values

    def match(self, key: str, source: str) -> bool:
        """Glob match, as moby's ``Match`` (used by ``reference`` and names)."""
        values = self._fields.get(key)
        if not values:
            return True
        return any(fnmatch.fnmatchcase(source, v) or v in source for v in values)

    def match_regexp(self, key: str, source: str) -> bool:
        """moby's ``Args.Match``: the key is absent, or a value equals ``source`` or is
        a regular expression found in it (invalid expressions match nothing)."""
        values = self._fields.get(key)
        if not values or source in values:
            return True
        for v in values:
            try:
                if re.search(v, source):
                    return True
            except re.error:
                continue
        return False

    def match_kv_list(self, key: str, attributes: Mapping[str, str] | None) -> bool:
        """Every ``k`` or ``k=v`` value of ``key`` must be present in ``attributes``."""
        return match_kv_list(self._fields.get(key) or (), attributes)

    def get_bool_or_default(self, key: str, default: bool) -> bool:
        """moby's ``GetBoolOrDefault``: one of true/1/false/0, else an error."""
        values = self._fields.get(key)
        if not values:
            return default
        for v in values:
            low = v.lower()
            if low in ("true", "1"):
                return True
            if low in ("false", "0"):
                return False
        raise invalid_filter(key, sorted(values))
