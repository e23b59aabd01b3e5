"""Swarm identifiers and secrets: object IDs, join tokens, the unlock key, the root CA.

Object IDs are SwarmKit's: 128 random bits in base 36, padded to 25
characters. A join token is ``SWMTKN-1-<digest>-<secret>``: the digest is the
SHA-256 of the root CA certificate in base 36 (50 characters), the secret 128
random bits in base 36 (25). The unlock key is ``SWMKEY-1-`` and 32 random
bytes in unpadded base64. The root CA is a self-signed P-256 certificate
(``CN=swarm-ca``, 20 years) made with ``openssl``, as SwarmKit makes its own.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "INVALID_JOIN_TOKEN",
    "JoinToken",
    "RootCA",
    "join_token",
    "new_id",
    "new_root_ca",
    "parse_join_token",
    "token_matches",
    "unlock_key",
]

# SwarmKit's ca.ParseJoinToken answers every malformed token with this one sentence
INVALID_JOIN_TOKEN = "invalid join token"

_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"
# the DER of the subject "CN=swarm-ca" (PrintableString), as SwarmKit's root names it
_SUBJECT_DER = bytes.fromhex("3013311130 0f0603550403 1308".replace(" ", "")) + b"swarm-ca"


def _base36(n: int, width: int) -> str:
    out = ""
    while n:
        n, r = divmod(n, 36)
        out = _DIGITS[r] + out
    return out.rjust(width, "0")


def new_id() -> str:
    return _base36(int.from_bytes(secrets.token_bytes(16), "big"), 25)


@dataclass(frozen=True)
class RootCA:
    cert_pem: str
    key_pem: str
    public_key_der: bytes

    @property
    def digest(self) -> str:
        der = base64.b64decode(
            "".join(line for line in self.cert_pem.splitlines() if "-----" not in line)
        )
        return _base36(int.from_bytes(hashlib.sha256(der).digest(), "big"), 50)

    def tls_info(self) -> dict[str, str]:
        return {
            "TrustRoot": self.cert_pem,
            "CertIssuerSubject": base64.b64encode(_SUBJECT_DER).decode(),
            "CertIssuerPublicKey": base64.b64encode(self.public_key_der).decode(),
        }


def join_token(ca: RootCA) -> str:
    return f"SWMTKN-1-{ca.digest}-{new_id()}"


@dataclass(frozen=True)
class JoinToken:
    """A parsed ``SWMTKN-1-<digest>-<secret>``: ``digest`` pins the root CA (base 36)."""

    digest: str
    secret: str

    def pins(self, ca_cert_pem: str) -> bool:
        """Whether a fetched root CA PEM is the one this token names."""
        ca = RootCA(cert_pem=ca_cert_pem, key_pem="", public_key_der=b"")
        return secrets.compare_digest(ca.digest, self.digest)


def parse_join_token(token: str) -> JoinToken:
    """SwarmKit's v1 parse: four dash-separated parts, a 50-digit base-36 digest and a
    25-character secret; anything else is ``ValueError(INVALID_JOIN_TOKEN)``."""
    parts = token.split("-")
    if len(parts) != 4 or parts[0] != "SWMTKN" or parts[1] != "1":
        raise ValueError(INVALID_JOIN_TOKEN)
    digest, secret = parts[2], parts[3]
    if len(secret) != 25 or not digest or len(digest) > 50:
        raise ValueError(INVALID_JOIN_TOKEN)
    if any(c not in _DIGITS for c in digest.lower()) or any(c not in _DIGITS for c in secret):
        raise ValueError(INVALID_JOIN_TOKEN)
    return JoinToken(digest=digest.lower().rjust(50, "0"), secret=secret)


def token_matches(presented: str, issued: str) -> bool:
    """Whether a presented token is one of the cluster's (constant-time on the secret)."""
    try:
        a, b = parse_join_token(presented), parse_join_token(issued)
    except ValueError:
        return False
    return a.digest == b.digest and secrets.compare_digest(a.secret, b.secret)


def unlock_key() -> str:
    return "SWMKEY-1-" + base64.b64encode(secrets.token_bytes(32)).decode().rstrip("=")


def new_root_ca() -> RootCA:
    """Blocking: a fresh root CA through ``openssl`` (a few milliseconds)."""
    with tempfile.TemporaryDirectory(prefix="berthd-ca-") as tmp:
        key, cert = Path(tmp, "key.pem"), Path(tmp, "cert.pem")
        run = {"check": True, "capture_output": True, "timeout": 30}
        subprocess.run(
            ["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(key)],
            **run,  # type: ignore[call-overload]
        )
        subprocess.run(
            [
                "openssl",
                "req",
                "-x509",
                "-new",
                "-key",
                str(key),
                "-subj",
                "/CN=swarm-ca",
                "-days",
                "7300",
                "-sha256",
                "-out",
                str(cert),
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
            ],
            **run,  # type: ignore[call-overload]
        )
        pub = subprocess.run(
            ["openssl", "ec", "-in", str(key), "-pubout", "-outform", "DER"],
            **run,  # type: ignore[call-overload]
        ).stdout
        return RootCA(cert.read_text(), key.read_text(), pub)
