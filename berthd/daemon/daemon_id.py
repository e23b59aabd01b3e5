"""The daemon ID: derived from a private key kept under ``<data-root>/trust``.

As dockerd did with libtrust: an ECDSA P-256 key is made once (by the
``openssl`` command, so no crypto library is needed in the daemon) and the
ID is the libtrust key ID of its public key: the first 240 bits of the
SHA-256 of the DER public key, base32, in twelve groups of four. The key
persists, so the ID survives restarts.
"""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess

from berthd.errdefs import System
from berthd.lib.atomicfile import write_atomic

__all__ = ["load_or_create_daemon_id", "key_id"]

KEY_FILE = "key.pem"


def key_id(der_public_key: bytes) -> str:
    digest = hashlib.sha256(der_public_key).digest()[:30]
    b32 = base64.b32encode(digest).decode().rstrip("=")
    return ":".join(b32[i : i + 4] for i in range(0, len(b32), 4))


def _openssl(*args: str, stdin: bytes | None = None) -> bytes:
    try:
        out = subprocess.run(
            ["openssl", *args], input=stdin, capture_output=True, check=True, timeout=30
        )
    except (OSError, subprocess.SubprocessError) as e:
        raise System(f"error generating the daemon key with openssl: {e}") from None
    return out.stdout


def load_or_create_daemon_id(trust_dir: str) -> str:
    """Blocking: call through ``asyncio.to_thread``."""
    os.makedirs(trust_dir, mode=0o700, exist_ok=True)
    path = os.path.join(trust_dir, KEY_FILE)
    try:
        with open(path, "rb") as f:
            pem = f.read()
    except FileNotFoundError:
        pem = _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout")
        pem = _openssl("pkcs8", "-topk8", "-nocrypt", stdin=pem)
        write_atomic(path, pem, mode=0o600)
    der = _openssl("pkey", "-pubout", "-outform", "DER", stdin=pem)
    return key_id(der)
