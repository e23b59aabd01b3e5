"""Bind-mount propagation needs a matching host mount (dockerd's ensureShared).

A ``shared`` bind only propagates if the host mount holding its source is itself
shared; a ``slave`` one needs a shared or slave host mount. runc would apply the
flag silently and propagation would just not happen, so dockerd checks
/proc/self/mountinfo first and fails with a clear error; so do we.
"""

from __future__ import annotations

import os

from berthd.errdefs import InvalidParameter

__all__ = ["check_propagation", "source_mount"]


def _unescape(s: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as \\ooo
    out, i = [], 0
    while i < len(s):
        code = s[i + 1 : i + 4]
        if s[i] == "\\" and len(code) == 3 and code.isdigit():
            out.append(chr(int(code, 8)))
            i += 4
        else:
            out.append(s[i])
            i += 1
    return "".join(out)


def source_mount(path: str, mountinfo: str = "/proc/self/mountinfo") -> tuple[str, str]:
    """(mount point, optional fields) of the mount that holds ``path``."""
    real = os.path.realpath(path, strict=True)
    best, best_opt = "", ""
    with open(mountinfo, encoding="utf-8", errors="replace") as f:
        for line in f:
            fields = line.split()
            if len(fields) < 7:
                continue
            mnt = _unescape(fields[4])
            sep = fields.index("-", 6) if "-" in fields[6:] else len(fields)
            optional = " ".join(fields[6:sep])
            inside = real == mnt or real.startswith(mnt.rstrip("/") + "/")
            if inside and len(mnt) >= len(best):
                best, best_opt = mnt, optional
    if not best:
        raise InvalidParameter(f"Can't find mount point of {path}")
    return best, best_opt


def check_propagation(
    source: str, propagation: str, mountinfo: str = "/proc/self/mountinfo"
) -> None:
    """Refuse a shared/slave bind whose host mount cannot propagate, in dockerd's words."""
    if propagation not in ("shared", "rshared", "slave", "rslave"):
        return
    try:
        mnt, optional = source_mount(source, mountinfo)
    except OSError as e:
        raise InvalidParameter(f"lstat {source}: {os.strerror(e.errno or 0).lower()}") from None
    opts = optional.split()
    shared = any(o.startswith("shared:") for o in opts)
    slave = any(o.startswith("master:") for o in opts)
    if propagation in ("shared", "rshared") and not shared:
        raise InvalidParameter(f"path {source} is mounted on {mnt} but it is not a shared mount")
    if not (shared or slave):
        raise InvalidParameter(
            f"path {source} is mounted on {mnt} but it is not a shared or slave mount"
        )
