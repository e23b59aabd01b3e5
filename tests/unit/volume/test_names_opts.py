from __future__ import annotations

import pytest

from berthd.errdefs import InvalidParameter
from berthd.volume.mountopts import MountOptions, parse_ram_bytes, validate_opts
from berthd.volume.names import generate_name, validate_local_name


@pytest.mark.parametrize("name", ["ab", "my-vol", "a.b_c-1", "0x", "A" * 200])
def test_valid_local_names(name: str) -> None:
    validate_local_name(name)


def test_one_character_name_is_too_short() -> None:
    with pytest.raises(
        InvalidParameter,
        match=r"^volume name is too short, names should be at least two alphanumeric characters$",
    ):
        validate_local_name("a")


@pytest.mark.parametrize(
    ("name", "shown"),  # shown as Go's %q
    [
        ("../etc", '"../etc"'),
        ("a/b", '"a/b"'),
        ("-ab", '"-ab"'),
        (".ab", '".ab"'),
        ("a b", '"a b"'),
        ("ab\n", '"ab\\n"'),
        ("é1", '"é1"'),
        ("é", '"é"'),  # two bytes: not too short
        ('a"b\x00', '"a\\"b\\x00"'),
    ],
)
def test_invalid_local_names(name: str, shown: str) -> None:
    with pytest.raises(InvalidParameter) as e:
        validate_local_name(name)
    assert str(e.value) == (
        f"{shown} includes invalid characters for a local volume name, only "
        '"[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host '
        "directory, use absolute path"
    )


def test_names_longer_than_a_directory_name_are_refused() -> None:
    validate_local_name("v" * 255)
    with pytest.raises(InvalidParameter, match=r"^volume name is too long \(256 bytes\)"):
        validate_local_name("v" * 256)


def test_generated_names_are_64_hex_and_not_numeric_short_ids() -> None:
    names = {generate_name() for _ in range(200)}
    assert len(names) == 200
    for n in names:
        assert len(n) == 64 and all(c in "0123456789abcdef" for c in n)
        assert not n[:12].isdigit()
        validate_local_name(n)


@pytest.mark.parametrize(
    ("opts", "message"),
    [
        ({"foo": "bar"}, 'invalid option: "foo"'),
        ({"type": "tmpfs"}, 'missing required option: "device"'),
        ({"device": "tmpfs"}, 'missing required option: "type"'),
        ({"o": "size=1m"}, 'missing required option: "device"'),
        ({"size": "1g"}, "quota size requested but no quota support"),
        ({"size": "lots"}, "invalid size: 'lots'"),
        (
            {"type": "cifs", "device": "//srv:445/share"},
            "port not allowed in CIFS device URL, include 'port' in 'o='",
        ),
    ],
)
def test_invalid_local_options(opts: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidParameter) as e:
        validate_opts(opts)
    assert str(e.value) == message


@pytest.mark.parametrize(
    "opts",
    [
        None,
        {},
        {"type": "tmpfs", "device": "tmpfs"},
        {"type": "tmpfs", "device": "tmpfs", "o": "size=64m,uid=1000"},
        {"type": "none", "device": "/srv/data", "o": "bind"},
        {"type": "cifs", "device": "//srv/share", "o": "port=445"},
        {"size": "0"},
    ],
)
def test_valid_local_options(opts: dict[str, str] | None) -> None:
    validate_opts(opts)


@pytest.mark.parametrize(
    ("text", "size"),
    [("100", 100), ("1k", 1024), ("64m", 64 << 20), ("1.5GiB", 3 << 29), ("2 MB", 2 << 20)],
)
def test_ram_in_bytes(text: str, size: int) -> None:
    assert parse_ram_bytes(text) == size


def test_mount_options_round_trip_and_need_for_mounting() -> None:
    assert MountOptions.from_opts(None) is None
    o = MountOptions.from_opts({"type": "tmpfs", "device": "tmpfs", "o": "size=1m"})
    assert o is not None and o.needs_mount
    assert MountOptions.from_json(o.to_json()) == o
    assert o.to_json() == {"MountType": "tmpfs", "MountOpts": "size=1m", "MountDevice": "tmpfs"}
    # an empty record (old dockerd bug) means "no options"
    assert MountOptions.from_json({"MountType": "", "MountOpts": "", "MountDevice": ""}) is None
    assert not MountOptions("", "size=1m", "").needs_mount
