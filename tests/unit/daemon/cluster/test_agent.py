"""The container a swarm task becomes (berthd.daemon.cluster.agent.container_body)."""

from __future__ import annotations

from typing import Any

from berthd.daemon.cluster.agent import container_body


def service(sid: str, mode: dict[str, Any], **task: Any) -> dict[str, Any]:
    template = {
        "ContainerSpec": {"Image": "busybox", "Args": ["sleep", "9"]},
        "Runtime": "container",
    }
    template.update(task)
    return {"ID": sid, "Spec": {"Name": sid, "TaskTemplate": template, "Mode": mode}}


def test_container_body_stop_grace() -> None:
    svc = service("web", {"Replicated": {"Replicas": 1}})
    task = {
        "ID": "t1",
        "Slot": 1,
        "Spec": {"ContainerSpec": {"Image": "busybox", "StopGracePeriod": 3_000_000_000}},
    }
    body = container_body(svc, task, "n1")
    assert body["StopTimeout"] == 3 and body["Labels"]["com.docker.swarm.task.name"] == "web.1.t1"
    assert body["Labels"]["com.docker.swarm.node.id"] == "n1"
