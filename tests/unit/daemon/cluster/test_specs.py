"""Swarm spec checks, defaults and normalisation (berthd.daemon.cluster.specs)."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from berthd.daemon.cluster.ids import new_id, unlock_key
from berthd.daemon.cluster.specs import (
    DEFAULT_SWARM_SPEC,
    insert_service_defaults,
    normalize_service_spec,
    swarm_spec,
    validate_data_object,
    validate_service_spec,
)
from berthd.errdefs import InvalidParameter


def svc(**kw: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"Name": "web", "TaskTemplate": {"ContainerSpec": {"Image": "busybox"}}}
    spec.update(kw)
    return spec


def rpc(desc: str) -> str:
    return f"rpc error: code = InvalidArgument desc = {desc}"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"Name": "x", "TaskTemplate": {}}, "mismatched Runtime and *Spec fields"),
        (svc(Name=""), rpc("meta: name must be provided")),
        (svc(Name="bad name!"), rpc("name must be valid as a DNS name component")),
        (svc(Name="a" * 64), rpc("name must be 63 characters or fewer")),
        (
            svc(TaskTemplate={"ContainerSpec": {"Image": ""}}),
            rpc("ContainerSpec: image reference must be provided"),
        ),
        (
            svc(TaskTemplate={"ContainerSpec": {"Image": "UPPER"}}),
            rpc('ContainerSpec: "UPPER" is not a valid repository/tag'),
        ),
        (
            svc(Mode={"Replicated": {"Replicas": -1}}),
            rpc("Number of replicas must be non-negative"),
        ),
        (svc(Mode={"Replicated": {}, "Global": {}}), "must specify only one service mode"),
        (
            svc(
                TaskTemplate={
                    "ContainerSpec": {"Image": "busybox"},
                    "Resources": {"Limits": {"MemoryBytes": 1024}},
                }
            ),
            rpc("invalid memory value 1024: Must be at least 4MiB"),
        ),
        (
            svc(
                TaskTemplate={
                    "ContainerSpec": {"Image": "busybox"},
                    "RestartPolicy": {"Delay": -1},
                }
            ),
            rpc("TaskSpec: restart-delay cannot be negative"),
        ),
        (
            svc(UpdateConfig={"MaxFailureRatio": 2}),
            rpc("TaskSpec: update-maxfailureratio cannot be less than 0 or bigger than 1"),
        ),
        (
            svc(EndpointSpec={"Ports": [{"PublishedPort": 80}, {"PublishedPort": 80}]}),
            rpc("EndpointSpec: duplicate published ports provided"),
        ),
        (
            svc(EndpointSpec={"Mode": "dnsrr", "Ports": [{"PublishedPort": 80}]}),
            rpc("EndpointSpec: port published with ingress mode can't be used with dnsrr mode"),
        ),
        (
            svc(
                TaskTemplate={
                    "ContainerSpec": {
                        "Image": "busybox",
                        "Mounts": [{"Target": "/a"}, {"Target": "/a"}],
                    }
                }
            ),
            rpc("ContainerSpec: duplicate mount point: /a"),
        ),
    ],
)
def test_service_spec_refusals(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidParameter) as e:
        validate_service_spec(spec)
    assert str(e.value) == message


def test_service_normalised_as_dockerd_answers() -> None:
    out = normalize_service_spec(svc())
    assert out == {
        "Name": "web",
        "Labels": {},
        "TaskTemplate": {
            "ContainerSpec": {"Image": "busybox", "Isolation": "default"},
            "ForceUpdate": 0,
            "Runtime": "container",
        },
        "Mode": {"Replicated": {"Replicas": 1}},
    }


def test_insert_defaults_under_what_is_set() -> None:
    spec = normalize_service_spec(svc(UpdateConfig={"Parallelism": 3}))
    out = insert_service_defaults(spec)
    assert out["TaskTemplate"]["ContainerSpec"]["StopGracePeriod"] == 10_000_000_000
    assert out["TaskTemplate"]["RestartPolicy"] == {
        "Condition": "any",
        "Delay": 5_000_000_000,
        "MaxAttempts": 0,
    }
    assert out["UpdateConfig"]["Parallelism"] == 3
    assert out["UpdateConfig"]["Order"] == "stop-first"
    assert out["RollbackConfig"]["Parallelism"] == 1
    assert "StopGracePeriod" not in spec["TaskTemplate"]["ContainerSpec"]  # not mutated


def test_swarm_spec_defaults_and_update() -> None:
    init = swarm_spec({"Raft": {"ElectionTick": 0}, "Orchestration": {}})
    assert init == DEFAULT_SWARM_SPEC
    updated = swarm_spec(
        {"Name": "default", "Orchestration": {"TaskHistoryRetentionLimit": 7}}, init
    )
    assert updated["Orchestration"] == {"TaskHistoryRetentionLimit": 7}
    with pytest.raises(InvalidParameter, match="modification of cluster name is not allowed"):
        swarm_spec({"Name": "other"}, init)
    with pytest.raises(InvalidParameter, match=r"minimum certificate expiry time is: 1h0m0s"):
        swarm_spec({"CAConfig": {"NodeCertExpiry": 60_000_000_000}}, init)


@pytest.mark.parametrize(
    ("kind", "spec", "message"),
    [
        ("secret", {"Name": "", "Data": "eA=="}, rpc("name must be provided")),
        (
            "secret",
            {"Name": "-x", "Data": "eA=="},
            rpc(
                "invalid name, only 64 [a-zA-Z0-9-_.] characters allowed, and the start and "
                "end character must be [a-zA-Z0-9]"
            ),
        ),
        (
            "secret",
            {"Name": "s"},
            rpc("secret data must be larger than 0 and less than 512000 bytes"),
        ),
        (
            "config",
            {"Name": "c", "Data": base64.b64encode(b"x" * 1024000).decode()},
            rpc("config data must be larger than 0 and less than 1024000 bytes"),
        ),
    ],
)
def test_data_object_refusals(kind: str, spec: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidParameter) as e:
        validate_data_object(kind, spec)
    assert str(e.value) == message


def test_data_object_unicode() -> None:
    data = "ünïcode ✓".encode()
    assert (
        validate_data_object("config", {"Name": "c.1", "Data": base64.b64encode(data).decode()})
        == data
    )


def test_ids() -> None:
    ids = {new_id() for _ in range(50)}
    assert len(ids) == 50 and all(len(i) == 25 and i.isalnum() and i.islower() for i in ids)
    key = unlock_key()
    assert key.startswith("SWMKEY-1-") and len(base64.b64decode(key[9:] + "=")) == 32
