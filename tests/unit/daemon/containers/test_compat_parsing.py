"""Detach keys as moby's term.ToBytes, ps port filters as moby's portOp (issue 13)."""

from __future__ import annotations

import pytest

from berthd.daemon.containers.streams import detach_key_bytes
from berthd.daemon.containers.view import _ports_filter
from berthd.errdefs import InvalidParameter
from berthd.lib.filters import FilterArgs


@pytest.mark.parametrize(
    ("spec", "keys"),
    [
        ("ctrl-p,ctrl-q", b"\x10\x11"),
        ("ctrl-@,ctrl-_", b"\x00\x1f"),
        ("ctrl-\\", b"\x1c"),
        ("a,DEL", b"a\x7f"),
        ("ctrl-x,a", b"\x18a"),
        ("ctrl-A", None),  # case matters
        (" ctrl-p", None),  # so do spaces
        ("ctrl-1", None),
        ("é", None),  # one character, two bytes
        ("", None),
    ],
)
def test_detach_key_bytes(spec: str, keys: bytes | None) -> None:
    assert detach_key_bytes(spec) == keys


def test_ports_filter() -> None:
    assert _ports_filter("expose", ["80"]) == {"80/tcp"}
    assert _ports_filter("expose", ["53/udp", "80/"]) == {"53/udp", "80/tcp"}
    assert _ports_filter("publish", ["8000-8002/tcp"]) == {"8000/tcp", "8001/tcp", "8002/tcp"}
    assert _ports_filter("publish", []) == set()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("80:80", "filter for 'publish' should not contain ':': 80:80"),
        ("abc", 'error while looking up for publish abc: strconv.ParseUint: parsing "abc": '
                "invalid syntax"),
        ("70000", 'error while looking up for publish 70000: strconv.ParseUint: parsing '
                  '"70000": value out of range'),
        ("90-80", "error while looking up for publish 90-80: invalid range specified for "
                  "port: 90-80"),
        ("/tcp", "error while looking up for publish /tcp: empty string specified for ports"),
        ("+80", 'error while looking up for publish +80: strconv.ParseUint: parsing "+80": '
                "invalid syntax"),
    ],
)  # fmt: skip
def test_ports_filter_errors(value: str, message: str) -> None:
    with pytest.raises(InvalidParameter) as err:
        _ports_filter("publish", [value])
    assert str(err.value) == message


def test_match_regexp() -> None:
    f = FilterArgs({"name": ["^/web", "db$", "[bad"]})
    assert f.match_regexp("name", "/web-1")
    assert f.match_regexp("name", "/app-db")
    assert f.match_regexp("name", "[bad")  # an exact value, even as a broken regexp
    assert not f.match_regexp("name", "/cache")
    assert FilterArgs().match_regexp("name", "anything")
