"""Exec records end as dockerd's do (moby daemon/exec.go, monitor.go, start.go Cleanup):
an ended exec leaves its container's ``ExecIDs`` and stays inspectable; the
container's stop forgets the execs it still lists; its removal forgets them all."""

from __future__ import annotations

import docker
import pytest

from tests.integration.containers.conftest import Env, uniq


def test_exec_records_follow_the_container(env: Env) -> None:
    api = env.client.api
    name = uniq("execrec")
    env.ok("run", "-d", "--network", "none", "--name", name, "busybox", "sleep", "300")
    try:
        ended = api.exec_create(name, ["true"])["Id"]
        api.exec_start(ended)
        not_started = api.exec_create(name, ["true"])["Id"]
        info = api.exec_inspect(ended)
        assert (info["Running"], info["ExitCode"], info["CanRemove"]) == (False, 0, False)
        # ExecIDs: what may still run (created, or running), not what ended
        assert api.inspect_container(name)["ExecIDs"] == [not_started]

        env.ok("kill", name)
        env.ok("wait", name)
        assert api.inspect_container(name)["ExecIDs"] is None
        assert api.exec_inspect(ended)["ExitCode"] == 0  # kept after the stop
        with pytest.raises(docker.errors.NotFound, match="No such exec instance"):
            api.exec_inspect(not_started)  # it went with the container's run

        env.ok("rm", name)
        with pytest.raises(docker.errors.NotFound, match="No such exec instance"):
            api.exec_inspect(ended)
    finally:
        env.run("rm", "-f", name)
