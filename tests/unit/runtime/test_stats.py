"""Stats from fake cgroup trees, v1 and v2, in dockerd's field names."""

from __future__ import annotations

from pathlib import Path

from berthd.runtime.cgroups import Hierarchy
from berthd.runtime.stats import read_stats


def _w(d: Path, name: str, text: str) -> None:
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_text(text)


def test_v1(tmp_path: Path) -> None:
    hs = [
        Hierarchy(tmp_path / c, 1, frozenset({c}))
        for c in ("cpu", "cpuacct", "memory", "pids", "blkio")
    ]
    cg = "/p/c1"
    _w(tmp_path / "cpuacct/p/c1", "cpuacct.usage", "5000\n")
    _w(tmp_path / "cpuacct/p/c1", "cpuacct.usage_percpu", "2000 3000 \n")
    _w(tmp_path / "cpuacct/p/c1", "cpuacct.stat", "user 10\nsystem 5\n")
    _w(tmp_path / "cpu/p/c1", "cpu.stat", "nr_periods 7\nnr_throttled 2\nthrottled_time 99\n")
    m = tmp_path / "memory/p/c1"
    _w(m, "memory.usage_in_bytes", "1000\n")
    _w(m, "memory.max_usage_in_bytes", "2000\n")
    _w(m, "memory.limit_in_bytes", "67108864\n")
    _w(m, "memory.failcnt", "0\n")
    _w(m, "memory.stat", "cache 10\ntotal_inactive_file 4\n")
    _w(tmp_path / "pids/p/c1", "pids.current", "3\n")
    _w(tmp_path / "pids/p/c1", "pids.max", "max\n")
    _w(
        tmp_path / "blkio/p/c1",
        "blkio.throttle.io_service_bytes_recursive",
        "8:0 Read 4096\n8:0 Write 0\nTotal 4096\n",
    )
    s = read_stats({}, cg, hs)
    cpu = s["cpu_stats"]
    assert cpu["cpu_usage"]["total_usage"] == 5000
    assert cpu["cpu_usage"]["percpu_usage"] == [2000, 3000]
    assert cpu["cpu_usage"]["usage_in_usermode"] > cpu["cpu_usage"]["usage_in_kernelmode"] > 0
    assert cpu["throttling_data"] == {"periods": 7, "throttled_periods": 2, "throttled_time": 99}
    assert cpu["system_cpu_usage"] > 0 and cpu["online_cpus"] >= 1
    mem = s["memory_stats"]
    assert (mem["usage"], mem["max_usage"], mem["limit"]) == (1000, 2000, 67108864)
    assert mem["stats"]["total_inactive_file"] == 4
    assert s["pids_stats"] == {"current": 3}
    assert s["blkio_stats"]["io_service_bytes_recursive"] == [
        {"major": 8, "minor": 0, "op": "Read", "value": 4096},
        {"major": 8, "minor": 0, "op": "Write", "value": 0},
    ]


def test_v1_prefers_proc_paths(tmp_path: Path) -> None:
    hs = [Hierarchy(tmp_path / "pids", 1, frozenset({"pids"}))]
    _w(tmp_path / "pids/real", "pids.current", "9\n")
    s = read_stats({"pids": "/real"}, "/configured", hs)
    assert s["pids_stats"]["current"] == 9


def test_v2(tmp_path: Path) -> None:
    hs = [Hierarchy(tmp_path, 2, frozenset())]
    d = tmp_path / "p/c1"
    _w(d, "cpu.stat", "usage_usec 10\nuser_usec 6\nsystem_usec 4\nnr_periods 1\n")
    _w(d, "memory.current", "4096\n")
    _w(d, "memory.max", "max\n")
    _w(d, "memory.stat", "anon 100\ninactive_file 5\n")
    _w(d, "pids.current", "2\n")
    _w(d, "pids.max", "50\n")
    _w(d, "io.stat", "8:0 rbytes=512 wbytes=1024 rios=1 wios=2\n")
    s = read_stats({}, "/p/c1", hs)
    assert s["cpu_stats"]["cpu_usage"]["total_usage"] == 10_000
    assert s["cpu_stats"]["cpu_usage"]["usage_in_usermode"] == 6_000
    assert s["memory_stats"] == {
        "usage": 4096,
        "limit": 0,
        "stats": {"anon": 100, "inactive_file": 5},
    }
    assert s["pids_stats"] == {"current": 2, "limit": 50}
    assert s["blkio_stats"]["io_service_bytes_recursive"] == [
        {"major": 8, "minor": 0, "op": "read", "value": 512},
        {"major": 8, "minor": 0, "op": "write", "value": 1024},
    ]
