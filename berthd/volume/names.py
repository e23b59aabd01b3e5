"""Volume names: the local driver's rule and generated names for anonymous volumes."""

from __future__ import annotations

import re
import secrets

from berthd.errdefs import InvalidParameter
from berthd.lib.strconv import quote

__all__ = ["RESTRICTED_NAME_CHARS", "generate_name", "validate_local_name"]

# moby's names.RestrictedNamePattern: a local volume name becomes a directory
# under <data-root>/volumes, so nothing that could climb out of it is allowed.
RESTRICTED_NAME_CHARS = "[a-zA-Z0-9][a-zA-Z0-9_.-]"
_RESTRICTED_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+\Z")
# NAME_MAX: the name is a directory under <data-root>/volumes
MAX_LOCAL_NAME_BYTES = 255


def validate_local_name(name: str) -> None:
    """Raise InvalidParameter with dockerd's wording for a bad local volume name.

    Lengths are in bytes, as Go's ``len``. A name longer than a directory name can
    be is refused here too (dockerd fails creating the directory, a 500).
    """
    size = len(name.encode("utf-8", "surrogatepass"))
    if size == 1:
        raise InvalidParameter(
            "volume name is too short, names should be at least two alphanumeric characters"
        )
    if not _RESTRICTED_NAME.match(name):
        raise InvalidParameter(
            f"{quote(name)} includes invalid characters for a local volume name, only "
            f'"{RESTRICTED_NAME_CHARS}" are allowed. If you intended to pass a host '
            "directory, use absolute path"
        )
    if size > MAX_LOCAL_NAME_BYTES:
        raise InvalidParameter(
            f"volume name is too long ({size} bytes), names should be at most "
            f"{MAX_LOCAL_NAME_BYTES} bytes"
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
