"""Polling a condition until it holds."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

__all__ = ["wait_for"]

T = TypeVar("T")


def wait_for(
    pred: Callable[[], T], timeout: float = 10.0, step: float = 0.05, what: str = "condition"
) -> T:
    """Call ``pred`` every ``step`` seconds until it returns something true, and return
    that; TimeoutError once ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not met")
        time.sleep(step)
