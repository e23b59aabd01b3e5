from __future__ import annotations

from berthd.network.batch_teardown import network_rule_lines
from berthd.network.bridge_keeper import keeper_name

SAVED = """\
*filter
:NETAVARK_FORWARD - [0:0]
-A FORWARD -m comment --comment "netavark firewall plugin rules" -j NETAVARK_FORWARD
-A NETAVARK_FORWARD -d 10.1.0.0/24 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A NETAVARK_FORWARD -s 10.1.0.0/24 -j ACCEPT
-A NETAVARK_FORWARD -d 10.1.0.0/25 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A NETAVARK_FORWARD -s 10.2.0.0/24 -j ACCEPT
COMMIT
*nat
:NETAVARK-AAA - [0:0]
:NETAVARK-BBB - [0:0]
:NETAVARK-DN-AAA - [0:0]
-A POSTROUTING -j NETAVARK-HOSTPORT-MASQ
-A POSTROUTING -s 10.1.0.0/24 -j NETAVARK-AAA
-A POSTROUTING -s 10.2.0.0/24 -j NETAVARK-BBB
-A NETAVARK-AAA -d 10.1.0.0/24 -j ACCEPT
-A NETAVARK-AAA ! -d 224.0.0.0/4 -j MASQUERADE
-A NETAVARK-BBB -d 10.2.0.0/24 -j ACCEPT
-A NETAVARK-DN-AAA -d 127.0.0.1/32 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.1.0.2:80
COMMIT
"""


def test_only_the_subnets_own_rules() -> None:
    filt, nat = network_rule_lines(SAVED, "10.1.0.0/24")
    assert filt == [
        "-D NETAVARK_FORWARD -d 10.1.0.0/24 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
        "-D NETAVARK_FORWARD -s 10.1.0.0/24 -j ACCEPT",
    ]
    # the chain itself stays (netavark removes it and fails if it is gone); ports stay
    assert nat == [
        "-D POSTROUTING -s 10.1.0.0/24 -j NETAVARK-AAA",
        "-D NETAVARK-AAA -d 10.1.0.0/24 -j ACCEPT",
        "-D NETAVARK-AAA ! -d 224.0.0.0/4 -j MASQUERADE",
    ]


def test_unknown_subnet_removes_nothing() -> None:
    assert network_rule_lines(SAVED, "10.9.0.0/24") == ([], [])


def test_a_networks_end_drops_its_chain_last() -> None:
    _, nat = network_rule_lines(SAVED, "10.1.0.0/24", drop_chain=True)
    assert nat[-1] == "-X NETAVARK-AAA" and len(nat) == 4
    assert network_rule_lines(SAVED, "10.9.0.0/24", drop_chain=True) == ([], [])


def test_keeper_names_fit_an_interface_name() -> None:
    name = keeper_name("br-0123456789ab")
    assert len(name) == 15 and name.startswith("bk")
    assert keeper_name("br-0123456789ab", "bq")[2:] == name[2:]
    assert keeper_name("bt-aaaaaa") != name
