"""``POST /auth``: check credentials against a registry (moby ``registry/auth.go``).

The push endpoints of the server address (no mirrors: credentials never go to one) are
tried in order: ping ``/v2/``, then ``GET /v2/`` through the token/basic authorizer with
``offline_token=true``. A 200 is ``Login Succeeded`` plus the refresh token the token
server returned (the IdentityToken). A token server refusing the credentials ends the
walk with a 401; any other failure tries the next endpoint and the last one is returned.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit

from berthd import errdefs
from berthd.registry.auth_config import AuthConfig
from berthd.registry.config import INDEX_HOSTNAME
from berthd.registry.endpoints import Endpoint
from berthd.registry.errors import RegistryError, TransportError

if TYPE_CHECKING:
    from berthd.registry.repository import Repository

__all__ = ["LoginService", "login"]


class LoginService(Protocol):
    """What a login uses of the ``RegistryService`` (which calls it)."""

    def lookup_push_endpoints(self, domain: str) -> list[Endpoint]: ...
    async def open_repository(
        self,
        endpoint: Endpoint,
        path: str,
        cfg: AuthConfig,
        actions: Sequence[str],
        *,
        headers: Mapping[str, str] | None = None,
        mount_from: Sequence[str] = (),
        offline_access: bool = False,
    ) -> Repository: ...


log = logging.getLogger("berthd.registry")


def server_host(address: str) -> str:
    if not address:
        return INDEX_HOSTNAME
    if not address.startswith(("https://", "http://")):
        address = "https://" + address
    try:
        parts = urlsplit(address)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError as e:
        raise errdefs.InvalidParameter(f"unable to parse server address: {e}") from None
    return parts.netloc


async def _login_v2(
    svc: LoginService, cfg: AuthConfig, endpoint: Endpoint, user_agent: str
) -> tuple[str, str]:
    headers = {"User-Agent": user_agent} if user_agent else {}
    repo = await svc.open_repository(endpoint, "", cfg, (), headers=headers, offline_access=True)
    url = endpoint.v2_url
    log.debug("attempting v2 login to registry endpoint %s", url)
    await repo.ping()
    try:
        resp = await repo.send("GET", repo.base, headers={}, total_timeout=15.0)
    except RegistryError as e:
        if e.code == "UNAUTHORIZED":
            raise errdefs.Unauthorized(f'Get "{url}": {e}') from None
        raise errdefs.System(f'Get "{url}": {e}') from None
    except TransportError as e:
        if e.url == url:
            raise
        raise errdefs.System(f'Get "{url}": {e}') from None  # the token request failed
    except errdefs.BerthdError as e:
        raise errdefs.System(f'Get "{url}": {e}') from None
    async with resp:
        status = resp.status
    try:
        reason = HTTPStatus(status).phrase  # Go's http.StatusText, not the server's words
    except ValueError:
        reason = ""
    if status == 200:
        return "Login Succeeded", repo.auth.refresh_token
    raise errdefs.System(f"login attempt to {url} failed with status: {status} {reason}")


async def login(svc: LoginService, cfg: AuthConfig, user_agent: str) -> tuple[str, str]:
    endpoints = svc.lookup_push_endpoints(server_host(cfg.serveraddress))
    err: errdefs.BerthdError = errdefs.System("no endpoints found")
    for endpoint in endpoints:
        try:
            return await _login_v2(svc, cfg, endpoint, user_agent)
        except errdefs.Unauthorized:
            raise
        except errdefs.BerthdError as e:
            log.info("Error logging in to endpoint, trying next endpoint: %s", e)
            err = e
    raise err
