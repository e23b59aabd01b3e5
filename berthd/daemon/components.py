"""Versions of the programs berthd drives, for ``docker version``.

Asked of the binaries themselves at start-up (a few ms each, run concurrently) unless
the probe cache holds the answer of the same binary; a program that is missing is simply
not listed.
"""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import dataclass

from berthd.daemon.probecache import ProbeCache

__all__ = ["Component", "probe_components"]

# (component name, program, argv for its version)
PROGRAMS = (
    ("conmon", "conmon", ("--version",)),
    ("runc", "runc", ("--version",)),
    ("crun", "crun", ("--version",)),
    ("docker-init", "tini", ("--version",)),
)


@dataclass(frozen=True)
class Component:
    name: str
    path: str
    version: str
    commit: str


def parse_version_output(text: str) -> tuple[str, str]:
    """``<prog> version X`` (first line) and ``commit: Y`` → (X, Y)."""
    version = commit = ""
    for line in text.splitlines():
        words = line.split()
        if not version and "version" in words:
            i = words.index("version")
            if i + 1 < len(words):
                version = words[i + 1]
        elif line.startswith("commit:"):
            commit = line.partition(":")[2].strip()
    return version, commit


async def _probe(
    cache: ProbeCache, name: str, program: str, args: tuple[str, ...]
) -> Component | None:
    path = shutil.which(program)
    if path is None:
        return None
    key = f"version:{path}"
    known = cache.get(key, path)
    if known is not None:
        return Component(name, path, str(known.get("version", "")), str(known.get("commit", "")))
    try:
        proc = await asyncio.create_subprocess_exec(
            path,
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        out, _ = await asyncio.wait_for(proc.communicate(), 10)
    except (OSError, TimeoutError):
        return None
    version, commit = parse_version_output(out.decode(errors="replace"))
    cache.put(key, path, {"version": version, "commit": commit})
    return Component(name=name, path=path, version=version, commit=commit)


async def probe_components(cache: ProbeCache) -> list[Component]:
    found = await asyncio.gather(*(_probe(cache, *p) for p in PROGRAMS))
    return [c for c in found if c is not None]
