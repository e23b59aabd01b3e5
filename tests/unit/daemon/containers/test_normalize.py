from __future__ import annotations

import pytest

from berthd.daemon.containers.normalize import (
    merge_image_config,
    normalize_host_config,
    parse_create_body,
    validate_restart_policy,
)
from berthd.errdefs import InvalidParameter

IMAGE = {
    "Env": ["PATH=/bin", "A=image"],
    "Cmd": ["sh"],
    "Entrypoint": None,
    "WorkingDir": "/srv",
    "User": "app",
    "Labels": {"from": "image", "both": "image"},
    "StopSignal": "SIGQUIT",
    "Volumes": {"/data": {}},
}


def test_user_env_first_then_missing_image_keys() -> None:
    out = merge_image_config({"Env": ["A=user", "B=1"]}, IMAGE)
    assert out["Env"] == ["A=user", "B=1", "PATH=/bin"]


def test_cmd_inherited_only_without_entrypoint_and_cmd() -> None:
    assert merge_image_config({}, IMAGE)["Cmd"] == ["sh"]
    assert merge_image_config({"Cmd": ["echo"]}, IMAGE)["Cmd"] == ["echo"]
    with_ep = merge_image_config({"Entrypoint": ["/bin/top"]}, IMAGE)
    assert with_ep["Cmd"] is None and with_ep["Entrypoint"] == ["/bin/top"]
    # --entrypoint "" resets the image's entrypoint and does not inherit its Cmd
    reset = merge_image_config(
        {"Entrypoint": [""], "Cmd": ["echo"]}, {**IMAGE, "Entrypoint": ["/x"]}
    )
    assert reset["Entrypoint"] is None and reset["Cmd"] == ["echo"]


def test_inherited_fields_and_labels() -> None:
    out = merge_image_config({"Labels": {"both": "user"}}, IMAGE)
    assert out["WorkingDir"] == "/srv" and out["User"] == "app"
    assert out["StopSignal"] == "SIGQUIT"
    assert out["Labels"] == {"from": "image", "both": "user"}
    assert out["Volumes"] == {"/data": {}}


def test_no_command_is_refused() -> None:
    with pytest.raises(InvalidParameter, match="No command specified"):
        merge_image_config({}, {"Env": []})


def test_body_shapes() -> None:
    cfg, hc, net = parse_create_body(
        {"Image": "x", "Cmd": "echo hi", "HostConfig": {"Privileged": True}}
    )
    assert cfg["Cmd"] == ["echo hi"] and hc == {"Privileged": True} and net == {}
    with pytest.raises(InvalidParameter):
        parse_create_body({"Image": "x", "Env": "A=1"})
    with pytest.raises(InvalidParameter, match="invalid environment variable: =x"):
        parse_create_body({"Image": "x", "Env": ["=x"]})
    with pytest.raises(InvalidParameter, match="config cannot be empty"):
        parse_create_body(None)


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        ({"Name": "sometimes"}, "invalid restart policy: unknown policy 'sometimes'"),
        ({"Name": "always", "MaximumRetryCount": 3}, "can only be used with 'on-failure'"),
        ({"Name": "on-failure", "MaximumRetryCount": -1}, "cannot be negative"),
        ({"Name": "no", "MaximumRetryCount": -2}, "'on-failure' and cannot be negative$"),
    ],
)
def test_restart_policy_errors(policy: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidParameter, match=message):
        validate_restart_policy(policy)


def test_an_empty_policy_name_takes_any_count() -> None:
    validate_restart_policy({"Name": "", "MaximumRetryCount": 3})  # update: changes nothing
    with pytest.raises(InvalidParameter, match="can only be used with 'on-failure'"):
        normalize_host_config({"RestartPolicy": {"MaximumRetryCount": 3}}, "runc")  # create: "no"


def test_host_config_defaults() -> None:
    hc = normalize_host_config({}, "runc")
    assert hc["RestartPolicy"] == {"Name": "no", "MaximumRetryCount": 0}
    assert hc["NetworkMode"] == "bridge" and hc["Runtime"] == "runc"
    assert hc["LogConfig"] == {"Type": "json-file", "Config": {}}
    assert hc["ShmSize"] == 64 * 1024 * 1024
    with pytest.raises(InvalidParameter, match="AutoRemove"):
        normalize_host_config({"AutoRemove": True, "RestartPolicy": {"Name": "always"}}, "runc")
