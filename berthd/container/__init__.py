"""Containers: the record, its state, names, the ID index and the store."""

from __future__ import annotations

from berthd.container.index import AmbiguousPrefix, TruncIndex
from berthd.container.model import Container
from berthd.container.names import NameRegistrar, generate_name, normalize_name, validate_name
from berthd.container.state import State
from berthd.container.store import CONFIG_FILE, ContainerStore, LoadResult

__all__ = [
    "CONFIG_FILE",
    "AmbiguousPrefix",
    "Container",
    "ContainerStore",
    "LoadResult",
    "NameRegistrar",
    "State",
    "TruncIndex",
    "generate_name",
    "normalize_name",
    "validate_name",
]
