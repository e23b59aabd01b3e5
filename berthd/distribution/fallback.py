"""The endpoint walk that pull and push share (moby ``distribution/pull.go``/``push.go``).

Endpoints come in order (mirrors, https, then http for insecure hosts). An attempt that
fails in a way that lets the walk go on raises :class:`Fallback`; an https endpoint that
answered (``transport_ok``) marks its host as TLS, so the http twin is skipped. Any other
error stops the walk where it is raised. An attempt reaches its endpoint inside
:func:`connecting` (every error falls back) and transfers inside :func:`transferring`
(only the errors moby's ``continueOnError`` allows fall back).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator, Sequence
from urllib.parse import urlsplit

from berthd.distribution.errors import continue_on_error
from berthd.distribution.remote import Endpoint

__all__ = ["Fallback", "connecting", "transferring", "walk_endpoints"]

log = logging.getLogger(__name__)


class Fallback(Exception):
    """Try the next endpoint: ``err`` is what this one failed with."""

    def __init__(self, err: BaseException, transport_ok: bool) -> None:
        super().__init__(str(err))
        self.err = err
        self.transport_ok = transport_ok


@contextlib.contextmanager
def connecting(warn: bool = False) -> Iterator[None]:
    """Reaching an endpoint (open, ping, auth): any error tries the next endpoint, logged
    as a warning if ``warn`` (a pull does, as moby's)."""
    try:
        yield
    except Exception as err:
        if warn:
            log.warning("error getting v2 registry: %s", err)
        raise Fallback(err, transport_ok=False) from None


@contextlib.contextmanager
def transferring(ep: Endpoint) -> Iterator[None]:
    """A transfer at an endpoint that answered: the errors ``continue_on_error`` allows
    (transport errors; a registry's own errors only at a mirror) try the next endpoint,
    the others stop the walk."""
    try:
        yield
    except Exception as err:
        if continue_on_error(err, ep.mirror):
            raise Fallback(err, transport_ok=True) from None
        raise


async def walk_endpoints(
    endpoints: Sequence[Endpoint], attempt: Callable[[Endpoint], Awaitable[None]], verb: str
) -> tuple[bool, BaseException | None]:
    """Run ``attempt`` on each endpoint until one succeeds: ``(True, None)``; else
    ``(False, the last endpoint's error)``, the error None when none was tried."""
    confirmed_tls: set[str] = set()
    last_err: BaseException | None = None
    for ep in endpoints:
        parts = urlsplit(ep.url)
        if parts.scheme != "https" and parts.netloc in confirmed_tls:
            log.debug("skipping non-TLS endpoint %s for a host that uses TLS", ep.url)
            continue
        try:
            await attempt(ep)
            return True, None
        except Fallback as fb:
            if fb.transport_ok and parts.scheme == "https":
                confirmed_tls.add(parts.netloc)
            last_err = fb.err
            log.info("attempting next endpoint for %s after error: %s", verb, fb.err)
    return False, last_err
