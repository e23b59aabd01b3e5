"""Where to talk to a registry (moby ``registry/service_v2.go``).

docker.io: the mirrors first, then ``https://registry-1.docker.io``. Any other host:
``https://<host>``; an insecure host gets TLS without verification and then an
``http://`` fallback. A secure host trusts, besides the system roots, the ``*.crt`` of
``<certs-dir>/<host>/`` and presents its ``X.cert``/``X.key`` pair (read when a
connection is first made, see ``tls.py``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import urlsplit

from berthd.registry.config import DEFAULT_REGISTRY_HOST, INDEX_HOSTNAME, INDEX_NAME, ServiceConfig

__all__ = ["Endpoint", "host_certs_dir", "lookup_endpoints"]


@dataclass(frozen=True)
class Endpoint:
    url: str  # "https://127.0.0.1:5000" or "http://…"; a mirror's URL (maybe with a path) for docker.io
    mirror: bool = False
    tls_verify: bool = True  # False for an insecure registry (https without verification)
    official: bool = False  # docker.io
    certs_dir: str = ""  # <certs-dir>/<host> for a secure host, "" for none
    insecure: bool = False  # the host is in the insecure list (credentials may go over http)

    @property
    def host(self) -> str:
        return urlsplit(self.url).netloc

    @property
    def scheme(self) -> str:
        return urlsplit(self.url).scheme

    @property
    def v2_url(self) -> str:
        return self.url.rstrip("/") + "/v2/"


def host_certs_dir(certs_dir: str, host: str) -> str:
    """``<certs-dir>/<host>`` (``:`` kept, as dockerd's cleanPath does on Linux)."""
    return os.path.join(certs_dir, os.path.normpath("/" + host).lstrip("/"))


def _endpoint(
    cfg: ServiceConfig, url: str, *, mirror: bool = False, official: bool = False
) -> Endpoint:
    host = urlsplit(url).netloc
    secure = cfg.is_secure_index(host)
    return Endpoint(
        url=url.rstrip("/"),
        mirror=mirror,
        tls_verify=secure,
        official=official,
        certs_dir=host_certs_dir(cfg.certs_dir, host) if secure and not official else "",
        insecure=not secure,
    )


def lookup_endpoints(cfg: ServiceConfig, hostname: str, *, mirrors: bool = True) -> list[Endpoint]:
    if hostname in (INDEX_NAME, INDEX_HOSTNAME):
        out: list[Endpoint] = []
        if mirrors:
            for m in cfg.mirrors:
                url = m if m.startswith(("http://", "https://")) else "https://" + m
                out.append(_endpoint(cfg, url, mirror=True))
        out.append(_endpoint(cfg, f"https://{DEFAULT_REGISTRY_HOST}", official=True))
        return out
    first = _endpoint(cfg, f"https://{hostname}")
    out = [first]
    if not first.tls_verify:
        out.append(Endpoint(url=f"http://{hostname}", tls_verify=False, insecure=True))
    return out
