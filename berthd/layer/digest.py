"""Chain IDs, diff IDs and the random IDs the layer store hands out.

A layer's *diff ID* is ``sha256:`` of its uncompressed tar; its *chain ID*
names the whole stack below it, per the OCI image spec::

    ChainID(L0)   = DiffID(L0)
    ChainID(Ln)   = sha256(ChainID(Ln-1) + " " + DiffID(Ln))

The layer store is keyed by chain ID, so berthd's ``layerdb/sha256/<hex>``
directories carry the same names as dockerd's.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections.abc import Sequence

from berthd import errdefs

__all__ = ["chain_id", "chain_ids", "digest_hex", "random_id", "short_link_id", "validate"]

_DIGEST = re.compile(r"^sha256:[a-f0-9]{64}$")


def validate(digest: str) -> str:
    """Return ``digest`` if it is a canonical ``sha256:<64 hex>``."""
    if not _DIGEST.match(digest):
        raise errdefs.InvalidParameter(f"invalid digest {digest!r}")
    return digest


def digest_hex(digest: str) -> str:
    return validate(digest)[len("sha256:") :]


def chain_id(parent: str | None, diff_id: str) -> str:
    """Chain ID of a layer with ``diff_id`` on top of the chain ``parent``."""
    validate(diff_id)
    if parent is None:
        return diff_id
    validate(parent)
    return "sha256:" + hashlib.sha256(f"{parent} {diff_id}".encode()).hexdigest()


def chain_ids(diff_ids: Sequence[str]) -> list[str]:
    """The chain ID of every prefix of ``diff_ids`` (bottom layer first)."""
    out: list[str] = []
    parent: str | None = None
    for diff_id in diff_ids:
        parent = chain_id(parent, diff_id)
        out.append(parent)
    return out


def random_id() -> str:
    """A 64-hex random ID, as dockerd's ``stringid.GenerateRandomID`` (cache/mount IDs)."""
    return secrets.token_hex(32)


def short_link_id() -> str:
    """26 upper-case base32 characters: the name of an overlay2 ``l/`` link."""
    return base64.b32encode(secrets.token_bytes(16)).decode()[:26]
