"""Validation of the registry options (``--registry-mirror``, ``--insecure-registry``).

Pure string checks with dockerd's wording (moby ``registry/config.go``), kept at the
bottom layer so that the config loader (``--validate``, SIGHUP reload) and the registry
service refuse the same values the same way.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from berthd.errdefs import InvalidParameter

__all__ = ["InsecureEntry", "validate_host_port", "validate_insecure_registry", "validate_mirror"]

log = logging.getLogger("berthd.registry")

_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN_RE = re.compile(rf"^(?:{_COMPONENT}(?:\.{_COMPONENT})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?$")


def _goq(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)


def validate_mirror(val: str) -> str:
    """A mirror URL with a trailing ``/``, or InvalidParameter ``invalid mirror: …``."""
    try:
        uri = urlsplit(val)
        uri.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise InvalidParameter(f"invalid mirror: {_goq(val)} is not a valid URI") from None
    if uri.scheme not in ("http", "https"):
        raise InvalidParameter(
            f"invalid mirror: unsupported scheme {_goq(uri.scheme)} in {_goq(val)}"
        )
    if uri.query or uri.fragment:
        raise InvalidParameter(f"invalid mirror: query or fragment at end of the URI {_goq(val)}")
    if "@" in uri.netloc:
        userinfo, _, hostport = uri.netloc.rpartition("@")
        user = userinfo.partition(":")[0]
        shown = f"{uri.scheme}://{user}:xxxxx@{hostport}{uri.path}"
        raise InvalidParameter(
            f"invalid mirror: username/password not allowed in URI {_goq(shown)}"
        )
    return val.rstrip("/") + "/"


def _split_host_port(s: str) -> tuple[str, str]:
    if s.startswith("["):
        end = s.find("]")
        if end != -1:
            rest = s[end + 1 :]
            if rest.startswith(":"):
                return s[1:end], rest[1:]
            if not rest:
                return s, ""
        return s, ""
    if s.count(":") == 1:
        host, _, port = s.partition(":")
        return host, port
    return s, ""


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def validate_host_port(s: str) -> None:
    host, port = _split_host_port(s)
    if not _DOMAIN_RE.match(s) and not _is_ip(host):
        raise InvalidParameter(f"invalid host {_goq(host)}")
    if port:
        if not port.isdigit():
            raise InvalidParameter(f"strconv.Atoi: parsing {_goq(port)}: invalid syntax")
        if int(port) > 65535:
            raise InvalidParameter(f"invalid port {_goq(port)}")


def validate_index_name(val: str) -> str:
    if val == "index.docker.io":
        val = "docker.io"
    if val.startswith("-") or val.endswith("-"):
        raise InvalidParameter(f"invalid index name ({val}). Cannot begin or end with a hyphen")
    return val


@dataclass(frozen=True)
class InsecureEntry:
    """One ``--insecure-registry`` value: a network, or a ``host[:port]`` name."""

    network: ipaddress.IPv4Network | ipaddress.IPv6Network | None
    name: str


def validate_insecure_registry(val: str, *, warn: bool = True) -> InsecureEntry:
    validate_index_name(val)
    r = val
    low = r.lower()
    for scheme in ("http://", "https://"):
        if low.startswith(scheme):
            if warn:
                log.warning(
                    "insecure registry %s should not contain '%s' and '%s' has been removed "
                    "from the insecure registry config",
                    r,
                    scheme,
                    scheme,
                )
            r = r[len(scheme) :]
            break
    else:
        if "://" in r:
            raise InvalidParameter(f"insecure registry {r} should not contain '://'")
    if "/" in r:
        try:
            net = ipaddress.ip_network(r, strict=False)
        except ValueError:
            pass
        else:
            return InsecureEntry(net, str(net))
    try:
        validate_host_port(r)
    except InvalidParameter as e:
        raise InvalidParameter(f"insecure registry {r} is not valid: {e}") from None
    return InsecureEntry(None, r)
