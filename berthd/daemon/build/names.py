"""Where a build leaves its traces: the names start-up looks for without importing the
builder (``service.BuildService.startup``) and the backend makes them with."""

from __future__ import annotations

__all__ = ["JOURNAL_DIR", "LAYER_PREFIX"]

# the rw layers of build steps (containers and COPY sources) are named so
LAYER_PREFIX = "builder-"
# under <data-root>/builder: one entry per build container not yet removed
JOURNAL_DIR = "containers"
