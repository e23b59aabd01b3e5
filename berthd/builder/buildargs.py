"""Build args and ARG scoping (moby ``builder/dockerfile/buildargs.go``)."""

from __future__ import annotations

import copy

__all__ = ["BUILTIN_ARGS", "BuildArgs"]

BUILTIN_ARGS = frozenset(
    {
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "FTP_PROXY",
        "ftp_proxy",
        "NO_PROXY",
        "no_proxy",
        "ALL_PROXY",
        "all_proxy",
    }
)


class BuildArgs:
    def __init__(self, from_options: dict[str, str | None]) -> None:
        self.from_options = dict(from_options)
        self.allowed: dict[str, str | None] = {}
        self.meta: dict[str, str | None] = {}
        self.referenced: set[str] = set()

    def clone(self) -> BuildArgs:
        return copy.deepcopy(self)

    def reset_allowed(self) -> None:
        self.allowed = {}

    def add_arg(self, key: str, value: str | None) -> None:
        if key in self.allowed and value is None:
            return
        self.allowed[key] = value
        self.referenced.add(key)

    def add_meta_arg(self, key: str, value: str | None) -> None:
        self.meta[key] = value

    def is_referenced_or_not_builtin(self, key: str) -> bool:
        return key in self.allowed or key not in BUILTIN_ARGS

    def _get(self, key: str, mapping: dict[str, str | None]) -> str | None:
        override = self.from_options.get(key)
        if override is not None:
            return override
        default = mapping.get(key)
        if default is None:
            return self.meta.get(key)
        return default

    def _all(self, mapping: dict[str, str | None]) -> dict[str, str]:
        out: dict[str, str] = {}
        for key in sorted(set(mapping) | BUILTIN_ARGS):
            value = self._get(key, mapping)
            if value is not None:
                out[key] = value
        return out

    def all_allowed(self) -> dict[str, str]:
        return self._all(self.allowed)

    def all_meta(self) -> dict[str, str]:
        return self._all(self.meta)

    def filter_allowed(self, env: list[str] | None) -> list[str]:
        """The allowed args not already set by ``env``, as ``k=v`` (sorted)."""
        keys = {e.split("=", 1)[0] for e in env or []}
        return [f"{k}={v}" for k, v in sorted(self.all_allowed().items()) if k not in keys]

    def merge_referenced(self, other: BuildArgs) -> None:
        self.referenced |= other.referenced

    def unused_warning(self) -> str:
        left = sorted(
            k for k in self.from_options if k not in BUILTIN_ARGS and k not in self.referenced
        )
        if not left:
            return ""
        return f"[Warning] One or more build-args [{' '.join(left)}] were not consumed\n"
