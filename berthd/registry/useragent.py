"""The User-Agent berthd sends to registries (moby ``dockerversion.DockerUserAgent``)."""

from __future__ import annotations

import platform

from berthd.version import GIT_COMMIT, VERSION

__all__ = ["user_agent"]

_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386"}


def user_agent(upstream: str = "") -> str:
    """``berthd/<v> python/<v> git-commit/<c> kernel/<k> os/linux arch/<a>``, plus
    ``UpstreamClient(<the client's User-Agent>)`` when a client sent one."""
    machine = platform.machine()
    ua = (
        f"berthd/{VERSION} python/{platform.python_version()} git-commit/{GIT_COMMIT} "
        f"kernel/{platform.release()} os/linux arch/{_ARCH.get(machine, machine)}"
    )
    if upstream:
        escaped = upstream.replace("(", "\\(").replace(")", "\\)")
        ua += f" UpstreamClient({escaped})"
    return ua
