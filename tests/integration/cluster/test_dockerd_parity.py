"""The same swarm steps on berthd and on a private dockerd 20.10 (SwarmKit built in):
the JSON documents have the same keys, the refusals the same status and words."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.integration.daemon_process import BerthdProcess
from tests.integration.dockerd_process import dockerd_available, running_dockerd

DOCKER = shutil.which("docker")
CURL = shutil.which("curl")

pytestmark = pytest.mark.skipif(
    not dockerd_available() or DOCKER is None or CURL is None or not Path("/usr/bin/etcd").exists(),
    reason="needs root, dockerd 20.10, the docker CLI, curl and etcd",
)


def _api(sock: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    assert CURL is not None
    args = [CURL, "-s", "-w", "\n%{http_code}", "--unix-socket", sock, "-X", method]
    args.append("http://x/v1.41" + path)
    if body is not None:
        args += ["-H", "Content-Type: application/json", "--data-binary", "@-"]
    r = subprocess.run(
        args, input=json.dumps(body) if body is not None else None,
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    text, _, code = r.stdout.rpartition("\n")
    return int(code), json.loads(text) if text else None


def _keys(x: Any, path: str = "") -> set[str]:
    out: set[str] = set()
    if isinstance(x, dict):
        for k, v in x.items():
            out.add(f"{path}/{k}")
            out |= _keys(v, f"{path}/{k}")
    elif isinstance(x, list) and x:
        out |= _keys(x[0], path + "[]")
    return out


def _scenario(sock: str) -> dict[str, Any]:
    assert DOCKER is not None
    r = subprocess.run(
        [DOCKER, "-H", "unix://" + sock, "swarm", "init", "--advertise-addr", "127.0.0.1"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert r.returncode == 0, r
    mini = {"Name": "mini", "TaskTemplate": {"ContainerSpec": {"Image": "busybox"}}}
    out: dict[str, Any] = {
        "swarm": _api(sock, "GET", "/swarm"),
        "info": (lambda s: (s[0], s[1]["Swarm"]))(_api(sock, "GET", "/info")),
        "nodes": _api(sock, "GET", "/nodes"),
        "create": _api(sock, "POST", "/services/create", mini),
        "dup": _api(sock, "POST", "/services/create", mini),
        "no_runtime": _api(sock, "POST", "/services/create", {"Name": "x", "TaskTemplate": {}}),
        "bad_name": _api(sock, "POST", "/services/create", dict(mini, Name="x_y!")),
        "inspect": _api(sock, "GET", "/services/mini?insertDefaults=true"),
        "stale": _api(sock, "POST", "/services/mini/update?version=1", mini),
        "missing": _api(sock, "GET", "/services/nope"),
        "secret": _api(sock, "POST", "/secrets/create", {"Name": "s1", "Data": "aGk="}),
        "secret_dup": _api(sock, "POST", "/secrets/create", {"Name": "s1", "Data": "aGk="}),
        "secret_bad": _api(sock, "POST", "/secrets/create", {"Name": "-x", "Data": "aGk="}),
        "secret_empty": _api(sock, "POST", "/secrets/create", {"Name": "s2"}),
        "secret_inspect": _api(sock, "GET", "/secrets/s1"),
        "config": _api(sock, "POST", "/configs/create", {"Name": "c1", "Data": "aGk="}),
        "config_inspect": _api(sock, "GET", "/configs/c1"),
        "swarm_stale": _api(sock, "POST", "/swarm/update?version=1", {"Name": "default"}),
        "unlockkey": _api(sock, "GET", "/swarm/unlockkey"),
        "leave": _api(sock, "POST", "/swarm/leave"),
        "leave_force": _api(sock, "POST", "/swarm/leave?force=1"),
        "leave_again": _api(sock, "POST", "/swarm/leave?force=1"),
    }
    return out


@pytest.mark.timeout(240)
def test_swarm_documents_and_errors_match_dockerd() -> None:
    b = BerthdProcess().start()
    try:
        ours = _scenario(b.sock)
        assert not os.path.exists(os.path.join(b.data_root, "swarm"))  # etcd data gone too
    finally:
        b.cleanup()
    had_gwbridge = Path("/sys/class/net/docker_gwbridge").exists()
    try:
        with running_dockerd() as d:
            theirs = _scenario(d.sock)
    finally:
        # dockerd's swarm makes docker_gwbridge and leaves it behind at leave
        if not had_gwbridge and Path("/sys/class/net/docker_gwbridge").exists():
            subprocess.run(["ip", "link", "del", "docker_gwbridge"], check=False)
    assert d.leaks == []
    assert theirs["stale"] == (
        500,
        {"message": "rpc error: code = Unknown desc = update out of sequence"},
    )
    assert theirs["dup"][0] == 409 and theirs["leave"][0] == 503
    for step, (code, body) in theirs.items():
        our_code, our_body = ours[step]
        assert our_code == code, (step, our_body, body)
        if isinstance(body, dict) and set(body) == {"message"}:
            assert our_body == body, step
        else:
            assert _keys(our_body) == _keys(body), step
