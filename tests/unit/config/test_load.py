from __future__ import annotations

import json
from pathlib import Path

import pytest

from berthd.config import ConfigError, DaemonConfig, build_config, load_config, reload_config
from berthd.errdefs import InvalidParameter


def write(tmp_path: Path, data: object) -> str:
    p = tmp_path / "daemon.json"
    p.write_text(json.dumps(data))
    return str(p)


def test_defaults_when_default_file_is_missing(tmp_path: Path) -> None:
    cfg = load_config({}, str(tmp_path / "missing.json"), explicit=False)
    assert cfg.data_root == "/var/lib/berthd"
    assert cfg.exec_root == "/run/berthd"
    assert cfg.pidfile == "/run/berthd.pid"
    assert cfg.shutdown_timeout == 15
    assert cfg.group == "docker"


def test_missing_explicit_file_is_an_error(tmp_path: Path) -> None:
    path = str(tmp_path / "missing.json")
    with pytest.raises(ConfigError, match="no such file or directory"):
        load_config({}, path, explicit=True)


def test_file_then_flags_override_defaults(tmp_path: Path) -> None:
    path = write(tmp_path, {"debug": True, "labels": ["a=b"], "shutdown-timeout": 3})
    cfg = load_config({"data-root": "/x"}, path, explicit=True)
    assert cfg.debug is True
    assert cfg.labels == ("a=b",)
    assert cfg.shutdown_timeout == 3
    assert cfg.data_root == "/x"


def test_unknown_key_is_refused_by_name(tmp_path: Path) -> None:
    path = write(tmp_path, {"debug": True, "no-such-thing": 1})
    with pytest.raises(ConfigError) as e:
        load_config({}, path, explicit=True)
    msg = str(e.value)
    assert msg.startswith(f"unable to configure the Docker daemon with file {path}: ")
    assert "the following directives don't match any configuration option: no-such-thing" in msg


def test_key_both_as_flag_and_in_file_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, {"debug": False, "labels": ["x=y"]})
    with pytest.raises(ConfigError) as e:
        load_config({"debug": True, "labels": ["a=b"]}, path, explicit=True)
    msg = str(e.value)
    assert "specified both as a flag and in the configuration file" in msg
    assert "debug: (from flag: true, from file: false)" in msg
    assert "label: (from flag: [a=b], from file: [x=y])" in msg


def test_wrong_type_in_file(tmp_path: Path) -> None:
    path = write(tmp_path, {"debug": "yes"})
    with pytest.raises(
        ConfigError, match="cannot unmarshal string into option 'debug' of type bool"
    ):
        load_config({}, path, explicit=True)


def test_validation_runs_after_merge() -> None:
    # the runtime comes from the file, the default-runtime from the flags:
    # each alone is incomplete, together valid.
    cfg = build_config(
        {"runtimes": {"myrt": {"path": "/usr/bin/myrt", "runtimeArgs": ["--x"]}}},
        {"default-runtime": "myrt"},
    )
    assert cfg.default_runtime == "myrt"
    assert cfg.runtimes["myrt"].runtime_args == ("--x",)
    with pytest.raises(ConfigError, match="specified default runtime 'nope' does not exist"):
        build_config({}, {"default-runtime": "nope"})


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"log-level": "loud"}, "invalid logging level: loud"),
        ({"log-format": "xml"}, "invalid log format: xml"),
        ({"labels": ["novalue"]}, "bad attribute format: novalue"),
        ({"labels": ["a=1", "a=2"]}, "conflict labels for a=1 and a=2"),
        ({"hosts": ["udp://x"]}, "invalid bind address (udp://x): unsupported proto 'udp'"),
        ({"runtimes": {"runc": {"path": "/x"}}}, "runtime name 'runc' is reserved"),
        ({"shutdown-timeout": -5}, "invalid shutdown-timeout -5"),
        ({"icc": False}, "icc=false is not supported by berthd"),
        ({"ip-masq": False}, "ip-masq=false is not supported by berthd"),
        ({"iptables": False}, "iptables=false is not supported by berthd"),
    ],
)
def test_invalid_values(values: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidParameter) as e:
        build_config(values, {})
    assert message in str(e.value)


def test_network_flags_take_dockerd_defaults() -> None:
    cfg = build_config({"userland-proxy": False}, {"icc": True, "ip-masq": True})
    assert cfg.icc and cfg.ip_masq and cfg.iptables and not cfg.userland_proxy


def test_add_runtime_flag() -> None:
    cfg = build_config({}, {"runtimes": ["fast=/usr/bin/crun"]})
    assert cfg.runtimes["fast"].path == "/usr/bin/crun"
    with pytest.raises(ConfigError, match="invalid runtime argument: bad"):
        build_config({}, {"runtimes": ["bad"]})


def test_reload_applies_only_reloadable_keys(tmp_path: Path) -> None:
    path = write(tmp_path, {})
    cfg = load_config({}, path, explicit=True)
    write(tmp_path, {"debug": True, "labels": ["k=v"], "data-root": "/elsewhere"})
    new, applied = reload_config(cfg, {})
    assert new.debug is True
    assert new.labels == ("k=v",)
    assert new.data_root == cfg.data_root  # not reloadable
    assert sorted(applied) == ["debug", "labels"]


def test_reload_with_invalid_file_raises_and_keeps_nothing(tmp_path: Path) -> None:
    path = write(tmp_path, {"debug": False})
    cfg = load_config({}, path, explicit=True)
    write(tmp_path, {"debug": True, "bogus": 1})
    with pytest.raises(ConfigError, match="bogus"):
        reload_config(cfg, {})
    assert cfg.debug is False


def test_reload_conflicts_with_flags(tmp_path: Path) -> None:
    path = write(tmp_path, {})
    cfg = load_config({"debug": True}, path, explicit=True)
    write(tmp_path, {"debug": False})
    with pytest.raises(ConfigError, match="specified both as a flag"):
        reload_config(cfg, {"debug": True})


def test_config_is_frozen() -> None:
    cfg = DaemonConfig()
    with pytest.raises(AttributeError):
        cfg.debug = True  # type: ignore[misc]
