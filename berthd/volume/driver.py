"""The volume driver contract: what the store asks of ``local`` and of plugins.

Drivers are blocking (file system work, mount(8), HTTP to a plugin socket);
the store is called from worker threads, never from the event loop. A driver
raises errdefs kinds with the bare cause ("no such volume", "invalid option:
…"); the store adds the ``<op> <name>:`` prefix.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from berthd.volume.model import DriverVolume

__all__ = ["Driver"]


class Driver(Protocol):
    @property
    def name(self) -> str: ...

    def scope(self) -> str:
        """``local`` or ``global`` (plugins say which in Capabilities)."""

    def create(self, name: str, opts: Mapping[str, str] | None) -> DriverVolume:
        """Create the volume, or return it if the driver already has it."""

    def remove(self, name: str) -> None: ...

    def get(self, name: str) -> DriverVolume | None:
        """The volume, or None if the driver does not have it.

        Raises only when the driver cannot be asked (a plugin is down), so
        that the store never forgets a volume because its plugin was away.
        """

    def list(self) -> list[DriverVolume]: ...

    def path(self, name: str) -> str:
        """Where the data is when mounted (may be "" for a plugin until mounted)."""

    def mount(self, name: str, ref: str) -> str:
        """Make the data available for ``ref`` (ref-counted); returns the host path."""

    def unmount(self, name: str, ref: str) -> None: ...

    def live_restore(self, name: str, ref: str) -> None:
        """After a daemon restart: count ``ref`` as a mount that is still in place."""
