from __future__ import annotations

import pytest

from berthd.errdefs import InvalidParameter
from berthd.lib.filters import FilterArgs


def test_both_json_forms() -> None:
    a = FilterArgs.from_json('{"label": {"a=b": true}, "type": {"container": true}}')
    b = FilterArgs.from_json('{"label": ["a=b"], "type": ["container"]}')
    assert a.get("label") == b.get("label") == ["a=b"]
    assert a.keys() == ["label", "type"]
    assert FilterArgs.from_json("").keys() == []


@pytest.mark.parametrize("raw", ["{", "[1]", '{"a": 1}', '{"a": [1]}', '{"a": {"b": "x"}}'])
def test_bad_json(raw: str) -> None:
    with pytest.raises(InvalidParameter, match="invalid filter"):
        FilterArgs.from_json(raw)


def test_validate_names_the_key() -> None:
    f = FilterArgs({"nope": ["x"]})
    with pytest.raises(InvalidParameter) as e:
        f.validate(["type"])
    assert str(e.value) == "invalid filter 'nope'"


def test_bool_filter() -> None:
    assert FilterArgs({"dangling": ["true"]}).get_bool_or_default("dangling", False) is True
    assert FilterArgs({"dangling": ["0"]}).get_bool_or_default("dangling", True) is False
    assert FilterArgs().get_bool_or_default("dangling", True) is True
    with pytest.raises(InvalidParameter, match=r"invalid filter 'dangling=\[maybe\]'"):
        FilterArgs({"dangling": ["maybe"]}).get_bool_or_default("dangling", False)
