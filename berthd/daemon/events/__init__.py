"""The daemon's event bus: a bounded history plus live subscribers."""

from __future__ import annotations

from berthd.daemon.events.filter import event_matches
from berthd.daemon.events.service import EventsService, Subscription

__all__ = ["EventsService", "Subscription", "event_matches"]
