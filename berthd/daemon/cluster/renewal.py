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
from dataclasses import dataclass
from typing import Any

from berthd.cluster.rpc import call_renew
from berthd.cluster.tls import NodeTLS, cert_dates, new_key_and_csr, sign_csr

__all__ = [
    "Signed",
    "cert_days",
    "due",
    "etcd_ca_of",
    "renew_from_manager",
    "renew_here",
    "signed_for",
    "signed_from",
]

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


def etcd_ca_of(cluster: dict[str, Any]) -> tuple[str, str] | None:
    """The managers-only CA etcd trusts (certificate, key), None in an older swarm."""
    ca = cluster.get("EtcdCA") or {}
    return (str(ca["Cert"]), str(ca["Key"])) if ca.get("Cert") and ca.get("Key") else None


@dataclass(frozen=True)
class Signed:
    """A node's certificates for one request: the swarm certificate, and for a manager
    the etcd CA and its etcd certificate (``TLSInfo``'s files, as ``NodeTLS.write``)."""

    cert: str
    etcd: tuple[str, str] | None = None

    def answer(self) -> dict[str, str]:
        out = {"Certificate": self.cert}
        if self.etcd is not None:
            out["EtcdCA"], out["EtcdCertificate"] = self.etcd
        return out


def signed_for(cluster: dict[str, Any], csr: str, node_id: str, role: str, host: str) -> Signed:
    """Blocking: a node's certificates of this swarm for ``csr``."""
    ids = str(cluster["ID"])
    ips, days = [host] if host else [], cert_days(cluster)
    cert = sign_csr(
        cluster["TLSInfo"]["TrustRoot"], str(cluster.get("CAKey") or ""), csr, node_id, role,
        ids, ips, days,
    )  # fmt: skip
    etcd_ca = etcd_ca_of(cluster) if role == "manager" else None
    if etcd_ca is None:
        return Signed(cert)
    return Signed(cert, (etcd_ca[0], sign_csr(*etcd_ca, csr, node_id, role, ids, ips, days)))


def signed_from(answer: dict[str, Any]) -> Signed:
    """A manager's answer (a join's, a renewal's) as certificates; ValueError without one."""
    cert = str(answer.get("Certificate") or "")
    if "-----BEGIN CERTIFICATE-----" not in cert:
        raise ValueError("the manager sent no certificate for this node")
    ca, etcd = str(answer.get("EtcdCA") or ""), str(answer.get("EtcdCertificate") or "")
    return Signed(cert, (ca, etcd) if ca and etcd else None)


async def renew_here(tls: NodeTLS, cluster: dict[str, Any], node_id: str, host: str) -> None:
    """A manager renews its own certificates."""
    await asyncio.to_thread(
        tls.issue, cluster["TLSInfo"]["TrustRoot"], str(cluster.get("CAKey") or ""), node_id,
        "manager", str(cluster["ID"]), [host] if host else [], cert_days(cluster),
        etcd_ca_of(cluster),
    )  # fmt: skip


async def renew_from_manager(tls: NodeTLS, manager_addr: str, node_id: str) -> Signed:
    """A node renews its certificates at the manager at ``manager_addr``: signed for its
    present role there (a promoted worker gets its etcd certificate this way, a demoted
    manager loses it)."""
    ca = await asyncio.to_thread(tls.ca.read_text)
    key, csr = await asyncio.to_thread(new_key_and_csr, node_id)
    ctx = await asyncio.to_thread(tls.client_context)
    reply = await call_renew(manager_addr, {"CSR": csr}, ctx)
    try:
        signed = signed_from(reply)
    except ValueError as e:
        raise RuntimeError(str(e)) from None
    await asyncio.to_thread(tls.write, ca, signed.cert, key, signed.etcd)
    return signed


async def dates_of(tls: NodeTLS) -> tuple[float, float]:
    return await asyncio.to_thread(cert_dates, tls.cert)
