"""Node certificate renewal, as SwarmKit renews its nodes' certificates.

A node's certificate is valid for the swarm's ``CAConfig.NodeCertExpiry`` (90 days by
default; whole days here: ``openssl x509 -days``). Each node checks its own now and then
(``Cluster``'s role loop) and renews it when half of its validity has passed, or when
its validity is not the swarm's (``docker swarm update --cert-expiry``). A manager signs
its new certificate itself with the root CA key the cluster object holds; a worker
asks a manager's swarm port (``POST /berthd/v1/renew``), presenting the certificate it
holds, whose CN names its node: the manager signs for that node and its present role.
Either way the node makes a new key and only the request travels. The files are
replaced, and the TLS contexts in use are reloaded (etcd reads its files at every
handshake).
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

from berthd.cluster.rpc import call_renew
from berthd.cluster.tls import NodeTLS, cert_dates, new_key_and_csr, pinned_context, sign_csr

__all__ = ["cert_days", "due", "renew_from_manager", "renew_here", "signed_for"]

_DAY = 86400
_DEFAULT_EXPIRY_NS = 2160 * 3600 * 10**9


def cert_days(cluster: dict[str, Any]) -> int:
    """The validity, in whole days, of the certificates this swarm issues."""
    ns = int(((cluster.get("Spec") or {}).get("CAConfig") or {}).get("NodeCertExpiry") or 0)
    return max(1, math.ceil((ns or _DEFAULT_EXPIRY_NS) / (_DAY * 10**9)))


def due(dates: tuple[float, float], days: int, now: float | None = None) -> bool:
    """Whether a certificate valid from ``dates[0]`` to ``dates[1]`` is to be renewed."""
    start, end = dates
    now = time.time() if now is None else now
    lifetime = end - start
    return now >= start + lifetime / 2 or abs(lifetime - days * _DAY) > 3600


def signed_for(cluster: dict[str, Any], csr: str, node_id: str, role: str, host: str) -> str:
    """Blocking: a node certificate of this swarm for ``csr``."""
    return sign_csr(
        cluster["TLSInfo"]["TrustRoot"],
        str(cluster.get("CAKey") or ""),
        csr,
        node_id,
        role,
        str(cluster["ID"]),
        [host] if host else [],
        cert_days(cluster),
    )


async def renew_here(tls: NodeTLS, cluster: dict[str, Any], node_id: str, host: str) -> None:
    """A manager renews its own certificate."""
    await asyncio.to_thread(
        tls.issue, cluster["TLSInfo"]["TrustRoot"], str(cluster.get("CAKey") or ""), node_id,
        "manager", str(cluster["ID"]), [host] if host else [], cert_days(cluster),
    )  # fmt: skip


async def renew_from_manager(tls: NodeTLS, manager_addr: str, node_id: str) -> None:
    """A worker renews its certificate at the manager at ``manager_addr``."""
    ca = await asyncio.to_thread(tls.ca.read_text)
    key, csr = await asyncio.to_thread(new_key_and_csr, node_id)
    ctx = pinned_context(ca)
    await asyncio.to_thread(ctx.load_cert_chain, str(tls.cert), str(tls.key))
    reply = await call_renew(manager_addr, {"CSR": csr}, ctx)
    cert = str(reply.get("Certificate") or "")
    if "-----BEGIN CERTIFICATE-----" not in cert:
        raise RuntimeError("the manager sent no certificate")
    await asyncio.to_thread(tls.write, ca, cert, key)


async def dates_of(tls: NodeTLS) -> tuple[float, float]:
    return await asyncio.to_thread(cert_dates, tls.cert)
