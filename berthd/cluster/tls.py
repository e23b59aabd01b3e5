"""A node's swarm certificates: mutual TLS for etcd (peers and clients) and the swarm port.

Each node holds a key of its own and a certificate signed by the swarm's root CA, as
SwarmKit's nodes do: subject ``CN=<node ID>, OU=swarm-manager|swarm-worker,
O=<cluster ID>``, both TLS usages, and the node's address and loopback as IP SANs (etcd
peers and remote clients check the first, berthd's own client the second). The
manager signs it (``sign_csr``) at init for itself and at join for the joiner, which
made the key and sent only a request (``new_key_and_csr``): the key never leaves its
node. The subject is the manager's choice, never the joiner's.

Files, in ``<data-root>/swarm/certs``: ``ca.crt``, ``node.crt`` and ``node.key``
(mode 0600). etcd requires a certificate from that CA of every peer and every client
(``--client-cert-auth``, ``--peer-client-cert-auth``), so only the swarm's nodes reach
its store. The blocking helpers run ``openssl`` (a few milliseconds each); callers run
them in a thread.
"""

from __future__ import annotations

import os
import ssl
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "CERT_DAYS",
    "NodeTLS",
    "cert_dates",
    "new_key_and_csr",
    "pinned_context",
    "sign_csr",
]

CERT_DAYS = 90  # SwarmKit's default node certificate expiry (NodeCertExpiry)
_OPENSSL = "openssl"


def _openssl(*args: str, stdin: bytes | None = None) -> bytes:
    r = subprocess.run([_OPENSSL, *args], input=stdin, capture_output=True, timeout=30, check=False)
    if r.returncode != 0:
        raise RuntimeError(f"openssl {args[0]}: {r.stderr.decode(errors='replace').strip()}")
    return r.stdout


def new_key_and_csr(node_id: str) -> tuple[str, str]:
    """Blocking: a fresh P-256 key and a certificate request for it (PEM, PEM)."""
    key = _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout")
    csr = _openssl("req", "-new", "-key", "/dev/stdin", "-subj", f"/CN={node_id}", stdin=key)
    return key.decode(), csr.decode()


def _san_ip(host: str) -> str:
    return "IP:" + host.strip("[]")


def sign_csr(
    ca_cert_pem: str,
    ca_key_pem: str,
    csr_pem: str,
    node_id: str,
    role: str,
    cluster_id: str,
    ips: list[str],
    days: int = CERT_DAYS,
) -> str:
    """Blocking: the node certificate for ``csr_pem``, subject and SANs set here.
    ValueError when the request is not a certificate request."""
    if "-----BEGIN CERTIFICATE REQUEST-----" not in csr_pem:
        raise ValueError("the certificate request is not a PEM CSR")
    sans = ",".join(dict.fromkeys(_san_ip(ip) for ip in [*ips, "127.0.0.1"] if ip))
    ext = (
        f"subjectAltName={sans}\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth,clientAuth\n"
        "basicConstraints=critical,CA:FALSE\n"
    )
    with tempfile.TemporaryDirectory(prefix="berthd-sign-") as tmp:
        d = Path(tmp)
        fd = os.open(d / "ca.key", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(ca_key_pem)
        (d / "ca.crt").write_text(ca_cert_pem)
        (d / "req.csr").write_text(csr_pem)
        (d / "ext.cnf").write_text(ext)
        serial = "0x" + os.urandom(16).hex()
        out = _openssl(
            "x509", "-req", "-in", str(d / "req.csr"),
            "-CA", str(d / "ca.crt"), "-CAkey", str(d / "ca.key"),
            "-set_serial", serial, "-days", str(max(1, days)), "-sha256",
            "-subj", f"/CN={node_id}/OU=swarm-{role}/O={cluster_id}",
            "-extfile", str(d / "ext.cnf"),
        )  # fmt: skip
    return out.decode()


def cert_dates(cert: Path) -> tuple[float, float]:
    """Blocking: a certificate's notBefore and notAfter, in seconds since the epoch."""
    out = _openssl("x509", "-noout", "-startdate", "-enddate", "-in", str(cert)).decode()
    dates = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    return ssl.cert_time_to_seconds(dates["notBefore"]), ssl.cert_time_to_seconds(dates["notAfter"])


@dataclass(frozen=True)
class NodeTLS:
    """A node's certificate files, and the TLS contexts made of them."""

    dir: Path

    @property
    def ca(self) -> Path:
        return self.dir / "ca.crt"

    @property
    def cert(self) -> Path:
        return self.dir / "node.crt"

    @property
    def key(self) -> Path:
        return self.dir / "node.key"

    def exists(self) -> bool:
        return self.ca.is_file() and self.cert.is_file() and self.key.is_file()

    def write(self, ca_pem: str, cert_pem: str, key_pem: str) -> None:
        """Blocking: the three files, the key readable by root only."""
        self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.ca.write_text(ca_pem)
        self.cert.write_text(cert_pem)
        tmp = self.key.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(key_pem)
        os.replace(tmp, self.key)

    def issue(
        self,
        ca_cert_pem: str,
        ca_key_pem: str,
        node_id: str,
        role: str,
        cluster_id: str,
        ips: list[str],
        days: int = CERT_DAYS,
    ) -> None:
        """Blocking: a new key and its certificate, signed here with the CA key (a
        manager's own: at init, and at each renewal), written with the CA."""
        key, csr = new_key_and_csr(node_id)
        cert = sign_csr(ca_cert_pem, ca_key_pem, csr, node_id, role, cluster_id, ips, days)
        self.write(ca_cert_pem, cert, key)

    def reload(self, *contexts: ssl.SSLContext | None) -> None:
        """Blocking: ``contexts`` present the certificate now in the files (a renewed
        one) at their next handshakes; open connections go on as they are."""
        for ctx in contexts:
            if ctx is not None:
                ctx.load_cert_chain(str(self.cert), str(self.key))

    def client_context(self) -> ssl.SSLContext:
        """For etcd's client URLs: the server must hold a certificate of the swarm's CA
        for the address dialled; this node presents its own."""
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(self.ca))
        ctx.load_cert_chain(str(self.cert), str(self.key))
        return ctx

    def server_context(self) -> ssl.SSLContext:
        """For the swarm port: this node's certificate. A client certificate is asked
        for and verified against the swarm's CA when given (a manager's, for the calls
        that need one); a joiner has none yet (the join token is its credential)."""
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(self.ca))
        ctx.verify_mode = ssl.CERT_OPTIONAL
        ctx.load_cert_chain(str(self.cert), str(self.key))
        return ctx


def pinned_context(ca_pem: str) -> ssl.SSLContext:
    """For a joiner's call: the manager must hold a certificate of exactly this CA (the
    one its token pins); any name, as the manager may be dialled by any address."""
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cadata=ca_pem)
    ctx.check_hostname = False
    return ctx
