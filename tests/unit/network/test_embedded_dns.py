from __future__ import annotations

import pytest

from berthd.network.embedded_dns import _rules


def test_rules_redirect_both_protocols_to_the_gateway() -> None:
    rules = _rules("172.31.5.1")
    assert rules.startswith("*nat\n") and rules.endswith("COMMIT\n")
    assert "-d 127.0.0.11/32 -p udp --dport 53 -j DNAT --to-destination 172.31.5.1:53" in rules
    assert "-d 127.0.0.11/32 -p tcp --dport 53 -j DNAT --to-destination 172.31.5.1:53" in rules
    assert "-A POSTROUTING -s 127.0.0.0/8 -d 172.31.5.1/32 -j MASQUERADE" in rules
    # flushed first: a second redirect (to a link resolver) replaces the first
    assert rules.index("-F OUTPUT\n") < rules.index("-A OUTPUT")


def test_rules_take_only_an_address() -> None:
    with pytest.raises(ValueError):
        _rules("1.2.3.4 -j ACCEPT")
