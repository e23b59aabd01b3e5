"""dockerd's classic build cache (moby ``image/cache``).

A step hits when a child of the current image was built locally, for this
platform, with an equal probe config (the container config whose ``Cmd`` is the
step's history line); the newest such child wins. ``--cache-from`` images are
matched by history instead: the current image's history must be a prefix of the
source's and the next entry's ``created_by`` must be the probe's ``Cmd`` joined.
"""

from __future__ import annotations

import json

from berthd import errdefs
from berthd.builder.backend import Backend, BaseImage
from berthd.builder.runconfig import RunConfig

__all__ = ["ImageProber", "compare"]


def compare(a: RunConfig, b: RunConfig) -> bool:
    """``cache.compare``: the fields a cache hit must share."""
    if (a.env or []) != (b.env or []) or (a.on_build or []) != (b.on_build or []):
        return False
    if (a.cmd or []) != (b.cmd or []) or (a.entrypoint or []) != (b.entrypoint or []):
        return False
    if (a.shell or []) != (b.shell or []):
        return False
    if set(a.exposed_ports or {}) != set(b.exposed_ports or {}):
        return False
    if set(a.volumes or {}) != set(b.volumes or {}):
        return False
    if (a.labels or {}) != (b.labels or {}):
        return False
    flags = (
        "attach_stdin",
        "attach_stdout",
        "attach_stderr",
        "network_disabled",
        "tty",
        "open_stdin",
        "stdin_once",
        "args_escaped",
        "user",
        "working_dir",
        "stop_signal",
        "stop_timeout",
    )
    if any(getattr(a, f) != getattr(b, f) for f in flags):
        return False
    ha, hb = a.healthcheck, b.healthcheck
    if (ha is None) != (hb is None):
        return False
    return ha is None or hb is None or ha == hb


def _platform_matches(img: BaseImage, os_: str, arch: str) -> bool:
    if not img.os and not img.architecture:
        return False
    return img.os == os_ and (not arch or img.architecture == arch)


class ImageProber:
    """``imageProber``: cache lookups for one build (none with ``nocache``)."""

    def __init__(self, backend: Backend, cache_from: list[BaseImage], nocache: bool) -> None:
        self.backend = backend
        self.sources = list(cache_from)
        self.nocache = nocache

    async def probe(self, parent: str, probe: RunConfig, os_: str, arch: str) -> str:
        if self.nocache:
            return ""
        local = await self._local(parent, probe, os_, arch)
        if not self.sources:
            return local
        if local:
            # with --cache-from a local hit counts only on the way to a source image
            for source in self.sources:
                if await self._is_ancestor(local, source.id):
                    return local
        return await self._from_sources(parent, probe)

    async def _is_ancestor(self, ancestor: str, image_id: str) -> bool:
        seen: set[str] = set()
        current = image_id
        while current and current not in seen:
            seen.add(current)
            try:
                current = (await self.backend.get_image(current)).parent
            except errdefs.BerthdError:
                return False
            if current == ancestor:
                return True
        return False

    async def _local(self, parent: str, probe: RunConfig, os_: str, arch: str) -> str:
        best: BaseImage | None = None
        for img in await self.backend.children(parent):
            if not img.built_locally or not _platform_matches(img, os_, arch):
                continue
            if not compare(RunConfig.from_api(img.container_config), probe):
                continue
            if best is None or img.created > best.created:
                best = img
        return best.id if best is not None else ""

    async def _from_sources(self, parent_id: str, probe: RunConfig) -> str:
        parent: BaseImage | None = None
        n = 0
        if parent_id:
            parent = await self.backend.get_image(parent_id)
            n = len(parent.history)
        line = " ".join(probe.cmd or [])
        for target in self.sources:
            if not _valid_parent(target, parent) or len(target.history) <= n:
                continue
            if str(target.history[n].get("created_by", "")) != line:
                continue
            if len(target.history) - 1 == n:
                if parent is not None:
                    await self.backend.set_parent(target.id, parent.id)
                return target.id
            image_id = await self._restore(parent, target, probe, n)
            self.sources = [target]
            return image_id
        return ""

    async def _restore(
        self, parent: BaseImage | None, target: BaseImage, probe: RunConfig, n: int
    ) -> str:
        history = list(parent.history) if parent else []
        diff_ids = list(parent.diff_ids) if parent else []
        entry = target.history[n]
        history.append(entry)
        if not entry.get("empty_layer"):
            index = sum(1 for h in target.history[:n] if not h.get("empty_layer"))
            diff_ids.append(target.diff_ids[index])
        doc: dict[str, object] = {
            "architecture": target.architecture,
            "config": probe.to_api(),
            "created": entry.get("created", target.created),
            "history": history,
            "os": target.os,
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }
        raw = json.dumps(doc, separators=(",", ":")).encode()
        return await self.backend.restore_cached(raw, parent.id if parent else "")


def _valid_parent(img: BaseImage, parent: BaseImage | None) -> bool:
    if not img.history:
        return False
    if parent is None or (not parent.history and not parent.diff_ids):
        return True
    if len(parent.history) >= len(img.history) or len(parent.diff_ids) > len(img.diff_ids):
        return False
    if any(h != img.history[i] for i, h in enumerate(parent.history)):
        return False
    return all(d == img.diff_ids[i] for i, d in enumerate(parent.diff_ids))
