"""A legacy plugin as a volume ``Driver``: the VolumeDriver protocol.

``/VolumeDriver.Create|Remove|Get|List|Path|Mount|Unmount|Capabilities``, each a
JSON request with a JSON answer whose ``Err`` is non-empty on failure (moby's
``volume/drivers/proxy.go`` + ``adapter.go``). A plugin's answers are trusted
only as far as their types: anything malformed is a plugin error.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any

from berthd.errdefs import System
from berthd.volume.model import GLOBAL_SCOPE, LOCAL_SCOPE, DriverVolume
from berthd.volume.plugins.client import PluginClient, PluginError

__all__ = ["VOLUME_DRIVER", "PluginDriver", "activate"]

log = logging.getLogger("berthd.volume")

VOLUME_DRIVER = "VolumeDriver"


def activate(client: PluginClient, retry: bool = True) -> list[str]:
    """``/Plugin.Activate``: the subsystems the plugin implements."""
    ret = client.call("Plugin.Activate", None, retry=retry)
    implements = ret.get("Implements")
    if not isinstance(implements, list):
        return []
    return [str(i) for i in implements]


def _volume(raw: Any) -> DriverVolume | None:
    if not isinstance(raw, dict) or not isinstance(raw.get("Name"), str):
        return None
    status = raw.get("Status")
    return DriverVolume(
        name=raw["Name"],
        mountpoint=str(raw.get("Mountpoint") or ""),
        created_at=str(raw.get("CreatedAt") or ""),
        status=status if isinstance(status, dict) else None,
    )


class PluginDriver:
    def __init__(self, name: str, client: PluginClient) -> None:
        self._name = name
        self.client = client
        self._scope: str | None = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self._name

    def _call(self, method: str, args: dict[str, Any], retry: bool = True) -> dict[str, Any]:
        ret = self.client.call("VolumeDriver." + method, args, retry=retry)
        err = ret.get("Err")
        if err:
            raise PluginError(str(err))
        return ret

    def scope(self) -> str:
        with self._lock:
            if self._scope is not None:
                return self._scope
        try:
            # no retries: optional, and asked while listing, where a plugin
            # that is down must not cost a back-off per volume
            ret = self._call("Capabilities", {}, retry=False)
        except System as e:
            # Capabilities is optional; a plugin without it is local-only (moby)
            log.warning(
                "Volume driver %s returned an error while trying to query its capabilities, using default capabilities: %s",
                self._name,
                e,
            )
            return LOCAL_SCOPE
        caps = ret.get("Capabilities")
        scope = str(caps.get("Scope") or "") if isinstance(caps, dict) else ""
        scope = scope.lower() or LOCAL_SCOPE
        if scope not in (LOCAL_SCOPE, GLOBAL_SCOPE):
            log.warning("Volume driver %r returned an invalid scope: %r", self._name, scope)
            scope = LOCAL_SCOPE
        with self._lock:
            self._scope = scope
        return scope

    def create(self, name: str, opts: Mapping[str, str] | None) -> DriverVolume:
        self._call("Create", {"Name": name, "Opts": dict(opts) if opts is not None else None})
        return DriverVolume(name=name)

    def remove(self, name: str) -> None:
        self._call("Remove", {"Name": name})

    def get(self, name: str) -> DriverVolume | None:
        try:
            ret = self._call("Get", {"Name": name})
        except PluginError as e:
            # "no such volume" and friends: the driver does not have it
            log.debug("volume %s: plugin %s: %s", name, self._name, e)
            return None
        return _volume(ret.get("Volume"))

    def list(self) -> list[DriverVolume]:
        ret = self._call("List", {})
        raw = ret.get("Volumes")
        if not isinstance(raw, list):
            return []
        return [v for v in (_volume(r) for r in raw) if v is not None]

    def path(self, name: str) -> str:
        return str(self._call("Path", {"Name": name}).get("Mountpoint") or "")

    def mount(self, name: str, ref: str) -> str:
        return str(self._call("Mount", {"Name": name, "ID": ref}).get("Mountpoint") or "")

    def unmount(self, name: str, ref: str) -> None:
        self._call("Unmount", {"Name": name, "ID": ref})

    def live_restore(self, name: str, ref: str) -> None:
        """Plugins keep their own mount counts; nothing to restore here."""
