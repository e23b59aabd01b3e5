"""Content digests, image/layer IDs and chain IDs.

Everything in the image store is content-addressed the way go-digest does it: the
canonical algorithm is sha256 and a digest prints as ``sha256:<64 lowercase hex>``.
Chain IDs follow the OCI/moby rule so berthd's layer keys match dockerd's on disk.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

__all__ = [
    "CANONICAL",
    "chain_id",
    "chain_ids",
    "digest_hex",
    "is_hex_id",
    "parse_digest",
    "sha256_digest",
    "truncate_id",
    "validate_sha256_digest",
]

CANONICAL = "sha256"

_HEX64 = re.compile(r"^[a-f0-9]{64}$")
# go-digest's grammar: algorithm ":" encoded.
_DIGEST = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$")
_KNOWN_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}


def sha256_digest(data: bytes) -> str:
    """``sha256:<hex>`` of ``data`` (an image ID is this over the raw config bytes)."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def is_hex_id(value: str) -> bool:
    """True for a bare 64-hex identifier (what ``ParseAnyReference`` treats as an ID)."""
    return bool(_HEX64.match(value))


def parse_digest(value: str) -> str:
    """Validate a digest string as go-digest's ``digest.Parse`` does; return it.

    Raises ``ValueError`` with go-digest's wording so callers can wrap it.
    """
    i = value.find(":")
    if i <= 0 or i + 1 == len(value):
        raise ValueError("invalid checksum digest format")
    algorithm, encoded = value[:i], value[i + 1 :]
    expected = _KNOWN_LENGTHS.get(algorithm)
    if expected is None:
        if not _DIGEST.match(value):
            raise ValueError("invalid checksum digest format")
        raise ValueError("unsupported digest algorithm")
    if len(encoded) != expected:
        raise ValueError("invalid checksum digest length")
    if not re.fullmatch(r"[a-f0-9]+", encoded):
        raise ValueError("invalid checksum digest format")
    return value


def validate_sha256_digest(value: str) -> str:
    """Accept only ``sha256:<64 hex>`` (the only form image and layer IDs take)."""
    if not value.startswith("sha256:") or not _HEX64.match(value[7:]):
        raise ValueError(f"invalid digest {value!r}")
    return value


def digest_hex(value: str) -> str:
    """The encoded part of a digest (``sha256:abc`` → ``abc``)."""
    return value.split(":", 1)[1] if ":" in value else value


def truncate_id(value: str) -> str:
    """dockerd's ``stringid.TruncateID``: drop the algorithm, keep 12 characters."""
    return digest_hex(value)[:12]


def chain_id(diff_ids: Sequence[str]) -> str:
    """Chain ID of a layer stack; ``""`` for no layers.

    ChainID(L0) = DiffID(L0); ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln)).
    """
    ids = chain_ids(diff_ids)
    return ids[-1] if ids else ""


def chain_ids(diff_ids: Sequence[str]) -> list[str]:
    """The chain ID of every prefix of ``diff_ids`` (the parent chain of each layer)."""
    out: list[str] = []
    current = ""
    for diff_id in diff_ids:
        current = (
            diff_id
            if not current
            else "sha256:" + hashlib.sha256(f"{current} {diff_id}".encode()).hexdigest()
        )
        out.append(current)
    return out
