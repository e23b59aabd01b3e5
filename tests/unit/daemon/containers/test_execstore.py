"""The exec records' lifetimes, as moby's (daemon/exec.go execCommandGC, monitor.go,
start.go Cleanup): an ended exec stays inspectable for two collection passes, a
container's stop forgets the execs it still lists, its removal all of them."""

from __future__ import annotations

import asyncio

import pytest

from berthd import errdefs
from berthd.container import Container
from berthd.daemon.containers.exec import ExecRecord
from berthd.daemon.containers.execstore import ExecStore


def ctr(n: str) -> Container:
    return Container(
        id=(n * 64)[:64],
        name="/" + n,
        created=0,
        path="sh",
        args=[],
        config={},
        host_config={},
        image_id="sha256:x",
        driver="overlay2",
    )


def rec(c: Container, n: str) -> ExecRecord:
    return ExecRecord(
        id=(n * 64)[:64],
        container=c,
        cmd=["true"],
        env=[],
        user="",
        working_dir="",
        tty=False,
        privileged=False,
        attach_stdin=False,
        attach_stdout=True,
        attach_stderr=True,
        detach_keys="",
        console_size=None,
    )


def known(store: ExecStore, r: ExecRecord) -> bool:
    try:
        return store.get(r.id) is r
    except errdefs.NotFound:
        return False


async def test_an_ended_exec_is_kept_for_two_passes() -> None:
    store = ExecStore()
    try:
        c = ctr("a")
        ended, live = rec(c, "1"), rec(c, "2")
        store.add(ended)
        store.add(live)
        assert c.exec_ids == {ended.id, live.id}  # container inspect's ExecIDs
        store.ended(ended)
        assert c.exec_ids == {live.id}
        assert store.collect() == 0  # first pass: marked
        assert ended.can_remove and not live.can_remove
        assert ended.to_api()["CanRemove"] is True
        assert known(store, ended)
        assert store.collect() == 1  # second pass: gone
        assert not known(store, ended) and known(store, live)
        with pytest.raises(errdefs.NotFound, match=f"No such exec instance: {ended.id}"):
            store.get(ended.id)
        # a live exec (listed by its container) is never collected
        assert store.collect() == 0 and known(store, live)
    finally:
        await store.close()


async def test_a_stop_forgets_what_the_container_still_lists() -> None:
    store = ExecStore()
    try:
        c = ctr("b")
        ended, not_started = rec(c, "1"), rec(c, "2")
        store.add(ended)
        store.add(not_started)
        store.ended(ended)
        store.container_stopped(c)
        assert c.exec_ids == set()
        assert known(store, ended) and not known(store, not_started)
    finally:
        await store.close()


async def test_a_removal_forgets_every_exec_of_the_container() -> None:
    store = ExecStore()
    try:
        a, b = ctr("c"), ctr("d")
        ended, other = rec(a, "1"), rec(b, "2")
        store.add(ended)
        store.add(other)
        store.ended(ended)
        store.container_removed(a)
        assert not known(store, ended) and known(store, other)
    finally:
        await store.close()


async def test_the_collector_runs_and_is_awaited_at_close() -> None:
    store = ExecStore(gc_interval=0.01)
    c = ctr("e")
    r = rec(c, "1")
    store.add(r)
    store.ended(r)
    for _ in range(500):
        if not known(store, r):
            break
        await asyncio.sleep(0.01)
    assert not known(store, r)
    await store.close()
    assert not [t for t in asyncio.all_tasks() if t.get_name() == "exec-gc"]
