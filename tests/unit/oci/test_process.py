from __future__ import annotations

import pytest

from berthd.errdefs import InvalidParameter
from berthd.oci.process import (
    container_env,
    entrypoint_and_args,
    process_args,
    replace_or_append_env,
)


def test_entrypoint_and_cmd() -> None:
    assert entrypoint_and_args(["/ep", "-x"], ["a", "b"]) == ("/ep", ["-x", "a", "b"])
    assert entrypoint_and_args(None, ["sh", "-c", "x"]) == ("sh", ["-c", "x"])
    with pytest.raises(InvalidParameter, match="No command specified"):
        entrypoint_and_args([], [])


def test_init_prefix() -> None:
    assert process_args("sh", ["-c", "x"], init=True) == [
        "/sbin/docker-init",
        "--",
        "sh",
        "-c",
        "x",
    ]
    assert process_args("sh", [], init=False) == ["sh"]


def test_env() -> None:
    env = container_env({"Hostname": "abc", "Tty": True, "Env": ["FOO=1"]}, home="/root")
    assert env == [
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOSTNAME=abc",
        "TERM=xterm",
        "FOO=1",
        "HOME=/root",
    ]
    env = container_env({"Hostname": "h", "Env": ["PATH=/x", "HOME=/h", "HOSTNAME"]}, home="/root")
    assert env == ["PATH=/x", "HOME=/h"]


def test_replace_or_append() -> None:
    assert replace_or_append_env(["A=1", "B=2"], ["B=3", "C=4", "A"]) == ["B=3", "C=4"]
