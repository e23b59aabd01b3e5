from __future__ import annotations

import os
from typing import Any

import pytest

from berthd.errdefs import Conflict, InvalidParameter
from berthd.oci.resources import (
    adapt_resources,
    cgroups_path,
    linux_resources,
    parse_uint_list,
    update_resources,
    validate_resources,
)

MiB = 1024 * 1024


def check(hc: dict[str, Any], msg: str, **kw: Any) -> None:
    with pytest.raises(InvalidParameter) as ei:
        validate_resources(hc, num_cpus=4, cpus_online="0-3", mems_online="0", **kw)
    assert str(ei.value) == msg


def test_memory_rules() -> None:
    check({"Memory": 5 * MiB}, "Minimum memory limit allowed is 6MB")
    check(
        {"Memory": 64 * MiB, "MemorySwap": 32 * MiB},
        "Minimum memoryswap limit should be larger than memory limit, see usage",
    )
    check(
        {"MemorySwap": 64 * MiB},
        "You should always set the Memory limit when using Memoryswap limit, see usage",
    )
    check({"MemoryReservation": 1 * MiB}, "Minimum memory reservation allowed is 6MB")
    check(
        {"Memory": 64 * MiB, "MemoryReservation": 128 * MiB},
        "Minimum memory limit can not be less than memory reservation limit, see usage",
    )
    check({"MemorySwappiness": 101}, "Invalid value: 101, valid memory swappiness range is 0-100")
    # -1 is "unlimited swap" and fine
    assert validate_resources({"Memory": 64 * MiB, "MemorySwap": -1}) == []


def test_cpu_rules() -> None:
    check(
        {"NanoCpus": 10**9, "CpuPeriod": 100000},
        "Conflicting options: Nano CPUs and CPU Period cannot both be set",
    )
    check(
        {"NanoCpus": 10**9, "CpuQuota": 50000},
        "Conflicting options: Nano CPUs and CPU Quota cannot both be set",
    )
    check(
        {"NanoCpus": 5 * 10**9},
        "Range of CPUs is from 0.01 to 4.00, as there are only 4 CPUs available",
    )
    check(
        {"CpuPeriod": 500},
        "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)",
    )
    check({"CpuQuota": 500}, "CPU cfs quota can not be less than 1ms (i.e. 1000)")
    check({"CpusetCpus": "0-7"}, "Requested CPUs are not available - requested 0-7, available: 0-3")
    check({"CpusetCpus": "a"}, "Invalid value a for cpuset cpus: invalid format: a")
    check({"BlkioWeight": 5}, "Range of blkio weight is from 10 to 1000")
    check({"OomScoreAdj": 1001}, "Invalid value 1001, range for oom score adj is [-1000, 1000]")
    check({"ShmSize": -1}, "SHM size can not be less than 0")


def test_oom_kill_disable_warning() -> None:
    w = validate_resources({"OomKillDisable": True})
    assert w and w[0].startswith("OOM killer is disabled for the container")


def test_spec_fields() -> None:
    hc = adapt_resources(
        {
            "Memory": 64 * MiB,
            "MemoryReservation": 32 * MiB,
            "NanoCpus": 1_500_000_000,
            "CpuShares": 512,
            "CpusetCpus": "0-1",
            "CpusetMems": "0",
            "PidsLimit": 100,
            "BlkioWeight": 300,
        }
    )
    r = linux_resources(hc)
    assert r["memory"] == {
        "limit": 64 * MiB,
        "reservation": 32 * MiB,
        "swap": 128 * MiB,  # dockerd's default: twice the memory
        "disableOOMKiller": False,
    }
    assert r["cpu"] == {
        "shares": 512,
        "cpus": "0-1",
        "mems": "0",
        "period": 100000,
        "quota": 150000,
    }
    assert r["pids"] == {"limit": 100}
    assert r["blockIO"] == {"weight": 300}


def test_swap_unlimited_and_pids_unlimited() -> None:
    r = linux_resources(adapt_resources({"Memory": 64 * MiB, "MemorySwap": -1, "PidsLimit": 0}))
    assert "swap" not in r["memory"]
    assert r["pids"] == {"limit": -1}
    assert linux_resources({"PidsLimit": -1})["pids"] == {"limit": -1}
    assert linux_resources({"CpuQuota": 50000, "CpuPeriod": 100000})["cpu"] == {
        "quota": 50000,
        "period": 100000,
    }
    assert linux_resources({}) == {}


def test_cgroups_path() -> None:
    assert cgroups_path("abc") == "/berthd/abc"
    assert cgroups_path("abc", "/custom/") == "/custom/abc"
    assert cgroups_path("abc", "rel") == "/rel/abc"
    assert cgroups_path("abc", "../../x") == "/x/abc"


def test_parse_uint_list() -> None:
    assert parse_uint_list("0-2,5") == {0, 1, 2, 5}
    for bad in ("1-", "3-1", "a", "1,,2"):
        with pytest.raises(InvalidParameter):
            parse_uint_list(bad)


def test_update() -> None:
    cur = {"Memory": 64 * MiB, "MemorySwap": 128 * MiB, "NanoCpus": 10**9}
    with pytest.raises(Conflict) as ei:
        update_resources(cur, {"Memory": 256 * MiB})
    assert str(ei.value) == (
        "Memory limit should be smaller than already set memoryswap limit, "
        "update the memoryswap at the same time"
    )
    with pytest.raises(Conflict, match="CPU Quota cannot be updated as NanoCPUs"):
        update_resources(cur, {"CpuQuota": 50000})
    new = update_resources(cur, {"Memory": 256 * MiB, "MemorySwap": 512 * MiB, "CpuShares": 7})
    assert new["Memory"] == 256 * MiB and new["MemorySwap"] == 512 * MiB and new["CpuShares"] == 7


def test_blkio_devices() -> None:
    st = os.stat("/dev/null")
    r = linux_resources(
        {
            "BlkioWeightDevice": [{"Path": "/dev/null", "Weight": 200}],
            "BlkioDeviceReadBps": [{"Path": "/dev/null", "Rate": 1024}],
        }
    )
    dev = {"major": os.major(st.st_rdev), "minor": os.minor(st.st_rdev)}
    assert r["blockIO"] == {
        "weightDevice": [{**dev, "weight": 200}],
        "throttleReadBpsDevice": [{**dev, "rate": 1024}],
    }
    with pytest.raises(InvalidParameter, match="stat /dev/nope-x: no such file or directory"):
        linux_resources({"BlkioDeviceWriteIOps": [{"Path": "/dev/nope-x", "Rate": 1}]})
