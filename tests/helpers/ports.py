"""Free loopback TCP ports (bound, read and released: the caller binds it next)."""

from __future__ import annotations

import socket

__all__ = ["free_port", "free_port6"]


def free_port() -> int:
    """A TCP port free on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_port6() -> int:
    """A TCP port free on ::1 (OSError where IPv6 loopback cannot be bound)."""
    with socket.socket(socket.AF_INET6) as s:
        s.bind(("::1", 0))
        return int(s.getsockname()[1])
