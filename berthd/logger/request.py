"""What a ``docker logs`` request asks for (parsed by the route, used by the daemon)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["LogsOptions"]


@dataclass(frozen=True)
class LogsOptions:
    stdout: bool
    stderr: bool
    follow: bool
    since_ns: int  # 0 = unset
    until_ns: int  # 0 = unset
    timestamps: bool
    tail: int | None  # None = all
