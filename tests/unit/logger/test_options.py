"""LogConfig validation with dockerd's rules and wording; conmon arguments."""

from __future__ import annotations

import pytest

from berthd import errdefs
from berthd.logger import LogSettings, from_human_size, log_opts
from berthd.logger.options import ram_in_bytes


def cfg(type_: str = "", **opts: str) -> dict[str, object]:
    return {"Type": type_, "Config": opts}


def test_default_json_file_unlimited() -> None:
    s = log_opts(None)
    assert s == LogSettings("json-file", None, None, 1, False)
    assert s.readable
    assert s.conmon_args("/d/ctr.log") == ["-l", "k8s-file:/d/ctr.log"]
    s.check_readable()


def test_json_file_sizes_and_files() -> None:
    s = log_opts(cfg("json-file", **{"max-size": "10m", "max-file": "3", "compress": "true"}))
    assert (s.max_size, s.max_file, s.compress) == (10_000_000, 3, True)
    # berthd rotates; conmon's own limit (the budget + 1 MiB) only bites while it is down
    assert s.size_max == 30_000_000 + (1 << 20)
    assert s.conmon_args("/d/ctr.log")[-2:] == ["--log-size-max", str(30_000_000 + (1 << 20))]
    one = log_opts(cfg("json-file", **{"max-size": "10m"}))
    assert one.size_max == 10_000_000  # max-file 1: conmon empties the file, as dockerd


@pytest.mark.parametrize(
    ("opts", "message"),
    [
        ({"max-size": "abc"}, "invalid size: 'abc'"),
        ({"max-size": "10q"}, "invalid suffix: 'q'"),
        ({"max-size": "0"}, "max-size must be a positive number"),
        ({"max-file": "x"}, 'strconv.Atoi: parsing "x": invalid syntax'),
        ({"max-file": "0"}, "max-file cannot be less than 1"),
        ({"compress": "yes"}, 'strconv.ParseBool: parsing "yes": invalid syntax'),
        (
            {"compress": "true", "max-file": "2"},
            "compress cannot be true when max-file is less than 2 or max-size is not set",
        ),
        ({"foo": "1"}, "unknown log opt 'foo' for json-file log driver"),
        ({"mode": "fast"}, "logger: logging mode not supported: fast"),
        (
            {"max-buffer-size": "4m"},
            "logger: max-buffer-size option is only supported with 'mode=non-blocking'",
        ),
    ],
)
def test_json_file_errors(opts: dict[str, str], message: str) -> None:
    with pytest.raises(errdefs.InvalidParameter) as ei:
        log_opts(cfg("json-file", **opts))
    assert str(ei.value) == message


def test_builtin_and_common_opts_accepted() -> None:
    log_opts(cfg("json-file", mode="non-blocking", **{"max-buffer-size": "4m", "tag": "x"}))
    log_opts(cfg("local", **{"cache-disabled": "true", "labels": "a"}))


def test_local_defaults_and_errors() -> None:
    s = log_opts(cfg("local"))
    assert (s.driver, s.max_size, s.max_file, s.compress) == ("local", 20 * 1024 * 1024, 5, True)
    assert s.size_max == 100 * 1024 * 1024 + (1 << 20) and s.readable
    with pytest.raises(errdefs.InvalidParameter) as ei:
        log_opts(cfg("local", **{"max-size": "10q"}))
    assert str(ei.value) == "invalid value for max-size: 10q: invalid suffix: 'q'"
    with pytest.raises(errdefs.InvalidParameter, match="compression cannot be enabled"):
        log_opts(cfg("local", **{"max-file": "1"}))
    with pytest.raises(errdefs.InvalidParameter, match="unknown log opt 'x' for log driver local"):
        log_opts(cfg("local", x="1"))


def test_none_and_unknown_drivers() -> None:
    s = log_opts(cfg("none", anything="goes"))
    assert not s.readable
    assert s.conmon_args("/d/ctr.log") == ["-l", "none"]
    with pytest.raises(errdefs.NotImplemented_) as ei:
        s.check_readable()
    assert str(ei.value) == "configured logging driver does not support reading"
    with pytest.raises(errdefs.InvalidParameter) as e2:
        log_opts(cfg("x"))
    assert str(e2.value) == "logger: no log driver named 'x' is registered"
    with pytest.raises(errdefs.NotImplemented_):
        log_opts(cfg("syslog"))


def test_daemon_default_merging() -> None:
    default = {"Type": "json-file", "Config": {"max-size": "1k"}}
    assert log_opts(cfg(), default).max_size == 1000
    assert log_opts(cfg("json-file", **{"max-size": "2k"}), default).max_size == 2000
    assert log_opts(cfg("local"), default).max_size == 20 * 1024 * 1024
    assert log_opts(cfg(), {"Type": "none"}).driver == "none"


def test_human_sizes() -> None:
    assert from_human_size("10m") == 10_000_000
    assert from_human_size("1g") == 1_000_000_000
    assert from_human_size("1.5 kB") == 1500
    assert from_human_size("2KiB") == 2000  # FromHumanSize is decimal whatever the suffix
    assert from_human_size("512") == 512
    assert ram_in_bytes("4m") == 4 * 1024 * 1024
    for bad in ("", "m", "-1", "1x", "1kbb", "1.2.3"):
        with pytest.raises(ValueError):
            from_human_size(bad)


def test_path_with_colon_is_refused() -> None:
    with pytest.raises(errdefs.System):
        log_opts(None).conmon_args("/data:root/ctr.log")
