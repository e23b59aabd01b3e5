"""The registry service (moby ``registry.Service``): configuration, endpoints, clients.

The daemon makes one at start-up and reloads it on SIGHUP. Nothing here touches the
network or imports the HTTP client until first use (``open_repository``, ``auth``,
``search``): berthd's start-up time matters.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from berthd.registry.auth_config import AuthConfig
from berthd.registry.config import ServiceConfig, ServiceOptions
from berthd.registry.endpoints import Endpoint, lookup_endpoints

if TYPE_CHECKING:
    from yarl import URL

    from berthd.registry.repository import Repository
    from berthd.registry.search import SearchResult
    from berthd.registry.transport import HTTPClient

__all__ = ["RegistryService"]

log = logging.getLogger("berthd.registry")


class RegistryService:
    def __init__(self, opts: ServiceOptions) -> None:
        self._config = ServiceConfig.from_options(opts)
        self._client: HTTPClient | None = None

    def reload(self, opts: ServiceOptions) -> None:
        """Swap in a new configuration (InvalidParameter leaves the old one in force)."""
        self._config = ServiceConfig.from_options(opts)
        if self._client is not None:
            self._client.read_timeout = self._config.read_timeout
            self._client.forget_tls()

    def service_config(self) -> ServiceConfig:
        return self._config

    def lookup_pull_endpoints(self, domain: str) -> list[Endpoint]:
        """Mirrors (docker.io only), then https, then http for an insecure host."""
        return lookup_endpoints(self._config, domain)

    def lookup_push_endpoints(self, domain: str) -> list[Endpoint]:
        """As for pull, without mirrors (credentials never go to a mirror)."""
        return lookup_endpoints(self._config, domain, mirrors=False)

    def is_insecure(self, host: str) -> bool:
        return not self._config.is_secure_index(host)

    def may_send_credentials(self, url: URL) -> bool:
        """Credentials only over TLS, or to a host configured insecure."""
        return url.scheme == "https" or self.is_insecure(url.host_port_subcomponent or "")

    def client(self) -> HTTPClient:
        if self._client is None:
            from berthd.registry.transport import HTTPClient

            self._client = HTTPClient(self._config.read_timeout)
        return self._client

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
    ) -> Repository:
        """A client for ``path`` on ``endpoint``; the ping happens on first request."""
        from berthd.registry.authorizer import Authorizer, repository_scope
        from berthd.registry.repository import Repository

        client = self.client()
        ssl_ctx = None
        if endpoint.scheme == "https":
            ssl_ctx = await client.ssl_for(endpoint.tls_verify, endpoint.certs_dir)
        scopes = [repository_scope(path, actions)] if path else []
        scopes += [repository_scope(m, ("pull",)) for m in mount_from]
        hdrs = dict(headers or {})
        authorizer = Authorizer(
            client,
            cfg,
            scopes,
            headers={k: v for k, v in hdrs.items() if k.lower() == "user-agent"},
            may_send_credentials=self.may_send_credentials,
            offline_access=offline_access,
            ssl_ctx=ssl_ctx,
        )
        return Repository(client, endpoint, path, authorizer, hdrs, ssl_ctx)

    async def auth(self, cfg: AuthConfig, user_agent: str) -> tuple[str, str]:
        """``POST /auth``: (Status, IdentityToken)."""
        from berthd.registry.login import login

        return await login(self, cfg, user_agent)

    async def search(
        self,
        term: str,
        limit: int,
        cfg: AuthConfig,
        headers: Mapping[str, str],
        filters: Mapping[str, Sequence[str]] | None = None,
    ) -> list[SearchResult]:
        """``GET /images/search`` through the index's v1 search API."""
        from berthd.registry.search import search

        return await search(self, term, limit, cfg, headers, filters or {})

    async def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.close()
            # let the connector's transports finish closing before the loop goes
            await asyncio.sleep(0)
