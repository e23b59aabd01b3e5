from __future__ import annotations

import re
import socket

import pytest

from berthd.errdefs import System
from berthd.network.ports import inspect_ports, plan_ports, ps_ports


def test_random_and_fixed_ports() -> None:
    hc = {
        "PortBindings": {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": ""}]},
        "PublishAllPorts": True,
    }
    maps = plan_ports(hc, ["80/tcp", "53/udp"], set(), "c (id)")
    by = {(m.container_port, m.protocol): m for m in maps}
    assert by[(80, "tcp")].host_ip == "127.0.0.1" and by[(80, "tcp")].host_port > 0
    assert by[(53, "udp")].host_port > 0


def test_port_allocated_by_another_container() -> None:
    hc = {"PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "18123"}]}}
    with pytest.raises(
        System, match=re.escape("Bind for 0.0.0.0:18123 failed: port is already allocated")
    ):
        plan_ports(hc, [], {("127.0.0.1", 18123, "tcp")}, "c (id)")


def test_port_held_by_a_host_process() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        hc = {"PortBindings": {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]}}
        with pytest.raises(
            System, match=re.escape(f"listen tcp4 127.0.0.1:{port}: bind: address already in use")
        ):
            plan_ports(hc, [], set(), "c (id)")


def test_inspect_and_ps_shapes() -> None:
    mappings = [
        {"host_ip": "", "container_port": 80, "host_port": 8080, "protocol": "tcp", "range": 1}
    ]
    ports = inspect_ports(["80/tcp", "443/tcp"], mappings)
    assert ports == {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}], "443/tcp": None}
    assert ps_ports(ports) == [
        {"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"},
        {"PrivatePort": 443, "Type": "tcp"},
    ]
