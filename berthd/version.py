"""berthd's own version and the Engine API versions it serves."""

from __future__ import annotations

__all__ = ["API_VERSION", "GIT_COMMIT", "MIN_API_VERSION", "VERSION"]

VERSION = "0.1.0"
# Reported as the daemon's Version; the docker CLI only displays it.
GIT_COMMIT = "berthd"
# The newest Engine API version served; the CLI negotiates down to it.
API_VERSION = "1.45"
# The oldest one accepted in a /vX.Y/ prefix.
MIN_API_VERSION = "1.24"
