from __future__ import annotations

import pytest

from berthd.config import parse_host
from berthd.errdefs import InvalidParameter


@pytest.mark.parametrize(
    ("value", "tls", "expected"),
    [
        ("", False, "unix:///run/berthd.sock"),
        ("unix://", False, "unix:///run/berthd.sock"),
        ("unix:///tmp/x.sock", False, "unix:///tmp/x.sock"),
        ("tcp://127.0.0.1:2375", False, "tcp://127.0.0.1:2375"),
        ("tcp://:2380", False, "tcp://127.0.0.1:2380"),
        ("tcp://0.0.0.0", False, "tcp://0.0.0.0:2375"),
        ("tcp://0.0.0.0", True, "tcp://0.0.0.0:2376"),
        ("127.0.0.1:9999", False, "tcp://127.0.0.1:9999"),
        ("tcp://[::1]:2375", False, "tcp://[::1]:2375"),
        ("fd://", False, "fd://"),
        ("fd://3", False, "fd://3"),
    ],
)
def test_parse_host(value: str, tls: bool, expected: str) -> None:
    assert str(parse_host(value, tls)) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("udp://1.2.3.4:5", "unsupported proto 'udp'"),
        ("tcp://1.2.3.4:99999", 'invalid port "99999"'),
        ("tcp://1.2.3.4:80/path", "should not contain a path element"),
        ("fd://abc", "fd:// takes"),
    ],
)
def test_bad_hosts(value: str, message: str) -> None:
    with pytest.raises(InvalidParameter) as e:
        parse_host(value)
    assert str(e.value).startswith(f"invalid bind address ({value}): ")
    assert message in str(e.value)
