"""Adding credentials to registry requests (distribution ``registry/client/auth``).

The challenges come from pinging ``/v2/`` and are kept per ``scheme://host/…/v2/``. A
request gets an ``Authorization`` only when its URL is under a ``/v2/`` root whose ping
answered with a challenge: a blob redirected to a storage host never sees one.

- Bearer: a token from the realm. With an ``identitytoken`` (refresh token) it is an
  OAuth ``POST`` (``grant_type=refresh_token``); otherwise a ``GET`` with ``service``,
  ``scope``s and, when a username and password are both set, ``account`` plus Basic
  auth. ``registrytoken`` is used as the bearer token as it is. Tokens are cached until
  they expire (``expires_in`` at least 60 s); a mount's extra ``from`` scope is never
  cached.
- Basic: the username and password, else ``no basic auth credentials``.

Credentials (Basic, account/password, refresh tokens) travel only over TLS or to a host
that is configured insecure. Secrets are never logged.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import orjson
from yarl import URL

from berthd import errdefs
from berthd.registry.auth_config import AuthConfig
from berthd.registry.challenge import Challenge, parse_challenges
from berthd.registry.errors import NoBasicAuthCredentials, NoToken, error_from_response
from berthd.registry.transport import BodyTooLarge, HTTPClient, read_body

__all__ = ["AUTH_CLIENT_ID", "Authorizer", "basic_header", "repository_scope"]

log = logging.getLogger("berthd.registry")

AUTH_CLIENT_ID = "docker"
MIN_TOKEN_LIFETIME = 60
# Go's http.Client Timeout of the ping and token requests
AUTH_TIMEOUT = 15.0


def repository_scope(path: str, actions: Sequence[str], cls: str = "") -> str:
    kind = "repository" if cls in ("", "image") else f"repository({cls})"
    return f"{kind}:{path}:{','.join(actions)}"


def basic_header(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _v2_root(url: URL) -> str | None:
    path = url.path
    i = path.find("/v2/")
    if i == -1:
        j = path.find("/v1/")
        if j == -1:
            return None
        root = path[:j] + "/v2/"
    else:
        root = path[: i + 4]
    return f"{url.scheme}://{(url.host or '').lower()}:{url.port}{root}"


def _parse_time(value: object) -> float | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


class Authorizer:
    """Challenges of one endpoint and the token/basic handlers for one set of scopes."""

    def __init__(
        self,
        client: HTTPClient,
        creds: AuthConfig,
        scopes: Sequence[str],
        *,
        headers: Mapping[str, str],
        may_send_credentials: Callable[[URL], bool],
        offline_access: bool = False,
        ssl_ctx: ssl.SSLContext | None = None,
    ) -> None:
        self.client = client
        self.creds = creds
        self.scopes = list(scopes)
        self.headers = dict(headers)  # User-Agent for token requests
        self.may_send_credentials = may_send_credentials
        self.offline_access = offline_access
        self.challenges: dict[str, list[Challenge]] = {}
        self.refresh_token = creds.identitytoken
        self._token = ""
        self._expires = 0.0
        self._lock = asyncio.Lock()
        self.ssl_ctx = ssl_ctx  # the endpoint's TLS context, also for an https realm

    def add_response(self, url: URL, status: int, www_authenticate: Sequence[str]) -> None:
        """Record a ping's answer: its challenges (only a 401 carries any)."""
        root = _v2_root(url)
        if root is not None:
            self.challenges[root] = parse_challenges(www_authenticate) if status == 401 else []

    def challenged(self, url: URL) -> list[Challenge]:
        root = _v2_root(url)
        return self.challenges.get(root, []) if root else []

    async def authorize(self, url: URL, extra_scopes: Sequence[str] = ()) -> dict[str, str]:
        """The headers to add to a request for ``url``."""
        challenges = self.challenged(url)
        out: dict[str, str] = {}
        for scheme in ("bearer", "basic"):
            for c in challenges:
                if c.scheme != scheme:
                    continue
                if scheme == "bearer":
                    token = await self._bearer(c.params, extra_scopes)
                    out["Authorization"] = f"Bearer {token}"
                else:
                    user, password = self.creds.basic()
                    if not (user and password) or not self.may_send_credentials(url):
                        raise NoBasicAuthCredentials()
                    out["Authorization"] = basic_header(user, password)
        return out

    async def _bearer(self, params: Mapping[str, str], extra_scopes: Sequence[str]) -> str:
        if self.creds.registrytoken:
            return self.creds.registrytoken
        async with self._lock:
            scopes = list(self.scopes)
            added = False
            for s in extra_scopes:
                if s not in scopes:
                    scopes.append(s)
                    added = True
            if not added and self._token and time.time() < self._expires:
                return self._token
            token, expires = await self._fetch_token(params, scopes)
            if not added:
                self._token, self._expires = token, expires
            return token

    async def _fetch_token(self, params: Mapping[str, str], scopes: list[str]) -> tuple[str, float]:
        realm = params.get("realm")
        if not realm:
            raise errdefs.Unauthorized("no realm specified for token auth challenge")
        try:
            realm_url = URL(realm)
            if not realm_url.is_absolute():
                raise ValueError("not absolute")
        except ValueError as e:
            raise errdefs.Unauthorized(f"invalid token auth challenge realm: {e}") from None
        service = params.get("service", "")
        secure = self.may_send_credentials(realm_url)
        if self.refresh_token and secure:
            return await self._fetch_oauth(realm_url, service, scopes)
        query: list[tuple[str, str]] = []
        if service:
            query.append(("service", service))
        query += [("scope", s) for s in scopes]
        if self.offline_access:
            query += [("offline_token", "true"), ("client_id", AUTH_CLIENT_ID)]
        headers = dict(self.headers)
        user, password = self.creds.basic()
        if user and password and secure:
            query.append(("account", user))
            headers["Authorization"] = basic_header(user, password)
        return await self._token_request(
            "GET", realm_url.with_query(query), headers, None, ("access_token", "token")
        )

    async def _fetch_oauth(self, realm: URL, service: str, scopes: list[str]) -> tuple[str, float]:
        form = {
            "scope": " ".join(scopes),
            "service": service,
            "client_id": AUTH_CLIENT_ID,
            "grant_type": "refresh_token",
            "refresh_token": self.refresh_token,
        }
        headers = {**self.headers, "Content-Type": "application/x-www-form-urlencoded"}
        return await self._token_request(
            "POST", realm, headers, urlencode(form).encode(), ("access_token",)
        )

    async def _token_request(
        self,
        method: str,
        url: URL,
        headers: Mapping[str, str],
        data: bytes | None,
        token_keys: Sequence[str],
    ) -> tuple[str, float]:
        resp = await self.client.send(
            method,
            url,
            headers=headers,
            data=data,
            ssl_ctx=self.ssl_ctx,
            timeout=self.client.timeout(total=AUTH_TIMEOUT),
        )
        async with resp:
            body = await self._read(resp, method, url)
            if not 200 <= resp.status < 400:
                raise error_from_response(
                    resp.status,
                    resp.reason or "",
                    body,
                    resp.headers.getall("WWW-Authenticate", []),
                )
        reply = self._decode(body)
        refresh = reply.get("refresh_token")
        if isinstance(refresh, str) and refresh:
            self.refresh_token = refresh
        token = next((reply[k] for k in token_keys if reply.get(k)), None)
        if not isinstance(token, str) or not token:
            raise NoToken()
        return token, self._expiry(reply)

    @staticmethod
    async def _read(resp: Any, method: str, url: URL) -> bytes:
        try:
            return await read_body(resp, method, 1 << 20)
        except BodyTooLarge:
            raise errdefs.System("unable to decode token response: too large") from None

    @staticmethod
    def _decode(body: bytes) -> dict[str, object]:
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError as e:
            raise errdefs.System(f"unable to decode token response: {e}") from None
        if not isinstance(data, dict):
            raise errdefs.System("unable to decode token response: not an object")
        return data

    @staticmethod
    def _expiry(data: Mapping[str, object]) -> float:
        expires_in = data.get("expires_in")
        seconds = (
            expires_in if isinstance(expires_in, int) and not isinstance(expires_in, bool) else 0
        )
        seconds = max(seconds, MIN_TOKEN_LIFETIME)
        issued = _parse_time(data.get("issued_at")) or time.time()
        return issued + seconds
