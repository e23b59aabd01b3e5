"""The child process behind ``docker cp``: a private view of one container's file system.

``docker cp`` reads and writes a tree the container's processes control: any
directory on the way may be a symlink to ``/`` (CVE-2018-15664) or be swapped
for one mid-copy, so no path check made from the daemon's root can be trusted.
Like dockerd's ``openContainerFS``, this child makes a mount namespace of its
own, clones the container's volumes and bind mounts (``open_tree``), then
``chroot``\\s into the container's root and moves them to their destinations:
every path, absolute symlinks and ``..`` included, then resolves inside the
container, and the volumes are seen where the container sees them. The mounts
die with the child; nothing is ever mounted in the daemon's namespace.

It runs as ``python -I -S cpchild.py <request JSON>`` (a fresh interpreter, not
a ``fork()`` of the threaded daemon) and imports only the standard library and
berthd's stdlib-only :mod:`berthd.lib.fdtar` and :mod:`berthd.lib.fdtree` (from
the request's ``pythonpath``, before the chroot).
Protocol on stdout: one JSON line (``{"stat": …}`` or ``{"error": …, "kind": …}``);
for ``get`` the tar follows; ``put`` reads the tar from stdin after its first
line and ends with a second JSON line.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import posixpath
import stat
import sys
import tarfile
import time
from collections.abc import Iterator
from typing import IO, Any

__all__ = [
    "go_base",
    "go_file_mode",
    "in_mount",
    "preserve_trailing_dot_or_separator",
    "rebase_name",
]

CLONE_NEWNS = 0x00020000
MS_REC = 0x4000
MS_PRIVATE = 1 << 18
AT_FDCWD = -100
AT_EMPTY_PATH = 0x1000
AT_RECURSIVE = 0x8000
OPEN_TREE_CLONE = 1
OPEN_TREE_CLOEXEC = 0o2000000
MOVE_MOUNT_F_EMPTY_PATH = 0x4
MOUNT_ATTR_RDONLY = 0x1
# syscall numbers >= 424 are the same on every architecture
SYS_OPEN_TREE = 428
SYS_MOVE_MOUNT = 429
SYS_MOUNT_SETATTR = 442

# Go's os.FileMode type bits (the stat header carries Go's mode, not st_mode)
GO_DIR = 1 << 31
GO_SYMLINK = 1 << 27
GO_DEVICE = 1 << 26
GO_PIPE = 1 << 25
GO_SOCKET = 1 << 24
GO_SETUID = 1 << 23
GO_SETGID = 1 << 22
GO_CHARDEV = 1 << 21
GO_STICKY = 1 << 20
GO_IRREGULAR = 1 << 19

CHUNK = 1 << 16


# -- pure helpers (unit-tested) -------------------------------------------------------------
def go_file_mode(st_mode: int) -> int:
    """``os.FileMode`` of an ``st_mode``, as Go's ``fillFileStatFromSys`` makes it."""
    mode = st_mode & 0o777
    kind = stat.S_IFMT(st_mode)
    if kind == stat.S_IFDIR:
        mode |= GO_DIR
    elif kind == stat.S_IFLNK:
        mode |= GO_SYMLINK
    elif kind == stat.S_IFIFO:
        mode |= GO_PIPE
    elif kind == stat.S_IFSOCK:
        mode |= GO_SOCKET
    elif kind == stat.S_IFBLK:
        mode |= GO_DEVICE
    elif kind == stat.S_IFCHR:
        mode |= GO_DEVICE | GO_CHARDEV
    if st_mode & stat.S_ISUID:
        mode |= GO_SETUID
    if st_mode & stat.S_ISGID:
        mode |= GO_SETGID
    if st_mode & stat.S_ISVTX:
        mode |= GO_STICKY
    return mode


def go_base(path: str) -> str:
    """Go's ``filepath.Base``: trailing slashes dropped; ``/`` for the root."""
    if path == "":
        return "."
    stripped = path.rstrip("/")
    if stripped == "":
        return "/"
    return stripped.rsplit("/", 1)[-1]


def preserve_trailing_dot_or_separator(cleaned: str, original: str) -> str:
    """moby's ``archive.PreserveTrailingDotOrSeparator``: ``/.`` and ``/`` mean things."""
    if original.endswith("/.") or original == ".":
        if not cleaned.endswith("/"):
            cleaned += "/"
        cleaned += "."
    if original.endswith("/") and not cleaned.endswith("/"):
        cleaned += "/"
    return cleaned


def abs_path(path: str) -> str:
    """The requested path as an absolute container path (``filepath.Join("/", p)``)."""
    cleaned = posixpath.normpath("/" + path)
    if cleaned.startswith("//"):  # POSIX keeps a leading "//"; Go's Clean does not
        cleaned = "/" + cleaned.lstrip("/")
    return preserve_trailing_dot_or_separator(cleaned, path)


def rebase_name(path: str) -> str:
    """The name the archive's top entry gets: the base of what was asked for."""
    base = go_base(path)
    return "" if base == "/" else base


def in_mount(dest: str, path: str) -> bool:
    """dockerd's ``HasResource``: ``path`` is ``dest`` or below it."""
    rel = posixpath.relpath(posixpath.normpath(path), posixpath.normpath(dest))
    return rel == "." or not (rel == ".." or rel.startswith("../"))


def _go_error(op: str, path: str, err: OSError) -> str:
    text = os.strerror(err.errno) if err.errno else str(err)
    return f"{op} {path}: {text[:1].lower()}{text[1:]}"


def _rfc3339(ns: int) -> str:
    """Go's RFC3339Nano in UTC."""
    whole, nanos = divmod(ns, 1_000_000_000)
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
    if nanos:
        text += "." + f"{nanos:09d}".rstrip("0")
    return text + "Z"


# -- the container's view --------------------------------------------------------------------
class _Fail(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def _libc() -> Any:
    return ctypes.CDLL(None, use_errno=True)


def _check(rc: int, what: str) -> int:
    if rc < 0:
        err = ctypes.get_errno()
        raise _Fail("system", f"{what}: {os.strerror(err)}")
    return rc


class _MountAttr(ctypes.Structure):
    _fields_ = [
        ("attr_set", ctypes.c_uint64),
        ("attr_clr", ctypes.c_uint64),
        ("propagation", ctypes.c_uint64),
        ("userns_fd", ctypes.c_uint64),
    ]


def enter_container(root: str, mounts: list[dict[str, Any]], create: bool) -> None:
    """Private mount namespace, volumes cloned, chroot into ``root``, volumes placed.

    ``create``: make missing mount points, as the runtime would at start and as
    dockerd's ``openContainerFS`` does for every operation (so a volume of a
    container never started is seen); otherwise such a mount is skipped.
    """
    libc = _libc()
    libc.syscall.restype = ctypes.c_long
    _check(libc.unshare(CLONE_NEWNS), "unshare")
    _check(libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None), "make / private")
    trees: list[tuple[str, int, bool]] = []
    for m in sorted(mounts, key=lambda m: posixpath.normpath(m["dest"]).count("/")):
        flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE
        src = os.fsencode(m["source"])
        fd = libc.syscall(SYS_OPEN_TREE, AT_FDCWD, src, flags)
        if fd < 0:
            continue  # a source that went away: the copy sees the directory below
        if not m.get("rw", True):
            attr = _MountAttr(MOUNT_ATTR_RDONLY, 0, 0, 0)
            libc.syscall(
                SYS_MOUNT_SETATTR,
                fd,
                b"",
                AT_EMPTY_PATH | AT_RECURSIVE,
                ctypes.byref(attr),
                ctypes.sizeof(attr),
            )
        is_dir = stat.S_ISDIR(os.fstat(fd).st_mode)
        trees.append((m["dest"], fd, is_dir))
    os.chroot(root)
    os.chdir("/")
    for dest, fd, is_dir in trees:
        if not os.path.lexists(dest):
            if not create:
                continue
            try:
                if is_dir:
                    os.makedirs(dest, 0o755, exist_ok=True)
                else:
                    os.makedirs(posixpath.dirname(dest), 0o755, exist_ok=True)
                    os.close(os.open(dest, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o755))
            except OSError:
                continue
        rc = libc.syscall(
            SYS_MOVE_MOUNT, fd, b"", AT_FDCWD, os.fsencode(dest), MOVE_MOUNT_F_EMPTY_PATH
        )
        _check(rc, f"mount {dest}")
        os.close(fd)


def stat_path(path: str) -> dict[str, Any]:
    """The ``X-Docker-Container-Path-Stat`` object (inside the container's root)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        raise _Fail("notfound", path) from None
    except OSError as e:
        raise _Fail("system", _go_error("lstat", path, e)) from None
    target = ""
    if stat.S_ISLNK(st.st_mode):
        target = os.path.realpath(path)  # in the chroot: resolved in the container's scope
    return {
        "name": go_base(path),
        "size": st.st_size,
        "mode": go_file_mode(st.st_mode),
        "mtime": _rfc3339(st.st_mtime_ns),
        "linkTarget": target,
    }


def write_tar(path: str, st: dict[str, Any], out: IO[bytes]) -> None:
    """Tar ``path``: a directory's tree, or the one entry, named after what was asked.

    The tree is walked iteratively by directory fds (``berthd.lib.fdtar``), so a
    container's tree of any depth and path length is archived whole.
    """
    from berthd.lib.fdtar import add_tree

    is_dir = bool(st["mode"] & GO_DIR)
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tf:
        add_tree(tf, path, rebase_name(path), recursive=is_dir)


def _lookup(path: str, key: str, by_name: bool) -> list[str] | None:
    try:
        with open(path) as f:
            for line in f:
                fields = line.rstrip("\n").split(":")
                if len(fields) >= 3 and fields[0 if by_name else 2] == key:
                    return fields
    except OSError:
        return None
    return None


def container_owner(user: str) -> tuple[int, int]:
    """``docker cp -a``: uid and gid of the container's ``Config.User`` (its passwd)."""
    name, _, group = user.partition(":")
    pw = _lookup("/etc/passwd", name, by_name=not name.isdigit())
    if pw is None:
        if not name.isdigit():
            raise _Fail("system", f"user: unknown user {name}")
        uid, gid = int(name), int(name)
    else:
        uid, gid = int(pw[2]), int(pw[3])
    if group:
        gr = _lookup("/etc/group", group, by_name=not group.isdigit())
        if gr is None and not group.isdigit():
            raise _Fail("system", f"group: unknown group {group}")
        gid = int(gr[2]) if gr is not None else int(group)
    return uid, gid


def _members(
    tf: tarfile.TarFile, owner: tuple[int, int] | None, no_overwrite: bool, top: int
) -> Iterator[tarfile.TarInfo]:
    """The members, each checked, placed for extraction (``berthd.lib.fdtar.place``:
    long names are written from inside their parent directory)."""
    from berthd.lib.fdtar import place

    def cleaned() -> Iterator[tarfile.TarInfo]:
        for member in tf:
            parts = [p for p in member.name.split("/") if p not in ("", ".")]
            if ".." in parts:
                raise _Fail(
                    "invalid", f"invalid archive entry {member.name!r}: outside of the target"
                )
            member.name = "/".join(parts) or "."
            if owner is not None:
                member.uid, member.gid = owner
            yield member

    def conflict(member: tarfile.TarInfo, path: str) -> None:
        if not no_overwrite or not path:
            return
        try:
            existing = os.lstat(member.name)
        except OSError:
            return
        if stat.S_ISDIR(existing.st_mode) and not member.isdir():
            raise _Fail("invalid", f"cannot overwrite directory {'/' + path!r} with non-directory")
        if not stat.S_ISDIR(existing.st_mode) and member.isdir():
            raise _Fail("invalid", f"cannot overwrite non-directory {'/' + path!r} with directory")

    return place(cleaned(), top, conflict)


def _keep(member: tarfile.TarInfo, path: str) -> tarfile.TarInfo:
    return member  # the chroot is the safety; owners and modes are kept as sent


def prepare_put(req: dict[str, Any]) -> str:
    """Resolve and check the extraction point (dockerd's ``containerExtractToDir``)."""
    path = req["path"]
    try:
        resolved = os.path.realpath("/" + path, strict=True)
    except FileNotFoundError:
        raise _Fail("notfound", path) from None
    except OSError as e:
        raise _Fail("system", _go_error("lstat", path, e)) from None
    target = preserve_trailing_dot_or_separator(resolved, path)
    try:
        st = os.lstat(target)
    except OSError as e:
        raise _Fail("system", _go_error("lstat", target, e)) from None
    if not stat.S_ISDIR(st.st_mode):
        raise _Fail("invalid", "extraction point is not a directory")
    to_volume = False
    for m in req.get("mounts") or []:
        if in_mount(m["dest"], resolved):
            if not m.get("rw", True):
                raise _Fail("invalid", "mounted volume is marked read-only")
            to_volume = True
            break
    if not to_volume and req.get("readonly_rootfs"):
        raise _Fail("invalid", "container rootfs is marked read-only")
    return target


def extract(req: dict[str, Any], target: str, src: IO[bytes]) -> None:
    owner = container_owner(req["user"]) if req.get("copy_uid_gid") and req.get("user") else None
    os.chdir(target)
    top = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        with tarfile.open(fileobj=src, mode="r|*") as tf:
            tf.extractall(
                ".",
                members=_members(tf, owner, bool(req.get("no_overwrite_dir_non_dir")), top),
                numeric_owner=True,
                filter=_keep,
            )
    except tarfile.TarError as e:
        raise _Fail("invalid", f"Error processing tar file({e})") from None
    except OSError as e:
        kind = "invalid" if e.errno == errno.ENAMETOOLONG else "system"
        raise _Fail(kind, f"Error processing tar file({e})") from None
    except RecursionError:  # tarfile's makedirs of a path past PATH_MAX
        raise _Fail("invalid", "Error processing tar file(file name too long)") from None
    finally:
        os.close(top)


def _line(out: IO[bytes], obj: dict[str, Any]) -> None:
    out.write(json.dumps(obj).encode() + b"\n")
    out.flush()


def main(argv: list[str]) -> int:
    req: dict[str, Any] = json.loads(argv[1])
    out = sys.stdout.buffer
    op = req["op"]
    if req.get("pythonpath"):  # berthd's own stdlib-only helpers, imported before the chroot
        sys.path.insert(0, req["pythonpath"])
        import berthd.lib.fdtar  # noqa: F401
    try:
        enter_container(req["root"], req.get("mounts") or [], create=True)
        if op == "put":
            target = prepare_put(req)
            _line(out, {"ready": True})
            extract(req, target, sys.stdin.buffer)
            _line(out, {"done": True})
            return 0
        path = abs_path(req["path"])
        st = stat_path(path)
        _line(out, {"stat": st})
        if op == "get":
            write_tar(path, st, out)
            out.flush()
        return 0
    except _Fail as f:
        _line(out, {"error": str(f), "kind": f.kind})
        return 3
    except OSError as e:
        _line(out, {"error": str(e), "kind": "system"})
        return 3


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except BrokenPipeError:
        sys.exit(errno.EPIPE)
