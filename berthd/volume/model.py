"""The volume model shared by the store, the drivers and the daemon service.

A driver knows a volume by name and where its data is (``DriverVolume``); the
store adds what the daemon records about it (labels, options, scope) and hands
out ``Volume``. Both are immutable snapshots: the store owns the live state.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from berthd.errdefs import BerthdError

__all__ = [
    "ANONYMOUS_LABEL",
    "DEFAULT_DRIVER",
    "GLOBAL_SCOPE",
    "LOCAL_SCOPE",
    "DriverVolume",
    "Volume",
    "op_error",
]

DEFAULT_DRIVER = "local"
LOCAL_SCOPE = "local"
GLOBAL_SCOPE = "global"

# Set on volumes created without a name (moby's service.AnonymousLabel); prune
# removes only these unless asked for all.
ANONYMOUS_LABEL = "com.docker.volume.anonymous"


@dataclass(frozen=True)
class DriverVolume:
    """What a driver reports about one of its volumes."""

    name: str
    mountpoint: str = ""
    created_at: str = ""  # RFC 3339, as the API shows it; "" if the driver has none
    status: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Volume:
    """A volume as the store knows it: the driver's view plus the daemon's record.

    ``labels``/``options`` keep None apart from {} because the API does
    (``"Labels": null`` for a volume created without the field).
    """

    name: str
    driver: str
    mountpoint: str
    created_at: str
    scope: str = LOCAL_SCOPE
    labels: Mapping[str, str] | None = None
    options: Mapping[str, str] | None = None
    status: Mapping[str, Any] | None = field(default=None, compare=False)

    @property
    def anonymous(self) -> bool:
        return self.labels is not None and ANONYMOUS_LABEL in self.labels

    def to_api(self, with_status: bool = False) -> dict[str, Any]:
        """The Engine API's Volume object (UsageData is added by ``system df``)."""
        out: dict[str, Any] = {
            "CreatedAt": self.created_at,
            "Driver": self.driver,
            "Labels": dict(self.labels) if self.labels is not None else None,
            "Mountpoint": self.mountpoint,
            "Name": self.name,
            "Options": dict(self.options) if self.options is not None else None,
            "Scope": self.scope,
        }
        if with_status and self.status:
            out["Status"] = dict(self.status)
        return out


def op_error(
    err: BerthdError, op: str, name: str = "", refs: list[str] | None = None
) -> BerthdError:
    """moby's ``OpErr``: ``<op> <name>: <cause>[ - [ref, ref]]``, keeping the kind.

    Clients show this text verbatim ("remove v: volume is in use - [abc]"), and
    the kind (not the text) decides the status.
    """
    msg = op + (" " + name if name else "") + ": " + err.message
    if refs:
        msg += " - [" + ", ".join(refs) + "]"
    wrapped = type(err)(msg)
    wrapped.__cause__ = err
    return wrapped
