from __future__ import annotations

from typing import Any

import pytest

from berthd.api import schemas
from berthd.api.decode import check, decode_json
from berthd.errdefs import InvalidParameter


def refused(body: Any, schema: Any = schemas.CONTAINER_CREATE) -> str:
    with pytest.raises(InvalidParameter) as e:
        check(body, schema)
    return str(e.value)


def test_wrong_types_get_go_decoders_wording() -> None:
    assert refused({"HostConfig": {"Memory": "1g"}}) == (
        "invalid JSON: json: cannot unmarshal string into Go struct field "
        "HostConfig.HostConfig.Memory of type int64"
    )
    assert refused({"Image": 5}) == (
        "invalid JSON: json: cannot unmarshal number into Go struct field "
        "CreateRequest.Image of type string"
    )
    assert "of type container.CreateRequest" in refused([])
    assert "cannot unmarshal number 1.5 into" in refused({"HostConfig": {"CpuShares": 1.5}})
    assert "cannot unmarshal number 1e+30 into" in refused({"HostConfig": {"PidsLimit": 1e30}})
    assert "cannot unmarshal number 70000 into" in refused({"HostConfig": {"BlkioWeight": 70000}})
    assert "cannot unmarshal bool into" in refused({"HostConfig": {"Memory": True}})
    assert "of type []string" in refused({"Env": "A=1"})
    assert "of type map[string]string" in refused({"Labels": ["a"]})
    assert "of type string" in refused({"Labels": {"a": 1}})
    assert "of type strslice.StrSlice" in refused({"Cmd": 5})
    assert "of type string" in refused({"Cmd": ["a", 5]})
    nested = {"HostConfig": {"Mounts": [{"Type": "volume", "ReadOnly": "yes"}]}}
    assert "Mount.HostConfig.Mounts.ReadOnly of type bool" in refused(nested)
    ep = {"NetworkingConfig": {"EndpointsConfig": {"bridge": 5}}}
    assert "of type network.EndpointSettings" in refused(ep)
    assert "Name of type string" in refused({"Name": 5}, schemas.VOLUME_CREATE)
    assert "MaximumRetryCount of type int" in refused(
        {"RestartPolicy": {"MaximumRetryCount": "3"}}, schemas.CONTAINER_UPDATE
    )


def test_nulls_unknown_keys_and_go_leniency() -> None:
    body: dict[str, Any] = {
        "Image": None,
        "Cmd": "sh",  # a StrSlice may be one string
        "Unknown": {"anything": [1, 2]},
        "HostConfig": {"Memory": None, "Binds": ["/a:/b", None], "CapAdd": [None]},
        "Labels": {"a": None},
        "Healthcheck": {"test": ["NONE"]},  # Go matches names case-insensitively
    }
    check(body, schemas.CONTAINER_CREATE)
    # null elements become the element type's zero value, as Go decodes them
    assert body["HostConfig"]["Binds"] == ["/a:/b", ""]
    assert body["HostConfig"]["CapAdd"] == [""]
    assert body["Labels"] == {"a": ""}
    ulimits: dict[str, Any] = {"HostConfig": {"Ulimits": [None]}}
    check(ulimits, schemas.CONTAINER_CREATE)
    assert ulimits["HostConfig"]["Ulimits"] == [{}]
    check(None, schemas.CONTAINER_CREATE)
    check({"ConsoleSize": [1, 2, 3]}, schemas.EXEC_CREATE)  # Go drops the excess
    assert "Healthcheck.Test of type []string" in refused({"Healthcheck": {"test": "x"}})


# -- decode_json and prune: what Go's decoder keeps --------------------------------------


def test_invalid_utf8_and_lone_surrogates_become_replacement_characters() -> None:
    assert decode_json(b'{"Image": "a\xffb"}') == {"Image": "a\ufffdb"}
    assert decode_json(b'{"Image": "a\\ud800b", "L": {"\\udc00": "x"}}') == {
        "Image": "a\ufffdb",
        "L": {"\ufffd": "x"},
    }
    assert decode_json(b'{"a": "\\ud83d\\ude00"}') == {"a": "\U0001f600"}


def test_integers_past_64_bits_keep_their_digits() -> None:
    body = decode_json(b'{"HostConfig": {"Memory": 18446744073709551616}}')
    assert refused(body) == (
        "invalid JSON: json: cannot unmarshal number 18446744073709551616 into Go struct "
        "field HostConfig.HostConfig.Memory of type int64"
    )
    assert decode_json(b'{"a": 123456789012345678901234567890}') == {
        "a": 123456789012345678901234567890
    }


@pytest.mark.parametrize(
    "raw",
    [b"[" * 5000 + b"]" * 5000, b'{"a": NaN}', b'{"a": 1e400}', b"{", b'{"a\xff": Infinity}'],
)
def test_bodies_that_are_not_json(raw: bytes) -> None:
    with pytest.raises(InvalidParameter, match=r"^invalid JSON: "):
        decode_json(raw)


def test_prune_drops_unknown_keys_and_spells_fields_as_declared() -> None:
    deep: Any = []
    for _ in range(400):  # deeper than anything orjson would write back
        deep = [deep]
    body = {
        "image": "busybox",
        "Bogus": deep,
        "HostConfig": {
            "memory": 1 << 30,
            "Nope": {"x": deep},
            "Mounts": [{"Type": "tmpfs", "X": 1}],
        },
        "Labels": {"keep": "me"},
        "ExposedPorts": {"80/tcp": {"junk": deep}},
    }
    check(body, schemas.CONTAINER_CREATE, prune=True)
    assert body == {
        "Image": "busybox",
        "HostConfig": {"Memory": 1 << 30, "Mounts": [{"Type": "tmpfs"}]},
        "Labels": {"keep": "me"},
        "ExposedPorts": {"80/tcp": {}},
    }
    # of two spellings of one field, the last wins, as in Go
    two = {"memory": 1, "Memory": 2}
    check(two, schemas.CONTAINER_UPDATE, prune=True)
    assert two == {"Memory": 2}
