"""The OCI runtimes the daemon can use, and which one is the default.

Stock runtimes (runc, crun) are the ones installed on the host; each is
probed at start-up by really running a container, because an installed
runtime may still not work here (crun 1.8.1 refuses cgroup-hybrid hosts). The
answer is kept in the probe cache until the binary changes (or the host reboots).
The default is ``--default-runtime`` if set, else the first that works.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from pathlib import Path

from berthd.config import STOCK_RUNTIMES, DaemonConfig
from berthd.daemon.probecache import ProbeCache
from berthd.runtime.oci_runtime import OCIRuntime, ProbeResult, choose_default

__all__ = ["RuntimeSet", "probe_runtimes"]

log = logging.getLogger("berthd.daemon")


class RuntimeSet:
    def __init__(self, runtimes: dict[str, OCIRuntime], probes: list[ProbeResult]) -> None:
        self.runtimes = runtimes
        self.probes = probes
        working = [p for p in probes if p.ok]
        self.probed_default = choose_default(probes) if working else ""

    def apply_config(self, cfg: DaemonConfig) -> None:
        """(Re)register the configured runtimes (start-up and SIGHUP)."""
        for name in [n for n in self.runtimes if n not in STOCK_RUNTIMES]:
            if name not in cfg.runtimes:
                del self.runtimes[name]
        for name, spec in cfg.runtimes.items():
            self.runtimes[name] = OCIRuntime.for_exec_root(
                name, spec.path, Path(cfg.exec_root), spec.runtime_args
            )

    def default(self, cfg: DaemonConfig) -> str:
        return cfg.default_runtime or self.probed_default


async def _probe(rt: OCIRuntime, cfg: DaemonConfig, cache: ProbeCache) -> ProbeResult:
    key = f"runtime:{rt.path}"
    known = cache.get(key, rt.path)
    if known is not None:
        return ProbeResult(
            rt.name,
            known.get("ok") is True,
            str(known.get("version", "")),
            str(known.get("reason", "")),
        )
    scratch = Path(cfg.exec_root) / "probe"
    await asyncio.to_thread(scratch.mkdir, parents=True, exist_ok=True)
    p = await rt.probe(scratch, cfg.cgroup_parent)
    cache.put(key, rt.path, {"ok": p.ok, "version": p.version, "reason": p.reason})
    return p


async def probe_runtimes(cfg: DaemonConfig, cache: ProbeCache) -> RuntimeSet:
    runtimes: dict[str, OCIRuntime] = {}
    for name in STOCK_RUNTIMES:
        path = shutil.which(name)
        if path is not None:
            runtimes[name] = OCIRuntime.for_exec_root(name, path, Path(cfg.exec_root))
    probes = list(await asyncio.gather(*(_probe(rt, cfg, cache) for rt in runtimes.values())))
    for p in probes:
        if p.ok:
            log.info("runtime %s %s works on this host", p.name, p.version)
        else:
            log.warning("runtime %s does not work on this host: %s", p.name, p.reason)
    rs = RuntimeSet(runtimes, probes)
    rs.apply_config(cfg)
    return rs
