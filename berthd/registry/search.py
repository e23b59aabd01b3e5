"""``GET /images/search`` through an index's v1 search API (moby ``registry/search*.go``).

The term names the index (``127.0.0.1:5000/busybox``; no host part means Docker Hub).
Hub is asked at ``https://index.docker.io/v1/search`` directly; another index is pinged
at ``/v1/_ping`` over https, then (insecure indexes only) over http. The search is
``GET /v1/search?q=<term>&n=<limit>`` with ``X-Docker-Token: true``. Credentials: an
identity token goes through the v2 token flow (scope ``registry:catalog:search``);
a username and password go as Basic auth (TLS or an insecure index only).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Protocol, TypedDict
from urllib.parse import quote

import orjson

from berthd import errdefs
from berthd.registry.auth_config import AuthConfig
from berthd.registry.config import INDEX_NAME, INDEX_SERVER, IndexInfo
from berthd.registry.endpoints import host_certs_dir

if TYPE_CHECKING:
    import ssl

    from yarl import URL

    from berthd.registry.config import ServiceConfig
    from berthd.registry.transport import HTTPClient

__all__ = [
    "ACCEPTED_FILTERS",
    "SearchResult",
    "SearchService",
    "check_limit",
    "search",
    "split_search_term",
]


class SearchService(Protocol):
    """What a search uses of the ``RegistryService`` (which calls it)."""

    def service_config(self) -> ServiceConfig: ...
    def client(self) -> HTTPClient: ...
    def may_send_credentials(self, url: URL) -> bool: ...


log = logging.getLogger("berthd.registry")

ACCEPTED_FILTERS = ("is-automated", "is-official", "stars")
DEFAULT_LIMIT = 25


class SearchResult(TypedDict):
    star_count: int
    is_official: bool
    name: str
    is_automated: bool
    description: str


def split_search_term(term: str) -> tuple[str, str]:
    """(index name, remote name): a first part with ``.`` or ``:`` or ``localhost`` is a host."""
    parts = term.split("/", 1)
    if len(parts) == 1 or ("." not in parts[0] and ":" not in parts[0] and parts[0] != "localhost"):
        return INDEX_NAME, term
    return parts[0], parts[1]


def check_limit(limit: int) -> int:
    if limit == 0:
        limit = DEFAULT_LIMIT
    if limit < 1 or limit > 100:
        raise errdefs.InvalidParameter(f"limit {limit} is outside the range of [1, 100]")
    return limit


def _bool_filter(filters: Mapping[str, Sequence[str]], key: str) -> bool | None:
    values = filters.get(key)
    if not values:
        return None
    for v in values:
        if v.lower() in ("true", "1"):
            return True
        if v.lower() in ("false", "0"):
            return False
    raise errdefs.InvalidParameter(f"invalid filter '{key}=[{' '.join(sorted(values))}]'")


def _stars_filter(filters: Mapping[str, Sequence[str]]) -> int | None:
    if "stars" not in filters:
        return None
    best = 0
    for v in filters["stars"]:
        try:
            n = int(v)
        except ValueError:
            raise errdefs.InvalidParameter(
                f"invalid filter 'stars={v}': strconv.Atoi: parsing \"{v}\": invalid syntax"
            ) from None
        best = max(best, n)
    return best


def _row(item: object) -> SearchResult | None:
    if not isinstance(item, dict):
        return None
    stars = item.get("star_count")
    return {
        "star_count": stars if isinstance(stars, int) and not isinstance(stars, bool) else 0,
        "is_official": item.get("is_official") is True,
        "name": str(item.get("name") or ""),
        "is_automated": False,  # deprecated: always false, as dockerd
        "description": str(item.get("description") or ""),
    }


class _Index:
    """A v1 index endpoint: ``https://<name>`` (or ``http://`` after a failed https ping)."""

    def __init__(self, svc: SearchService, index: IndexInfo) -> None:
        from yarl import URL

        self.svc = svc
        self.index = index
        self.client = svc.client()
        host = "index.docker.io" if index.official else index.name
        self.url = URL(f"https://{host}")
        self.ssl_ctx: ssl.SSLContext | None = None

    def __str__(self) -> str:
        return f"{self.url}/v1/"

    async def _ping(self, headers: Mapping[str, str]) -> None:
        from berthd.registry.transport import read_body

        resp = await self.client.send(
            "GET", self.url / "v1" / "_ping", headers=headers, ssl_ctx=self.ssl_ctx
        )
        async with resp:
            await read_body(resp, "GET", 1 << 16)

    async def open(self, headers: Mapping[str, str]) -> None:
        cfg = self.svc.service_config()
        certs = host_certs_dir(cfg.certs_dir, self.index.name) if self.index.secure else ""
        self.ssl_ctx = await self.client.ssl_for(self.index.secure, certs)
        if str(self) == INDEX_SERVER:
            return
        try:
            await self._ping(headers)
        except errdefs.BerthdError as e:
            host = self.url.host_port_subcomponent
            if self.index.secure:
                raise errdefs.InvalidParameter(
                    f"invalid registry endpoint {self}: {e}. If this private registry supports "
                    f"only HTTP or HTTPS with an unknown CA certificate, please add "
                    f"`--insecure-registry {host}` to the daemon's arguments. In the case of "
                    f"HTTPS, if you have access to the registry's CA certificate, no need for "
                    f"the flag; simply place the CA certificate at "
                    f"/etc/docker/certs.d/{host}/ca.crt"
                ) from None
            https_err = e
            self.url = self.url.with_scheme("http")
            try:
                await self._ping(headers)
            except errdefs.BerthdError as e2:
                raise errdefs.InvalidParameter(
                    f'invalid registry endpoint "{self}". HTTPS attempt: {https_err}. '
                    f"HTTP attempt: {e2}"
                ) from None


async def search(
    svc: SearchService,
    term: str,
    limit: int,
    cfg: AuthConfig,
    headers: Mapping[str, str],
    filters: Mapping[str, Sequence[str]],
) -> list[SearchResult]:
    unknown = [k for k in filters if k not in ACCEPTED_FILTERS]
    if unknown:
        raise errdefs.InvalidParameter(f"invalid filter '{unknown[0]}'")
    if _bool_filter(filters, "is-automated"):
        return []
    official = _bool_filter(filters, "is-official")
    stars = _stars_filter(filters)
    if "://" in term:
        raise errdefs.InvalidParameter(
            f"invalid repository name: repository name ({term}) should not have a scheme"
        )
    limit = check_limit(limit)
    index_name, remote = split_search_term(term)
    index = svc.service_config().index_info(index_name)
    if index.official:
        remote = remote.removeprefix("library/")
    rows = await _search_index(svc, index, remote, limit, cfg, headers)
    out: list[SearchResult] = []
    for row in rows:
        if official is not None and row["is_official"] != official:
            continue
        if stars is not None and row["star_count"] < stars:
            continue
        out.append(row)
    return out


async def _search_index(
    svc: SearchService,
    index: IndexInfo,
    remote: str,
    limit: int,
    cfg: AuthConfig,
    headers: Mapping[str, str],
) -> list[SearchResult]:
    from berthd.registry.authorizer import Authorizer, basic_header
    from berthd.registry.transport import BodyTooLarge, read_body

    endpoint = _Index(svc, index)
    await endpoint.open(headers)
    url: URL = (endpoint.url / "v1" / "search").with_query(f"q={quote(remote, safe='')}&n={limit}")
    req_headers = {**headers, "X-Docker-Token": "true"}
    authorizer: Authorizer | None = None
    if cfg.identitytoken and cfg.username:
        authorizer = Authorizer(
            endpoint.client,
            cfg,
            ["registry:catalog:search"],
            headers={k: v for k, v in headers.items() if k.lower() == "user-agent"},
            may_send_credentials=svc.may_send_credentials,
            ssl_ctx=endpoint.ssl_ctx,
        )
        ping = await endpoint.client.send(
            "GET", endpoint.url / "v2" / "", headers=headers, ssl_ctx=endpoint.ssl_ctx
        )
        async with ping:
            authorizer.add_response(
                ping.url, ping.status, ping.headers.getall("WWW-Authenticate", [])
            )
    user, password = cfg.basic()

    async def authorize(hop: URL) -> Mapping[str, str]:
        if authorizer is not None:
            return await authorizer.authorize(hop)
        same_host = hop.host_port_subcomponent == url.host_port_subcomponent
        if user and password and same_host and svc.may_send_credentials(hop):
            return {"Authorization": basic_header(user, password)}
        return {}

    resp = await endpoint.client.send(
        "GET", url, headers=req_headers, ssl_ctx=endpoint.ssl_ctx, authorize=authorize
    )
    async with resp:
        if resp.status != 200:
            raise errdefs.System(f"Unexpected status code {resp.status}")
        try:
            body = await read_body(resp, "GET", 16 << 20)
            data = orjson.loads(body)
        except (BodyTooLarge, orjson.JSONDecodeError) as e:
            raise errdefs.System(f"error decoding registry search results: {e}") from None
    results = data.get("results") if isinstance(data, dict) else None
    rows = [_row(r) for r in results or []]
    return [r for r in rows if r is not None]
