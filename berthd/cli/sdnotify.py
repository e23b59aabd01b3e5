"""systemd's sd_notify, in the few lines it takes.

Sends a datagram to ``$NOTIFY_SOCKET`` (a path, or ``@name`` for an abstract
socket). Without the variable it does nothing, as libsystemd does.
"""

from __future__ import annotations

import os
import socket

__all__ = ["sd_notify"]


def sd_notify(state: str) -> bool:
    addr = os.environ.get("NOTIFY_SOCKET", "")
    if not addr:
        return False
    if addr.startswith("@"):
        addr = "\0" + addr[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
        try:
            s.sendto(state.encode(), addr)
        except OSError:
            return False
    return True
