"""Which events a ``docker events --filter`` subscription receives.

Every filter key present must match (an absent key matches everything), so
``container=x`` excludes daemon events. Names and IDs match by prefix, as
dockerd's events filter does.
"""

from __future__ import annotations

from typing import Any

from berthd.lib.filters import FilterArgs

__all__ = ["event_matches"]

# Event types whose actor is matched by ID or name (prefix), keyed by filter.
_NAMED_TYPES = (
    "daemon",
    "container",
    "plugin",
    "volume",
    "network",
    "node",
    "service",
    "secret",
    "config",
)
# Actions that carry a ": detail" suffix and so match by prefix.
_FUZZY_ACTIONS = {"health_status", "exec_create", "exec_start"}


def _strip_tag(ref: str) -> str:
    """``busybox:latest`` → ``busybox``; digests and registry ports are kept apart."""
    name, _, _ = ref.partition("@")
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        return name[:colon]
    return name


def _match_named(filters: FilterArgs, key: str, ev: dict[str, Any]) -> bool:
    if not filters.contains(key):
        return True
    if ev.get("Type") != key:
        return False
    actor = ev.get("Actor", {})
    attrs = actor.get("Attributes") or {}
    return filters.fuzzy_match(key, actor.get("ID", "")) or filters.fuzzy_match(
        key, attrs.get("name", "")
    )


def _match_image(filters: FilterArgs, ev: dict[str, Any]) -> bool:
    if not filters.contains("image"):
        return True
    actor = ev.get("Actor", {})
    attrs = actor.get("Attributes") or {}
    actor_id = actor.get("ID", "")
    name = attrs.get("name" if ev.get("Type") == "image" else "image", "")
    candidates = [actor_id, name, _strip_tag(actor_id), _strip_tag(name)]
    return any(c and filters.exact_match("image", c) for c in candidates)


def event_matches(filters: FilterArgs, ev: dict[str, Any]) -> bool:
    if len(filters) == 0:
        return True
    action = str(ev.get("Action", ""))
    if filters.contains("event"):
        if set(filters.get("event")) & _FUZZY_ACTIONS:
            if not filters.fuzzy_match("event", action):
                return False
        elif not filters.exact_match("event", action):
            return False
    if not filters.exact_match("type", str(ev.get("Type", ""))):
        return False
    if not filters.exact_match("scope", str(ev.get("scope", "local"))):
        return False
    for key in _NAMED_TYPES:
        if not _match_named(filters, key, ev):
            return False
    if not _match_image(filters, ev):
        return False
    attrs = (ev.get("Actor") or {}).get("Attributes") or {}
    return filters.match_kv_list("label", attrs)
