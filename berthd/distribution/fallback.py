"""The endpoint walk that pull and push share (moby ``distribution/pull.go``/``push.go``).

Endpoints come in order (mirrors, https, then http for insecure hosts). An attempt that
fails in a way that lets the walk go on raises :class:`Fallback`; an https endpoint that
answered (``transport_ok``) marks its host as TLS, so the http twin is skipped. Any other
error stops the walk where it is raised.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from urllib.parse import urlsplit

from berthd.distribution.remote import Endpoint

__all__ = ["Fallback", "walk_endpoints"]

log = logging.getLogger(__name__)


class Fallback(Exception):
    """Try the next endpoint: ``err`` is what this one failed with."""

    def __init__(self, err: BaseException, transport_ok: bool) -> None:
        super().__init__(str(err))
        self.err = err
        self.transport_ok = transport_ok


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
