"""The typed commit seam: merge_config, child_image_config, and the commit body's check."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace

import pytest

from berthd import errdefs
from berthd.daemon.containers.commit import EMPTY_DIFF_ID, child_image_config, merge_config
from berthd.daemon.containers.fs import ContainerFSService
from berthd.image.spec import Config, ImageConfig, parse_image_config

A = "sha256:" + "a" * 64
B = "sha256:" + "b" * 64


def test_merge_fills_what_the_user_left_empty() -> None:
    user: Config = {"Env": ["A=user"], "Cmd": None, "Healthcheck": {"Test": ["CMD", "x"]}}
    image: Config = {
        "User": "nobody",
        "Env": ["A=image", "B=image"],
        "Cmd": ["sh"],
        "ArgsEscaped": True,
        "Labels": {"l": "1"},
        "ExposedPorts": {"80/tcp": {}},
        "Healthcheck": {"Test": ["CMD", "y"], "Interval": 5, "Retries": 2},
        "WorkingDir": "/w",
    }
    out = merge_config(user, image)
    assert out["User"] == "nobody"
    assert out["Env"] == ["A=user", "B=image"]
    assert out["Cmd"] == ["sh"] and out["ArgsEscaped"] is True
    assert out["Labels"] == {"l": "1"} and out["ExposedPorts"] == {"80/tcp": {}}
    assert out["Healthcheck"] == {"Test": ["CMD", "x"], "Interval": 5, "Retries": 2}
    assert out["WorkingDir"] == "/w"
    assert user == {"Env": ["A=user"], "Cmd": None, "Healthcheck": {"Test": ["CMD", "x"]}}


def test_child_config_extends_the_parent() -> None:
    parent: ImageConfig = {
        "rootfs": {"type": "layers", "diff_ids": [A]},
        "architecture": "arm64",
        "variant": "v8",
        "os": "linux",
        "history": [{"created_by": "base"}],
    }
    raw, kept = child_image_config(
        parent, None, {"Cmd": ["sh"]}, B, "me", "msg", container_config={"Cmd": ["run", "x"]}
    )
    assert kept
    doc = parse_image_config(raw)
    assert doc["rootfs"] == {"type": "layers", "diff_ids": [A, B]}
    assert (doc.get("architecture"), doc.get("variant"), doc.get("os")) == ("arm64", "v8", "linux")
    assert "container" not in doc  # no container: a COPY step
    history = doc.get("history") or []
    assert [h.get("created_by") for h in history] == ["base", "run x"]
    assert history[1].get("author") == "me" and history[1].get("comment") == "msg"
    assert (doc.get("config") or {}).get("Cmd") == ["sh"]
    # Go's field order: every container.Config field, declaration order
    assert list(json.loads(raw)["config"])[:3] == ["Hostname", "Domainname", "User"]


def test_an_empty_diff_adds_no_layer() -> None:
    raw, kept = child_image_config(None, None, {}, EMPTY_DIFF_ID, "", "")
    assert not kept
    doc = parse_image_config(raw)
    assert doc["rootfs"] == {"type": "layers", "diff_ids": []}
    assert doc.get("os") == "linux"
    assert (doc.get("history") or [{}])[0].get("empty_layer") is True


def test_a_malformed_commit_body_is_refused_before_anything_runs() -> None:
    layers = SimpleNamespace()
    containers = SimpleNamespace(layers=layers, log_event=lambda *a: None)
    svc = ContainerFSService(containers, SimpleNamespace())  # type: ignore[arg-type]

    async def commit(config: object) -> str:
        return await svc.commit("c", "", "", "", "", True, [], config)

    with pytest.raises(errdefs.InvalidParameter) as info:
        asyncio.run(commit({"Env": "x"}))
    assert str(info.value) == (
        "invalid JSON: json: cannot unmarshal string into Go struct field Config.Env "
        "of type []string"
    )
    with pytest.raises(errdefs.InvalidParameter, match="config must be an object"):
        asyncio.run(commit([1]))
