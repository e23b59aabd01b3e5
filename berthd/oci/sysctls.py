"""Sysctls: dockerd's defaults plus HostConfig.Sysctls, validated like runc.

Only namespaced sysctls can be set per container. dockerd passes them through
and runc refuses the rest at start; we refuse them at create with runc's
wording so the client gets a 400 instead of a failed start.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from berthd.errdefs import InvalidParameter

__all__ = ["IPC_SYSCTLS", "build_sysctls", "validate_sysctls"]

IPC_SYSCTLS = frozenset(
    {
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    }
)


def _exists(name: str, proc_sys: str) -> bool:
    return os.path.exists(os.path.join(proc_sys, name.replace(".", "/")))


def validate_sysctls(
    sysctls: Mapping[str, str], private_ipc: bool, private_net: bool, private_uts: bool
) -> None:
    """Refuse sysctls that are not in a namespace the container owns (runc's rules)."""
    for name in sysctls:
        if name in IPC_SYSCTLS or name.startswith("fs.mqueue."):
            if private_ipc:
                continue
            raise InvalidParameter(f'sysctl "{name}" is not allowed in the hosts ipc namespace')
        if name.startswith("net."):
            if private_net:
                continue
            raise InvalidParameter(f'sysctl "{name}" is not allowed in the hosts network namespace')
        if private_uts and name == "kernel.domainname":
            continue
        if private_uts and name == "kernel.hostname":
            raise InvalidParameter(
                'sysctl "kernel.hostname" is not allowed; it should be set using the '
                "hostname option"
            )
        raise InvalidParameter(f'sysctl "{name}" is not in a separate kernel namespace')


def build_sysctls(
    user: Mapping[str, str] | None,
    domainname: str = "",
    new_net_namespace: bool = True,
    proc_sys: str = "/proc/sys",
) -> dict[str, str]:
    """dockerd's sysctls: domainname, unprivileged ping and low ports, then the user's.

    The two network defaults are only set when the container gets a network
    namespace of its own, and only when the host kernel has them (runc fails on
    a sysctl that does not exist). The user's values win.
    """
    out: dict[str, str] = {}
    if domainname:
        out["kernel.domainname"] = domainname
    if new_net_namespace:
        if _exists("net.ipv4.ping_group_range", proc_sys):
            out["net.ipv4.ping_group_range"] = "0 2147483647"
        if _exists("net.ipv4.ip_unprivileged_port_start", proc_sys):
            out["net.ipv4.ip_unprivileged_port_start"] = "0"
    out.update(user or {})
    return out
