"""COPY/ADD into a mounted layer, chrooted (as ``docker cp`` does, and for the same reason).

The tree is an image's: any directory on the way may be a symlink to ``/``.
A fresh ``python -I -S`` child gets the part tars as open file descriptors,
``chroot``\\s into the mounted layer, creates missing destination directories
(0755, owned by the ``--chown`` identity), decides whether a single file lands
*in* an existing directory or *as* the destination, removes what an entry
replaces (a symlink is replaced, never written through) and extracts.
Blocking: the backend runs it in a thread.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile

from berthd import errdefs
from berthd.builder.backend import CopyPart

__all__ = ["copy_parts"]

_CHILD = r"""
import json, os, shutil, stat, sys, tarfile
root, manifest = sys.argv[1], json.loads(sys.argv[2])
uid, gid = manifest["uid"], manifest["gid"]
files = [os.fdopen(p["fd"], "rb") for p in manifest["parts"]]
os.chroot(root)
os.chdir("/")
os.umask(0)

def fail(msg):
    sys.stderr.write(msg)
    sys.exit(3)

def mkdirs(path):
    cur = "/"
    for comp in [c for c in path.split("/") if c]:
        cur = os.path.join(cur, comp)
        try:
            st = os.stat(cur)
        except FileNotFoundError:
            os.mkdir(cur, 0o755)
            os.chown(cur, uid, gid)
            continue
        if not stat.S_ISDIR(st.st_mode):
            fail(f"mkdir {cur}: not a directory")

def isdir(path):
    try:
        return stat.S_ISDIR(os.stat(path).st_mode)
    except OSError:
        return False

for part, fobj in zip(manifest["parts"], files):
    dest, mode, name = part["dest"], part["mode"], part["name"]
    rename = None
    if mode == "auto" and not (dest.endswith("/") or isdir(dest)):
        target = os.path.dirname(dest.rstrip("/")) or "/"
        rename = os.path.basename(dest.rstrip("/"))
    else:
        target = dest
    mkdirs(target)
    os.chdir(target)

    def keep(member, path, rename=rename):
        parts = [p for p in member.name.split("/") if p not in ("", ".")]
        if ".." in parts:
            raise tarfile.FilterError(f"{member.name!r} is outside of the destination")
        if rename is not None and len(parts) == 1:
            parts = [rename]
        if not parts:
            return None
        member = member.replace(name="/".join(parts), deep=False)
        cap = member.pax_headers.get("SCHILY.xattr.security.capability")
        if cap is not None:
            caps.append((member.name, cap.encode("utf-8", "surrogateescape")))
        try:
            st = os.lstat(member.name)
        except OSError:
            st = None
        if st is not None and not (stat.S_ISDIR(st.st_mode) and member.isdir()):
            if stat.S_ISDIR(st.st_mode):
                shutil.rmtree(member.name)
            else:
                os.unlink(member.name)
        return member

    caps = []
    with tarfile.open(fileobj=fobj, mode="r|") as tf:
        tf.extractall(".", numeric_owner=True, filter=keep)
    for name, value in caps:  # after the owner is set: chown clears capabilities
        os.setxattr(name, "security.capability", value, follow_symlinks=False)
    os.chdir("/")
"""


def copy_parts(root: str, parts: list[CopyPart], uid: int, gid: int) -> None:
    """Extract every part into ``root`` (a mounted layer), chrooted."""
    files = [open(p.tar_path, "rb") for p in parts]  # noqa: SIM115 - closed below
    try:
        manifest = {
            "uid": uid,
            "gid": gid,
            "parts": [
                {"fd": f.fileno(), "dest": p.dest, "mode": p.mode, "name": p.name}
                for f, p in zip(files, parts, strict=True)
            ],
        }
        with tempfile.TemporaryFile() as err:
            proc = subprocess.run(
                [sys.executable, "-I", "-S", "-c", _CHILD, root, json.dumps(manifest)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
                pass_fds=[f.fileno() for f in files],
                cwd="/",
                check=False,
            )
            err.seek(0)
            msg = err.read().decode(errors="replace").strip()
    finally:
        for f in files:
            f.close()
    if proc.returncode != 0:
        last = msg.splitlines()[-1] if msg else f"exit status {proc.returncode}"
        raise errdefs.InvalidParameter(f"failed to copy files: {last}")
