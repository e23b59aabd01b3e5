from __future__ import annotations

import os
from pathlib import Path

import pytest

from berthd.container import (
    AmbiguousPrefix,
    Container,
    ContainerStore,
    NameRegistrar,
    State,
    TruncIndex,
    validate_name,
)
from berthd.errdefs import Conflict, InvalidParameter, NotFound
from berthd.lib.timefmt import ZERO_TIME, format_ns, human_duration, parse_ns

S = 1_000_000_000


def test_name_rules() -> None:
    assert validate_name("web") == "/web"
    assert validate_name("/web-1.a_b") == "/web-1.a_b"
    for bad in ("a", "-x", "x y", "x/y", "", "/"):
        with pytest.raises(InvalidParameter, match=r"Invalid container name"):
            validate_name(bad)


def test_registrar_conflict_message() -> None:
    r = NameRegistrar()
    r.reserve("web", "a" * 64)
    r.reserve("/web", "a" * 64)  # same owner: fine
    with pytest.raises(Conflict) as e:
        r.reserve("web", "b" * 64)
    assert str(e.value) == (
        f'Conflict. The container name "/web" is already in use by container "{"a" * 64}". '
        "You have to remove (or rename) that container to be able to reuse that name."
    )
    r.release("web")
    r.reserve("web", "b" * 64)
    generated = r.reserve_generated("c" * 64)
    assert generated.startswith("/") and "_" in generated
    assert r.lookup(generated) == "c" * 64


def test_truncindex() -> None:
    idx = TruncIndex()
    idx.add("abc123" + "0" * 58)
    idx.add("abd456" + "0" * 58)
    assert idx.get("abc") == "abc123" + "0" * 58
    assert idx.get("x") is None
    with pytest.raises(AmbiguousPrefix, match="multiple IDs found with provided prefix: ab"):
        idx.get("ab")
    idx.delete("abd456" + "0" * 58)
    assert idx.get("ab") == "abc123" + "0" * 58


def test_time_format_round_trip() -> None:
    assert format_ns(0) == ZERO_TIME
    assert parse_ns(ZERO_TIME) == 0
    t = 1_700_000_000 * S + 123_456_789
    assert format_ns(t) == "2023-11-14T22:13:20.123456789Z"
    assert parse_ns(format_ns(t)) == t
    assert format_ns(1_700_000_000 * S + 500_000_000) == "2023-11-14T22:13:20.5Z"
    assert parse_ns("2023-11-14T23:13:20.5+01:00") == 1_700_000_000 * S + 500_000_000
    assert human_duration(0.5) == "Less than a second"
    assert human_duration(5) == "5 seconds"
    assert human_duration(90) == "About a minute"
    assert human_duration(3 * 3600) == "3 hours"


def test_state_words() -> None:
    s = State()
    assert (s.status(), s.human()) == ("created", "Created")
    now = 1_000 * S
    s.set_running(pid=42, monitor_pid=41, started_at=now - 5 * S)
    assert s.status() == "running"
    assert s.human(now) == "Up 5 seconds"
    s.paused = True
    assert s.status() == "paused" and s.human(now) == "Up 5 seconds (Paused)"
    s.set_stopped(exit_code=3, oom_killed=False, finished_at=now - 2 * S)
    assert s.status() == "exited"
    assert s.human(now) == "Exited (3) 2 seconds ago"
    assert s.to_api()["ExitCode"] == 3 and s.to_api()["Pid"] == 0
    s.dead = True
    assert s.status() == "dead"


def make(cid: str, name: str) -> Container:
    return Container(
        id=cid,
        name=name,
        created=5 * S,
        path="sh",
        args=["-c", "true"],
        config={"Image": "busybox", "Cmd": ["sh"]},
        host_config={"Runtime": "runc"},
        image_id="sha256:" + "f" * 64,
        driver="overlay2",
    )


def test_store_round_trip_and_lookup(tmp_path: Path) -> None:
    store = ContainerStore(str(tmp_path))
    a = make("a" * 64, "/alpha")
    a.state.set_running(pid=7, monitor_pid=6, started_at=9 * S)
    store.checkpoint(a)
    os.makedirs(tmp_path / ("b" * 64))  # an unfinished create
    (tmp_path / ("c" * 64)).mkdir()
    (tmp_path / ("c" * 64) / "config.v2.json").write_text("{not json")
    result = ContainerStore(str(tmp_path)).load_all()
    assert [c.id for c in result.containers] == [a.id]
    assert result.unfinished == ["b" * 64]
    assert result.corrupt == ["c" * 64]
    loaded = result.containers[0]
    assert loaded.to_disk() == a.to_disk()
    assert loaded.state.monitor_pid == 6
    store.add(loaded)
    store.names.reserve(loaded.name, loaded.id)
    assert store.get("alpha") is loaded
    assert store.get("/alpha") is loaded
    assert store.get("aaa") is loaded
    with pytest.raises(NotFound, match="No such container: zzz"):
        store.get("zzz")
    store.delete(loaded)
    assert store.try_get("alpha") is None


def test_a_checkpoint_in_flight_never_overwrites_a_newer_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A start's checkpoint still writing when the exit's checkpoint comes: the file
    ends with the exit, not with the older running state renamed over it."""
    import threading

    import orjson

    from berthd.container import store as store_module

    real = store_module.write_atomic
    first_config = threading.Event()
    release = threading.Event()
    calls: list[str] = []

    def slow_first(path: str, data: bytes, **kw: object) -> None:
        if path.endswith("config.v2.json") and not calls:
            calls.append(path)
            first_config.set()
            release.wait(5)
        real(path, data, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(store_module, "write_atomic", slow_first)
    store = ContainerStore(str(tmp_path))
    c = make("d" * 64, "/racer")
    c.state.set_running(pid=7, monitor_pid=6, started_at=9 * S)
    start = threading.Thread(target=store.checkpoint, args=(c,))
    start.start()
    assert first_config.wait(5)
    c.state.set_stopped(exit_code=0, oom_killed=False)
    exit_write = threading.Thread(target=store.checkpoint, args=(c,))
    exit_write.start()
    exit_write.join(0.3)
    release.set()
    start.join(5)
    exit_write.join(5)
    on_disk = orjson.loads((tmp_path / ("d" * 64) / "config.v2.json").read_bytes())
    assert on_disk["State"]["Running"] is False
