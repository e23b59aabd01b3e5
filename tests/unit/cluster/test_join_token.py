"""Join tokens: SwarmKit's v1 shape, the CA pin, and one sentence for every malformed token."""

from __future__ import annotations

import pytest

from berthd.daemon.cluster.ids import (
    INVALID_JOIN_TOKEN,
    RootCA,
    join_token,
    new_root_ca,
    parse_join_token,
    token_matches,
)


@pytest.fixture(scope="module")
def ca() -> RootCA:
    return new_root_ca()


def test_issued_token_parses_and_pins_its_ca(ca: RootCA) -> None:
    token = join_token(ca)
    parsed = parse_join_token(token)
    assert parsed.digest == ca.digest
    assert len(parsed.secret) == 25
    assert parsed.pins(ca.cert_pem)


def test_token_does_not_pin_another_ca(ca: RootCA) -> None:
    other = new_root_ca()
    assert not parse_join_token(join_token(ca)).pins(other.cert_pem)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "SWMTKN",
        "SWMTKN-1-abc",
        "SWMTKN-2-" + "a" * 50 + "-" + "b" * 25,
        "XWMTKN-1-" + "a" * 50 + "-" + "b" * 25,
        "SWMTKN-1-" + "a" * 50 + "-" + "b" * 24,
        "SWMTKN-1-" + "a" * 51 + "-" + "b" * 25,
        "SWMTKN-1-" + "!" * 50 + "-" + "b" * 25,
        "SWMTKN-1-" + "a" * 50 + "-" + "b" * 25 + "-x",
    ],
)
def test_malformed_tokens_are_refused_in_swarmkits_words(token: str) -> None:
    with pytest.raises(ValueError, match=f"^{INVALID_JOIN_TOKEN}$"):
        parse_join_token(token)


def test_token_matches_only_the_issued_secret(ca: RootCA) -> None:
    worker, manager = join_token(ca), join_token(ca)
    assert token_matches(worker, worker)
    assert not token_matches(worker, manager)
    assert not token_matches("garbage", worker)
