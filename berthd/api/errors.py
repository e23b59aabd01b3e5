"""The one table from error kind to HTTP status.

Handlers never choose a status for a failure: they let the kind raised below
them travel up, and the error middleware asks this module. The most specific
kind wins (the class's MRO is walked), so a subclass of NotFound is a 404
without being listed.
"""

from __future__ import annotations

from berthd import errdefs

__all__ = ["STATUS_BY_KIND", "status_for"]

STATUS_BY_KIND: dict[type[BaseException], int] = {
    errdefs.NotFound: 404,
    errdefs.InvalidParameter: 400,
    errdefs.Conflict: 409,
    errdefs.Unauthorized: 401,
    errdefs.Forbidden: 403,
    errdefs.NotModified: 304,
    errdefs.NotImplemented_: 501,
    errdefs.Unavailable: 503,
    errdefs.System: 500,
    errdefs.DataLoss: 500,
}


def status_for(exc: BaseException) -> int:
    """The HTTP status for an exception; anything unknown is a 500."""
    for cls in type(exc).__mro__:
        status = STATUS_BY_KIND.get(cls)
        if status is not None:
            return status
    return 500
