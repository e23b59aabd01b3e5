from __future__ import annotations

from pathlib import Path

import pytest

from berthd.errdefs import Conflict, Forbidden, InvalidParameter
from berthd.network import Endpoint, Network, NetworkStore


def _net() -> Network:
    return Network("n1" * 32, "tn", "bridge", "2024-01-01T00:00:00Z", "172.31.9.0/24", "172.31.9.1")


def _ep(net: Network, cid: str):  # type: ignore[no-untyped-def]
    return lambda ip, ip6: Endpoint(net.id, cid, "e" + cid, ip, ip6)


def test_addresses_are_unique_and_survive_reopen(tmp_path: Path) -> None:
    store = NetworkStore(str(tmp_path))
    net = _net()
    store.put_network(net)
    a = store.allocate(net, "", _ep(net, "a"))
    b = store.allocate(net, "", _ep(net, "b"))
    assert (a.ip, b.ip) == ("172.31.9.2", "172.31.9.3")
    store.release(net.id, "a")
    store.close()
    store = NetworkStore(str(tmp_path))
    # after a restart: b still holds its address, and .2 is not handed out again at once
    assert [e.ip for e in store.endpoints(net.id)] == ["172.31.9.3"]
    c = store.allocate(net, "", _ep(net, "c"))
    assert c.ip == "172.31.9.4"
    with pytest.raises(Conflict):
        store.allocate(net, "172.31.9.3", _ep(net, "d"))
    with pytest.raises(InvalidParameter):
        store.allocate(net, "10.0.0.1", _ep(net, "d"))
    store.close()


def test_network_with_endpoints_cannot_be_removed(tmp_path: Path) -> None:
    store = NetworkStore(str(tmp_path))
    net = _net()
    store.put_network(net)
    store.allocate(net, "", _ep(net, "a"))
    with pytest.raises(Forbidden, match=f"network tn id {net.id} has active endpoints"):
        store.delete_network(net)
    store.release(net.id, "a")
    store.delete_network(net)
    assert store.networks() == []
    store.close()


def test_duplicate_names_refused(tmp_path: Path) -> None:
    store = NetworkStore(str(tmp_path))
    store.put_network(_net())
    other = _net()
    other.id = "n2" * 32
    with pytest.raises(Conflict):
        store.put_network(other)
    store.close()
