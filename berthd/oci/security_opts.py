"""``--security-opt`` parsing, as dockerd's ``parseSecurityOpt``.

The result says which seccomp profile to use (``None`` = the daemon default,
``"unconfined"``, ``"builtin"`` or a profile's JSON text), whether
no-new-privileges is on, and the AppArmor profile and label options as given.
This host has neither AppArmor nor SELinux: dockerd then records both and
applies neither (``WithApparmor`` does nothing when the host lacks AppArmor,
``label.InitLabels`` returns empty labels when SELinux is off), and so do we.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from berthd.errdefs import InvalidParameter
from berthd.lib.strconv import parse_bool, quote

__all__ = ["SecurityOptions", "parse_bool", "parse_security_opts"]


@dataclass
class SecurityOptions:
    """What ``HostConfig.SecurityOpt`` asked for."""

    seccomp_profile: str | None = None
    no_new_privileges: bool = False
    apparmor_profile: str | None = None
    label_opts: list[str] = field(default_factory=list)
    writable_cgroups: bool | None = None


def parse_security_opts(
    opts: Iterable[str] | None, daemon_no_new_privileges: bool = False
) -> SecurityOptions:
    """Parse ``HostConfig.SecurityOpt`` with dockerd's rules and error wording.

    ``key=value`` and the deprecated ``key:value`` are both accepted.
    """
    res = SecurityOptions(no_new_privileges=daemon_no_new_privileges)
    for opt in opts or []:
        if opt == "no-new-privileges":
            res.no_new_privileges = True
            continue
        if opt == "writable-cgroups":
            res.writable_cgroups = True
            continue
        if opt == "disable":
            res.label_opts.append("disable")
            continue
        if "=" in opt:
            key, _, value = opt.partition("=")
        elif ":" in opt:
            key, _, value = opt.partition(":")
        else:
            raise InvalidParameter(f"invalid --security-opt 1: {quote(opt)}")
        if key == "label":
            res.label_opts.append(value)
        elif key == "apparmor":
            res.apparmor_profile = value
        elif key == "seccomp":
            res.seccomp_profile = value
        elif key in ("no-new-privileges", "writable-cgroups"):
            try:
                flag = parse_bool(value)
            except ValueError:
                raise InvalidParameter(f"invalid --security-opt 2: {quote(opt)}") from None
            if key == "no-new-privileges":
                res.no_new_privileges = flag
            else:
                res.writable_cgroups = flag
        else:
            raise InvalidParameter(f"invalid --security-opt 2: {quote(opt)}")
    return res
