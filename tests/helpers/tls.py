"""TLS material for tests, made with the openssl command: a CA and certificates it
signs, laid out as a daemon's ``--tlsverify`` wants them (``make_daemon_certs``) or as
a registry and ``certs.d`` want them (``make_tls_material``)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

__all__ = [
    "DaemonCerts",
    "have_openssl",
    "issue_cert",
    "make_ca",
    "make_daemon_certs",
    "make_tls_material",
    "openssl",
]

KeyKind = Literal["ec", "rsa"]
_NEWKEY: dict[KeyKind, list[str]] = {
    "ec": ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"],
    "rsa": ["-newkey", "rsa:2048"],
}
_DAYS = "2"


def have_openssl() -> bool:
    return shutil.which("openssl") is not None


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_ca(d: Path, cert: str, key: str, subject: str, kind: KeyKind = "ec") -> None:
    """A self-signed CA ``d/cert`` with its private key ``d/key``."""
    openssl(
        "req", "-x509", *_NEWKEY[kind], "-nodes", "-days", _DAYS, "-subj", subject,
        "-keyout", key, "-out", cert, cwd=d,
    )  # fmt: skip


def issue_cert(
    d: Path,
    ca: tuple[str, str],
    cert: str,
    key: str,
    subject: str,
    ext: str | None = None,
    kind: KeyKind = "ec",
) -> None:
    """A key ``d/key`` and a certificate ``d/cert`` for it signed by ``ca`` (certificate,
    key; in ``d``), with the X.509 extension lines ``ext`` if given."""
    stem = Path(cert).stem
    openssl(
        "req", *_NEWKEY[kind], "-nodes", "-subj", subject, "-keyout", key,
        "-out", f"{stem}.csr", cwd=d,
    )  # fmt: skip
    extfile: list[str] = []
    if ext is not None:
        (d / f"{stem}.ext").write_text(ext)
        extfile = ["-extfile", f"{stem}.ext"]
    openssl(
        "x509", "-req", "-in", f"{stem}.csr", "-CA", ca[0], "-CAkey", ca[1], "-CAcreateserial",
        "-days", _DAYS, *extfile, "-out", cert, cwd=d,
    )  # fmt: skip


@dataclass(frozen=True)
class DaemonCerts:
    """A CA, a server certificate for 127.0.0.1/localhost and a client certificate."""

    dir: Path

    @property
    def ca(self) -> str:
        return str(self.dir / "ca.pem")

    @property
    def server(self) -> tuple[str, str]:
        return str(self.dir / "server-cert.pem"), str(self.dir / "server-key.pem")

    @property
    def client(self) -> tuple[str, str]:
        return str(self.dir / "client-cert.pem"), str(self.dir / "client-key.pem")

    def daemon_args(self) -> list[str]:
        """berthd's (dockerd's) flags to serve TLS and require a client certificate."""
        return ["--tlsverify", "--tlscacert", self.ca, "--tlscert", self.server[0],
                "--tlskey", self.server[1]]  # fmt: skip

    def client_args(self) -> list[str]:
        """The docker CLI's flags to verify the daemon and present the client certificate."""
        return ["--tlsverify", "--tlscacert", self.ca, "--tlscert", self.client[0],
                "--tlskey", self.client[1]]  # fmt: skip


def make_daemon_certs(d: Path) -> DaemonCerts:
    """EC P-256 material in ``d``: ``ca.pem``, ``server-{cert,key}.pem`` (SAN 127.0.0.1 and
    localhost, serverAuth) and ``client-{cert,key}.pem`` (clientAuth)."""
    d.mkdir(parents=True, exist_ok=True)
    ca = ("ca.pem", "ca-key.pem")
    make_ca(d, *ca, subject="/CN=test-ca")
    server_ext = "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"
    issue_cert(d, ca, "server-cert.pem", "server-key.pem", "/CN=server", server_ext)
    issue_cert(d, ca, "client-cert.pem", "client-key.pem", "/CN=client",
               "extendedKeyUsage=clientAuth\n")  # fmt: skip
    return DaemonCerts(d)


def make_tls_material(d: Path, names: Iterable[str] = ("127.0.0.1", "::1", "localhost")) -> None:
    """RSA material in ``d`` as a registry and ``certs.d`` name it: ``ca.crt``/``ca.key``,
    a server ``tls.crt``/``tls.key`` for ``names`` and a client ``client.cert``/``client.key``
    from the same CA (for registries that ask for one)."""
    d.mkdir(parents=True, exist_ok=True)
    sans = ",".join(
        (f"IP:{n}" if n.replace(".", "").isdigit() or ":" in n else f"DNS:{n}") for n in names
    )
    ca = ("ca.crt", "ca.key")
    make_ca(d, *ca, subject="/CN=berthd test CA", kind="rsa")
    issue_cert(d, ca, "tls.crt", "tls.key", "/CN=localhost", f"subjectAltName={sans}\n", "rsa")
    issue_cert(d, ca, "client.cert", "client.key", "/CN=berthd test client", kind="rsa")
