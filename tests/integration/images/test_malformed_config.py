"""``docker load`` of configs dockerd refuses: berthd refuses them in the same words.

The config is checked where it enters (``image/spec.parse_image_config``), before any
layer is registered; nothing of a refused archive stays behind. Side by side with a
throwaway dockerd when one is installed, else against the words it gave (the same
strings as tests/unit/image/test_spec.py).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tests.integration.daemon_process import BerthdProcess
from tests.integration.dockerd_process import dockerd_available, running_dockerd
from tests.integration.images.conftest import Docker, make_cli
from tests.integration.images_build import text_layer, write_raw_archive

pytestmark = pytest.mark.integration

LAYER = text_layer(1)
DIFF = "sha256:" + hashlib.sha256(LAYER).hexdigest()


def _doc(**kw: object) -> bytes:
    d: dict[str, object] = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": [DIFF]},
        "history": [{"created_by": "x"}],
    }
    d.update(kw)
    return json.dumps(d).encode()


GO = "json: cannot unmarshal "
CASES: dict[str, tuple[bytes, str]] = {
    "env": (
        _doc(config={"Env": "x"}),
        GO + "string into Go struct field Config.config.Env of type []string",
    ),
    "health": (
        _doc(config={"Healthcheck": {"Interval": 1.5}}),
        GO + "number 1.5 into Go struct field HealthConfig.config.Healthcheck.Interval of type "
        "time.Duration",
    ),
    "ports": (
        _doc(config={"ExposedPorts": {"80/tcp": 1}}),
        GO + "number into Go struct field Config.config.ExposedPorts of type struct {}",
    ),
    "diff-ids": (
        _doc(rootfs={"type": "layers", "diff_ids": [5]}),
        GO + "number into Go struct field RootFS.rootfs.diff_ids of type layer.DiffID",
    ),
    "history": (
        _doc(history=[{"empty_layer": "yes"}]),
        GO + "string into Go struct field History.history.empty_layer of type bool",
    ),
    "created": (
        _doc(created="2024-02-30T00:00:00Z"),
        'parsing time "\\"2024-02-30T00:00:00Z\\"": day out of range',
    ),
    "no-rootfs": (_doc(rootfs=None), "invalid image JSON, no RootFS key"),
    "array": (b"[]", GO + "array into Go value of type image.Image"),
}


def _refusals(cli: Docker, tmp_path: Path) -> dict[str, str]:
    tmp_path.mkdir(exist_ok=True)
    out = {}
    for name, (raw, _) in CASES.items():
        path = tmp_path / f"{name}.tar"
        write_raw_archive(path, raw, [LAYER], f"bad-{name}:1")
        res = cli("load", "-i", str(path), check=False)
        assert res.returncode != 0, (name, res.stdout)
        out[name] = res.stderr.strip()
    return out


def test_load_refuses_malformed_configs(
    docker_cli: str, berthd: BerthdProcess, tmp_path: Path
) -> None:
    cli = make_cli(docker_cli, berthd)
    got = _refusals(cli, tmp_path)
    assert got == {name: message for name, (_, message) in CASES.items()}
    assert cli("images", "-qa").stdout == ""
    # nothing registered: a well-formed archive of the same layer loads after them
    write_raw_archive(tmp_path / "ok.tar", _doc(), [LAYER], "good:1")
    assert cli("load", "-i", str(tmp_path / "ok.tar")).stdout == "Loaded image: good:1\n"


@pytest.mark.skipif(
    not dockerd_available(), reason="dockerd (Debian docker.io) is not installed (or not root)"
)
def test_dockerd_refuses_them_in_the_same_words(
    docker_cli: str, berthd: BerthdProcess, tmp_path: Path
) -> None:
    ours = _refusals(make_cli(docker_cli, berthd), tmp_path / "b")
    with running_dockerd() as dockerd:
        theirs = _refusals(make_cli(docker_cli, dockerd), tmp_path / "d")
    assert dockerd.leaks == []
    assert ours == theirs
