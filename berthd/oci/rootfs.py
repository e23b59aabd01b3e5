"""Read a file inside a container rootfs without ever leaving it.

The rootfs is hostile: ``/etc/passwd`` may be a symlink to ``/etc/shadow`` of
the host, a ``..`` chain, or a FIFO that blocks forever. We resolve every path
component ourselves, relative to directory file descriptors opened with
``O_NOFOLLOW``, treating symlink targets and ``..`` as if the rootfs were ``/``
(what ``openat2(RESOLVE_IN_ROOT)`` or Go's securejoin do), and only read
regular files, with a size cap.
"""

from __future__ import annotations

import errno
import os
import stat

__all__ = ["MAX_FILE_SIZE", "read_file_in_root"]

MAX_FILE_SIZE = 16 * 1024 * 1024
_MAX_LINKS = 40
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _open_in_root(root_fd: int, path: str) -> int:
    """An fd for ``path`` resolved inside the directory ``root_fd``; symlinks stay in."""
    stack: list[int] = []  # fds of the directories below root that we walked into
    parts = [p for p in path.split("/") if p not in ("", ".")]
    links = 0
    try:
        while parts:
            name = parts.pop(0)
            cur = stack[-1] if stack else root_fd
            if name == "..":
                if stack:
                    os.close(stack.pop())
                continue
            st = os.stat(name, dir_fd=cur, follow_symlinks=False)
            if stat.S_ISLNK(st.st_mode):
                links += 1
                if links > _MAX_LINKS:
                    raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path)
                target = os.readlink(name, dir_fd=cur)
                if target.startswith("/"):
                    while stack:
                        os.close(stack.pop())
                parts = [p for p in target.split("/") if p not in ("", ".")] + parts
                continue
            if parts:
                stack.append(os.open(name, _DIR_FLAGS, dir_fd=cur))
                continue
            flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
            return os.open(name, flags, dir_fd=cur)
        return os.dup(stack[-1] if stack else root_fd)
    finally:
        for fd in stack:
            os.close(fd)


def read_file_in_root(root: str, path: str, max_size: int = MAX_FILE_SIZE) -> bytes | None:
    """The bytes of ``path`` inside ``root``, or None if it is missing or not a regular file."""
    try:
        root_fd = os.open(root, _DIR_FLAGS & ~os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        try:
            fd = _open_in_root(root_fd, path)
        except OSError:
            return None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return None
            chunks: list[bytes] = []
            total = 0
            while total <= max_size:
                b = os.read(fd, 65536)
                if not b:
                    break
                chunks.append(b)
                total += len(b)
            return b"".join(chunks)[:max_size]
        finally:
            os.close(fd)
    finally:
        os.close(root_fd)
