"""The C library, for the few system calls Python's os module lacks (mount,
umount2, syncfs, inotify). Loaded by name: ``ctypes.util.find_library`` would
run ``ldconfig -p`` in a child process each time it is called."""

from __future__ import annotations

import ctypes

__all__ = ["LIBC"]

LIBC = ctypes.CDLL("libc.so.6", use_errno=True)
