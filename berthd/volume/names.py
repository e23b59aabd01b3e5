"""Volume names: the local driver's rule and generated names for anonymous volumes."""

from __future__ import annotations

import re
import secrets

from berthd.errdefs import InvalidParameter

__all__ = ["RESTRICTED_NAME_CHARS", "generate_name", "validate_local_name"]

# moby's names.RestrictedNamePattern: a local volume name becomes a directory
# under <data-root>/volumes, so nothing that could climb out of it is allowed.
RESTRICTED_NAME_CHARS = "[a-zA-Z0-9][a-zA-Z0-9_.-]"
_RESTRICTED_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+\Z")


def validate_local_name(name: str) -> None:
    """Raise InvalidParameter with dockerd's wording for a bad local volume name."""
    if len(name) == 1:
        raise InvalidParameter(
            "volume name is too short, names should be at least two alphanumeric characters"
        )
    if not _RESTRICTED_NAME.match(name):
        raise InvalidParameter(
            f'"{name}" includes invalid characters for a local volume name, only '
            f'"{RESTRICTED_NAME_CHARS}" are allowed. If you intended to pass a host '
            "directory, use absolute path"
        )


def generate_name() -> str:
    """64 hex characters, as moby's ``stringid.GenerateRandomID``.

    Like moby, never one whose 12-character short form is all digits, so the
    short form cannot be mistaken for a number.
    """
    while True:
        name = secrets.token_hex(32)
        if not name[:12].isdigit():
            return name
