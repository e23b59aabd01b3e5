"""The host's /etc/resolv.conf, as containers and aardvark-dns need it."""

from __future__ import annotations

__all__ = ["host_resolv_lines", "loopback_nameserver", "nameserver"]


def host_resolv_lines(path: str = "/etc/resolv.conf") -> list[str]:
    """The file's lines; none if it cannot be read."""
    try:
        with open(path) as f:
            return f.read().splitlines()
    except OSError:
        return []


def nameserver(line: str) -> str | None:
    """The address of a ``nameserver`` line, else None."""
    words = line.split()
    return words[1] if len(words) >= 2 and words[0] == "nameserver" else None


def loopback_nameserver(line: str) -> bool:
    """A resolver on the host's loopback: unreachable from a container's netns."""
    ns = nameserver(line)
    return ns is not None and (ns.startswith("127.") or ns == "::1")
