"""Go's ``strconv.ParseBool`` truth table."""

from __future__ import annotations

__all__ = ["parse_bool"]


def parse_bool(value: str) -> bool:
    """Go's strconv.ParseBool; ValueError for anything else."""
    if value in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if value in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    raise ValueError(value)
