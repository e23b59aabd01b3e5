"""Error kinds.

Code anywhere in berthd raises one of these kinds with dockerd's wording as the
message. Only ``berthd.api.errors`` turns a kind into an HTTP status, in one
table; nothing else picks a status and nothing matches on message text.

The tree::

    BerthdError
    ├── NotFound            404  no such container / image / volume / network / exec
    ├── InvalidParameter    400  the request is malformed or a value is out of range
    ├── Conflict            409  the object's state forbids it (name in use, image in use)
    ├── Unauthorized        401
    ├── Forbidden           403
    ├── NotModified         304  already started / already stopped
    ├── NotImplemented      501  a feature berthd does not have
    ├── Unavailable         503  e.g. swarm endpoints without a swarm
    ├── System              500  the host failed us (runtime, mount, disk)
    └── DataLoss            500  on-disk state is corrupt
"""

from __future__ import annotations

__all__ = [
    "BerthdError",
    "Conflict",
    "DataLoss",
    "Forbidden",
    "InvalidParameter",
    "NotFound",
    "NotImplemented_",
    "NotModified",
    "System",
    "Unauthorized",
    "Unavailable",
]


class BerthdError(Exception):
    """Base of every error kind. ``str(err)`` is the message a client sees."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class NotFound(BerthdError):
    """The named object does not exist."""


class InvalidParameter(BerthdError):
    """The request carries a bad value."""


class Conflict(BerthdError):
    """The object's current state forbids the operation."""


class Unauthorized(BerthdError):
    """Credentials are missing or wrong."""


class Forbidden(BerthdError):
    """The operation is not allowed."""


class NotModified(BerthdError):
    """Nothing to do: the object is already in the asked-for state."""


class NotImplemented_(BerthdError):  # noqa: N801 - the builtin name is taken
    """berthd does not implement this."""


class Unavailable(BerthdError):
    """The service is not available (e.g. swarm endpoints without a swarm)."""


class System(BerthdError):
    """The host failed: a runtime, a mount, the disk."""


class DataLoss(BerthdError):
    """Stored state is corrupt."""
