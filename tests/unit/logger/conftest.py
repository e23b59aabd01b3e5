"""Helpers: write k8s-file logs the way conmon does."""

from __future__ import annotations

from collections.abc import Iterable

from berthd.logger import format_k8s_line

T0 = 1_700_000_000_000_000_000  # 2023-11-14T22:13:20Z


def lines(*specs: tuple[int, str, bytes, bool]) -> bytes:
    """(seconds after T0, stream, text, partial) → file bytes."""
    return b"".join(format_k8s_line(T0 + s * 1_000_000_000, st, t, p) for s, st, t, p in specs)


def full(n: int, stream: str = "stdout", start: int = 0) -> Iterable[tuple[int, str, bytes, bool]]:
    return [(start + i, stream, b"line%d" % (start + i), False) for i in range(n)]
