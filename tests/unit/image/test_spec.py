"""parse_image_config / parse_container_config: the typed form, and dockerd's refusals.

Every expected message here is what dockerd 20.10.24 printed for ``docker load`` of the
same config (checked side by side by tests/integration/images/test_malformed_config.py).
"""

from __future__ import annotations

import json

import pytest

from berthd import errdefs
from berthd.image.config import StoredConfig
from berthd.image.spec import parse_container_config, parse_image_config

DIFF = "sha256:" + "a" * 64


def doc(**kw: object) -> bytes:
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
CASES = [
    (
        doc(config={"Env": "x"}),
        GO + "string into Go struct field Config.config.Env of type []string",
    ),
    (doc(config={"Env": [1]}), GO + "number into Go struct field Config.config.Env of type string"),
    (doc(config={"Cmd": 5}), GO + "number into Go struct field Config.config.Cmd of type string"),
    (doc(config={"Cmd": [5]}), GO + "array into Go struct field Config.config.Cmd of type string"),
    (
        doc(config={"Labels": {"a": 1}}),
        GO + "number into Go struct field Config.config.Labels of type string",
    ),
    (
        doc(config={"ExposedPorts": {"80/tcp": 1}}),
        GO + "number into Go struct field Config.config.ExposedPorts of type struct {}",
    ),
    (
        doc(config={"ExposedPorts": ["80/tcp"]}),
        GO + "array into Go struct field Config.config.ExposedPorts of type nat.PortSet",
    ),
    (
        doc(config={"Healthcheck": {"Interval": 1.5}}),
        GO + "number 1.5 into Go struct field HealthConfig.config.Healthcheck.Interval of type "
        "time.Duration",
    ),
    (
        doc(config={"Healthcheck": {"Interval": "1s"}}),
        GO + "string into Go struct field HealthConfig.config.Healthcheck.Interval of type "
        "time.Duration",
    ),
    (
        doc(config={"StopTimeout": "x"}),
        GO + "string into Go struct field Config.config.StopTimeout of type int",
    ),
    (doc(architecture=5), GO + "number into Go struct field Image.architecture of type string"),
    (doc(config="x"), GO + "string into Go struct field Image.config of type container.Config"),
    (
        doc(container_config="x"),
        GO + "string into Go struct field Image.container_config of type container.Config",
    ),
    (doc(rootfs="x"), GO + "string into Go struct field Image.rootfs of type image.RootFS"),
    (
        doc(rootfs={"type": "layers", "diff_ids": "x"}),
        GO + "string into Go struct field RootFS.rootfs.diff_ids of type []layer.DiffID",
    ),
    (
        doc(rootfs={"type": "layers", "diff_ids": [5]}),
        GO + "number into Go struct field RootFS.rootfs.diff_ids of type layer.DiffID",
    ),
    (
        doc(rootfs={"type": 5, "diff_ids": [DIFF]}),
        GO + "number into Go struct field RootFS.rootfs.type of type string",
    ),
    (
        doc(history={"a": 1}),
        GO + "object into Go struct field Image.history of type []image.History",
    ),
    (doc(history=["x"]), GO + "string into Go struct field Image.history of type image.History"),
    (
        doc(history=[{"created_by": 5}]),
        GO + "number into Go struct field History.history.created_by of type string",
    ),
    (
        doc(history=[{"empty_layer": "yes"}]),
        GO + "string into Go struct field History.history.empty_layer of type bool",
    ),
    (doc(Size="x"), GO + "string into Go struct field Image.Size of type int64"),
    (
        doc(config={"env": "x"}),
        GO + "string into Go struct field Config.config.Env of type []string",
    ),
    (b"[]", GO + "array into Go value of type image.Image"),
    (doc(parent=5), GO + "number into Go struct field Image.parent of type image.ID"),
    (doc(Size=1.5), GO + "number 1.5 into Go struct field Image.Size of type int64"),
    (
        doc(config={"Healthcheck": "x"}),
        GO + "string into Go struct field Config.config.Healthcheck of type container.HealthConfig",
    ),
    (
        # a repeated key is decoded each time: the first one's error stands
        b'{"rootfs":{"type":"layers","diff_ids":[]},"os":1,"OS":"linux"}',
        GO + "number into Go struct field Image.os of type string",
    ),
    (doc(rootfs=None), "invalid image JSON, no RootFS key"),
    (
        doc(created=5),
        'parsing time "5" as "\\"2006-01-02T15:04:05Z07:00\\"": cannot parse "5" as "\\""',
    ),
    (
        doc(created="yesterday"),
        'parsing time "\\"yesterday\\"" as "\\"2006-01-02T15:04:05Z07:00\\"": '
        'cannot parse "yesterday\\"" as "2006"',
    ),
    (
        doc(history=[{"created": "2024-13-01T00:00:00Z"}]),
        'parsing time "\\"2024-13-01T00:00:00Z\\"": month out of range',
    ),
]


@pytest.mark.parametrize(("raw", "message"), CASES)
def test_malformed_configs_fail_in_dockerds_words(raw: bytes, message: str) -> None:
    with pytest.raises(errdefs.InvalidParameter) as info:
        parse_image_config(raw)
    assert str(info.value) == message
    with pytest.raises(errdefs.InvalidParameter):
        StoredConfig.from_json(raw)  # the store reads through the same check


def test_the_first_bad_field_in_document_order_is_reported() -> None:
    raw = b'{"rootfs":{"type":"layers"},"os":1,"config":{"Env":"x"}}'
    with pytest.raises(errdefs.InvalidParameter, match=r"Image\.os of type string"):
        parse_image_config(raw)


def test_typed_form_follows_go_decoding() -> None:
    raw = doc(
        config={
            "cmd": "echo hi",  # field names match without regard to case
            "Env": ["A=1", None],
            "Labels": {"a": None},
            "ExposedPorts": {"80/tcp": {"ignored": 1}},
            "Volumes": None,
            "Healthcheck": {"Test": ["CMD", "true"], "Interval": 1000000000, "Retries": None},
            "Unknown": {"anything": [1, 2]},
            "Memory": "not checked: not a container.Config field",
        },
        created=None,
        history=[{"created_by": "x", "author": None, "empty_layer": False}, None],
        extra="ignored",
    )
    cfg = parse_image_config(raw)
    assert cfg["config"] == {
        "Cmd": ["echo hi"],
        "Env": ["A=1", ""],
        "Labels": {"a": ""},
        "ExposedPorts": {"80/tcp": {}},
        "Volumes": None,
        "Healthcheck": {"Test": ["CMD", "true"], "Interval": 1000000000},
    }
    assert "created" not in cfg
    assert cfg["history"] == [{"created_by": "x", "empty_layer": False}, {}]
    assert cfg["rootfs"] == {"type": "layers", "diff_ids": [DIFF]}
    assert "extra" not in cfg


def test_stored_config_reads_the_typed_document() -> None:
    raw = doc(config={"Labels": {"a": "1"}, "Env": ["A=1"]}, **{"os.version": "10"})
    cfg = StoredConfig.from_json(raw)
    assert cfg.doc == parse_image_config(raw)
    assert cfg.labels() == {"a": "1"}
    assert cfg.config["Env"] == ["A=1"]
    assert cfg.os_version == "10" and cfg.rootfs.diff_ids == (DIFF,)
    assert cfg.history[0].created_by == "x"


def test_container_config_alone() -> None:
    assert parse_container_config(None) == {}
    assert parse_container_config({"Entrypoint": "sh", "StopTimeout": None}, "") == {
        "Entrypoint": ["sh"],
        "StopTimeout": None,
    }
    with pytest.raises(errdefs.InvalidParameter) as info:
        parse_container_config({"Env": "x"}, "")
    assert str(info.value) == GO + "string into Go struct field Config.Env of type []string"
    with pytest.raises(errdefs.InvalidParameter) as info:
        parse_container_config({"StopTimeout": 1e30}, "")
    assert (
        str(info.value) == GO + "number 1e+30 into Go struct field Config.StopTimeout of type int"
    )
