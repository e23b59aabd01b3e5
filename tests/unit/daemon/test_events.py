from __future__ import annotations

import asyncio

from berthd.daemon.events import EventsService, event_matches
from berthd.daemon.events.service import HISTORY_LIMIT
from berthd.lib.filters import FilterArgs


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000_000_000_000_000

    def __call__(self) -> int:
        return self.now

    def tick(self, seconds: float = 1.0) -> None:
        self.now += int(seconds * 1e9)


def ev(type_: str, action: str, actor: str, **attrs: str) -> dict[str, object]:
    return {
        "Type": type_,
        "Action": action,
        "Actor": {"ID": actor, "Attributes": attrs},
        "scope": "local",
    }


def test_legacy_fields_only_for_containers_and_images() -> None:
    svc = EventsService()
    c = svc.log("container", "start", "abc", {"image": "busybox", "name": "x"})
    assert (c["status"], c["id"], c["from"]) == ("start", "abc", "busybox")
    d = svc.log("daemon", "reload", "ID")
    assert "status" not in d and "id" not in d
    assert d["scope"] == "local"
    assert d["time"] == d["timeNano"] // 1_000_000_000


def test_filters_each_key_must_match() -> None:
    f = FilterArgs({"container": ["web"]})
    assert event_matches(f, ev("container", "start", "0123abcd", name="web"))
    assert event_matches(f, ev("container", "start", "0123abcd", name="webapp"))  # prefix
    assert event_matches(FilterArgs({"container": ["0123"]}), ev("container", "die", "0123abcd"))
    assert not event_matches(f, ev("daemon", "reload", "X", name="web"))
    assert not event_matches(f, ev("container", "start", "99", name="db"))


def test_filter_type_event_label_image() -> None:
    e = ev("container", "die", "c1", image="busybox:latest", name="n", color="red")
    assert event_matches(FilterArgs({"type": ["container"], "event": ["die"]}), e)
    assert not event_matches(FilterArgs({"event": ["start"]}), e)
    assert event_matches(FilterArgs({"label": ["color=red"]}), e)
    assert event_matches(FilterArgs({"label": ["color"]}), e)
    assert not event_matches(FilterArgs({"label": ["color=blue"]}), e)
    assert event_matches(FilterArgs({"image": ["busybox"]}), e)
    assert event_matches(FilterArgs({"image": ["busybox:latest"]}), e)
    assert not event_matches(FilterArgs({"image": ["alpine"]}), e)


def test_fuzzy_exec_actions() -> None:
    e = ev("container", "exec_start: sh -c true", "c1")
    assert event_matches(FilterArgs({"event": ["exec_start"]}), e)
    assert not event_matches(FilterArgs({"event": ["start"]}), e)


def test_history_is_bounded_and_replayed_with_since() -> None:
    clock = Clock()
    svc = EventsService(clock)
    for i in range(HISTORY_LIMIT + 10):
        clock.tick()
        svc.log("daemon", "reload", f"d{i}")
    sub = svc.subscribe(since=0, until=clock.now / 1e9, filters=FilterArgs())
    past = sub.past()
    assert len(past) == HISTORY_LIMIT
    assert past[0]["Actor"]["ID"] == "d10"
    assert sub.finished  # until in the past: only past events
    sub.close()


def test_no_since_no_past_events() -> None:
    svc = EventsService()
    svc.log("daemon", "reload", "d")
    sub = svc.subscribe(None, None, FilterArgs())
    assert sub.past() == []
    assert not sub.finished
    sub.close()


async def test_live_events_and_shutdown_end_the_stream() -> None:
    svc = EventsService()
    sub = svc.subscribe(None, None, FilterArgs({"type": ["container"]}))
    assert svc.listener_count == 1
    svc.log("daemon", "reload", "d")
    svc.log("container", "create", "c1")
    got = await sub.next(1.0)
    assert got is not None and got["Action"] == "create"
    assert await sub.next(0.05) is None  # the daemon event was filtered out
    waiter = asyncio.ensure_future(sub.next(5.0))
    await asyncio.sleep(0)
    svc.close()
    assert await waiter is None
    assert sub.finished
    sub.close()
    assert svc.listener_count == 0


async def test_until_in_the_future_ends_the_stream() -> None:
    clock = Clock()
    svc = EventsService(clock)
    sub = svc.subscribe(None, clock.now / 1e9 + 5, FilterArgs())
    assert not sub.finished
    clock.tick(6)
    assert sub.finished
    sub.close()
