"""The volume drivers: ``local`` plus legacy plugins, looked up by name on first use.

moby's ``volume/drivers.Store``: a plugin found in the plugin directories is
activated (``/Plugin.Activate``, retried while it starts) and must implement
``VolumeDriver``; once active it is remembered. Listing also scans the
directories, activating without retries, so that ``docker volume ls`` shows
what every plugin has without waiting on one that is down.
"""

from __future__ import annotations

import logging
import threading

from berthd.errdefs import BerthdError, InvalidParameter, NotFound, System
from berthd.volume.driver import Driver
from berthd.volume.local import LocalDriver
from berthd.volume.locks import KeyedLock
from berthd.volume.model import DEFAULT_DRIVER
from berthd.volume.plugins import (
    PluginClient,
    PluginDirs,
    PluginDriver,
    activate,
    find_plugin,
    scan_plugins,
)
from berthd.volume.plugins.adapter import VOLUME_DRIVER

__all__ = ["DriverRegistry"]

log = logging.getLogger("berthd.volume")


class DriverRegistry:
    def __init__(
        self,
        local: LocalDriver,
        plugin_dirs: PluginDirs | None = None,
        plugin_timeout: float = 30.0,
    ) -> None:
        self.local = local
        self.plugin_dirs = plugin_dirs or PluginDirs()
        self.plugin_timeout = plugin_timeout
        self._plugins: dict[str, Driver] = {}
        self._lock = threading.Lock()
        self._activating = KeyedLock()

    def _cached(self, name: str) -> Driver | None:
        if name == DEFAULT_DRIVER:
            return self.local
        with self._lock:
            return self._plugins.get(name)

    def get(self, name: str) -> Driver:
        """The driver called ``name``; activates a plugin the first time."""
        if not name:
            raise InvalidParameter("driver name cannot be empty")
        found = self._cached(name)
        if found is not None:
            return found
        with self._activating.hold(name):
            found = self._cached(name)
            if found is not None:
                return found
            driver = self._activate(name, retry=True)
            with self._lock:
                self._plugins[name] = driver
            return driver

    def _activate(self, name: str, retry: bool) -> Driver:
        prefix = f"error looking up volume plugin {name}: "
        try:
            addr = find_plugin(name, self.plugin_dirs)
        except (OSError, BerthdError) as e:
            raise System(prefix + f"legacy plugin: {e}") from e
        if addr is None:
            raise NotFound(prefix + f'plugin "{name}" not found')
        try:
            client = PluginClient(
                addr, timeout=self.plugin_timeout, retry_timeout=self.plugin_timeout
            )
            implements = activate(client, retry=retry)
        except BerthdError as e:
            raise System(prefix + f"legacy plugin: {e}") from e
        if VOLUME_DRIVER not in implements:
            raise System(prefix + "legacy plugin: Plugin does not implement the requested driver")
        return PluginDriver(name, client)

    def all(self) -> tuple[list[Driver], list[str]]:
        """Every driver: local, the active plugins, and any plugin found by a scan."""
        drivers: list[Driver] = [self.local]
        with self._lock:
            drivers += list(self._plugins.values())
            known = set(self._plugins) | {DEFAULT_DRIVER}
        warnings: list[str] = []
        try:
            names = scan_plugins(self.plugin_dirs)
        except OSError as e:
            names = []
            warnings.append(f"error listing plugins: {e}")
        for name in names:
            if name in known:
                continue
            try:
                driver = self._activate(name, retry=False)
            except BerthdError as e:
                # not a volume plugin, or not answering: not a volume driver
                log.debug("skipping plugin %s: %s", name, e)
                continue
            with self._lock:
                driver = self._plugins.setdefault(name, driver)
            drivers.append(driver)
        return drivers, warnings

    def names(self) -> list[str]:
        """The drivers in use, as /info's ``Plugins.Volume`` lists them."""
        with self._lock:
            return [DEFAULT_DRIVER, *sorted(self._plugins)]
