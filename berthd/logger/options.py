"""``HostConfig.LogConfig`` validation, with dockerd's rules and wording.

Clients send dockerd's driver names. berthd has one real log backend: conmon
writing the CRI k8s-file format next to the container (so logs keep flowing
while berthd is down). What each name means here:

- ``json-file`` (the default): the file is k8s-file, not JSON; ``docker logs``
  reads it. Options and errors as moby's ``jsonfilelog`` (``max-size``,
  ``max-file``, ``compress``, ``labels``, ``env``, ``tag`` …).
- ``local``: the same file, with ``local``'s defaults (20 MiB × 5 files) and
  its option errors (``invalid value for max-size: …``).
- ``none``: conmon logs nothing; ``docker logs`` answers dockerd's
  ``configured logging driver does not support reading`` (501).
- dockerd's other drivers (syslog, journald, gelf, fluentd, awslogs, splunk,
  gcplogs, logentries) are refused as not implemented rather than silently
  logging somewhere else; any other name gets dockerd's
  ``logger: no log driver named 'x' is registered``.

Rotation (``max-file`` > 1 with ``max-size``): berthd rotates the file as
dockerd does (``logger/rotate.py``, driven by ``daemon/containers/logrotate.py``
while the container runs: ``<log>`` → ``<log>.1`` …, then conmon reopens its
log), and ``docker logs`` reads the rotated files first. conmon's
``--log-size-max`` is ``max-size × max-file`` + 1 MiB: the hard bound while
berthd is down (or outpaced by a burst bigger than that), where conmon empties
the file instead. ``compress`` is
accepted and has no effect.

dockerd checks option *names* at create and option *values* when the logger
starts (``failed to initialize logging driver: …``); ``log_opts`` checks both,
so berthd can refuse a bad value at create time.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from berthd import errdefs

__all__ = ["DEFAULT_DRIVER", "LogSettings", "from_human_size", "log_opts", "ram_in_bytes"]

DEFAULT_DRIVER = "json-file"
_READABLE = frozenset({"json-file", "local"})
# Registered in dockerd on Linux, not implemented by berthd.
_DOCKERD_ONLY = frozenset(
    {"awslogs", "fluentd", "gcplogs", "gelf", "journald", "logentries", "splunk", "syslog"}
)
# Accepted for every driver by dockerd itself (logger.builtInLogOpts) and by
# its dual-logging cache; the reader always reads the file, so they are ignored.
_BUILTIN_OPTS = frozenset({"mode", "max-buffer-size"})
_CACHE_OPTS = frozenset({"cache-disabled", "cache-max-size", "cache-max-file", "cache-compress"})
_COMMON_OPTS = frozenset({"labels", "labels-regex", "env", "env-regex", "tag"})
_JSON_OPTS = _COMMON_OPTS | {"max-file", "max-size", "compress"}
_LOCAL_OPTS = _JSON_OPTS
_LOCAL_MAX_SIZE = 20 * 1024 * 1024
_LOCAL_MAX_FILE = 5

_DECIMAL = {"k": 1000, "m": 1000**2, "g": 1000**3, "t": 1000**4, "p": 1000**5}
_BINARY = {"k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4, "p": 1024**5}
_GO_FLOAT = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_GO_INT = re.compile(r"[+-]?\d+")
_GO_BOOLS = {
    **dict.fromkeys(("1", "t", "T", "TRUE", "true", "True"), True),
    **dict.fromkeys(("0", "f", "F", "FALSE", "false", "False"), False),
}


@dataclass(frozen=True, slots=True)
class LogSettings:
    """What the runtime needs to start conmon, and whether ``docker logs`` works."""

    driver: str
    size_max: int | None  # bytes for conmon's --log-size-max; None = unlimited
    max_size: int | None  # the user's max-size (per file), as parsed
    max_file: int
    compress: bool

    @property
    def readable(self) -> bool:
        return self.driver in _READABLE

    def check_readable(self) -> None:
        """Raise dockerd's ErrReadLogsNotSupported (501) for ``none``."""
        if not self.readable:
            raise errdefs.NotImplemented_("configured logging driver does not support reading")

    def conmon_args(self, log_path: str) -> list[str]:
        """conmon's ``-l`` / ``--log-size-max`` arguments for this container."""
        if not self.readable:
            return ["-l", "none"]
        if ":" in log_path:
            # conmon splits "-l driver:path" with strtok(":"): the path would be cut.
            raise errdefs.System(f"log path must not contain ':': {log_path}")
        args = ["-l", f"k8s-file:{log_path}"]
        if self.size_max is not None:
            args += ["--log-size-max", str(self.size_max)]
        return args


# room for a burst that outruns the rotation (conmon would empty the file there)
ROTATION_HEADROOM = 1 << 20


def conmon_limit(max_size: int, max_file: int) -> int:
    """conmon's ``--log-size-max``: the whole budget, plus headroom where berthd
    rotates (``max_file`` > 1) so that only a daemon that is down lets it bite."""
    if max_file < 2:
        return max_size
    return max_size * max_file + ROTATION_HEADROOM


def _parse_float(num: str) -> float:
    if not _GO_FLOAT.fullmatch(num):
        raise ValueError(f'strconv.ParseFloat: parsing "{num}": invalid syntax')
    return float(num)


def _parse_size(text: str, units: Mapping[str, int]) -> int:
    """go-units v0.5 ``parseSize``: number, optional space, optional k/m/g/t/p + b/ib."""
    sep = max(text.rfind(c) for c in "0123456789. ")
    if sep == -1:
        raise ValueError(f"invalid size: '{text}'")
    if text[sep] != " ":
        num, sfx = text[: sep + 1], text[sep + 1 :]
    else:
        num, sfx = text[:sep], text[sep + 1 :]
    size = _parse_float(num)
    if size < 0:
        raise ValueError(f"invalid size: '{text}'")
    if sfx:
        low = sfx.lower()
        ok = len(sfx) <= 3 and (
            low == "b"
            or (
                low[0] in units
                and (len(low) == 1 or (len(low) == 2 and low[1] == "b") or low[1:] == "ib")
            )
        )
        if not ok:
            raise ValueError(f"invalid suffix: '{low if len(sfx) <= 3 else sfx}'")
        if low != "b":
            size *= units[low[0]]
    return min(int(size), 2**63 - 1)


def from_human_size(text: str) -> int:
    """go-units ``FromHumanSize``: decimal units (``10m`` = 10 000 000 bytes)."""
    return _parse_size(text, _DECIMAL)


def ram_in_bytes(text: str) -> int:
    """go-units ``RAMInBytes``: binary units (``10m`` = 10 MiB)."""
    return _parse_size(text, _BINARY)


def _atoi(text: str) -> int:
    if not _GO_INT.fullmatch(text):
        raise ValueError(f'strconv.Atoi: parsing "{text}": invalid syntax')
    n = int(text)
    if not -(2**63) <= n < 2**63:
        raise ValueError(f'strconv.Atoi: parsing "{text}": value out of range')
    return n


def _parse_bool(text: str) -> bool:
    if text not in _GO_BOOLS:
        raise ValueError(f'strconv.ParseBool: parsing "{text}": invalid syntax')
    return _GO_BOOLS[text]


def _bad(msg: str) -> errdefs.InvalidParameter:
    return errdefs.InvalidParameter(msg)


def log_opts(
    log_config: Mapping[str, Any] | None, default: Mapping[str, Any] | None = None
) -> LogSettings:
    """Validate ``HostConfig.LogConfig`` (``{"Type": …, "Config": {…}}``) → ``LogSettings``.

    ``default`` is the daemon's ``log-driver``/``log-opts`` in the same shape;
    as dockerd does, an empty Type takes the default driver, and the default's
    options fill in missing keys when the driver is the default one.
    """
    default = default or {}
    default_type = str(default.get("Type") or DEFAULT_DRIVER)
    log_config = log_config or {}
    driver = str(log_config.get("Type") or default_type)
    opts = {str(k): str(v) for k, v in (log_config.get("Config") or {}).items()}
    if driver == default_type:
        for k, v in (default.get("Config") or {}).items():
            opts.setdefault(str(k), str(v))

    if driver == "none":
        return LogSettings("none", None, None, 1, False)
    mode = opts.get("mode", "")
    if mode not in ("", "blocking", "non-blocking"):
        raise _bad(f"logger: logging mode not supported: {mode}")
    if "max-buffer-size" in opts:
        if mode != "non-blocking":
            raise _bad("logger: max-buffer-size option is only supported with 'mode=non-blocking'")
        try:
            ram_in_bytes(opts["max-buffer-size"])
        except ValueError as e:
            raise _bad(f"error parsing option max-buffer-size: {e}") from None
    if driver in _DOCKERD_ONLY:
        raise errdefs.NotImplemented_(f"logger: log driver '{driver}' is not supported by berthd")
    if driver not in _READABLE:
        raise _bad(f"logger: no log driver named '{driver}' is registered")
    known = _JSON_OPTS if driver == "json-file" else _LOCAL_OPTS
    for key in sorted(opts):
        if key in _BUILTIN_OPTS or key in _CACHE_OPTS or key in known:
            continue
        if driver == "json-file":
            raise _bad(f"unknown log opt '{key}' for json-file log driver")
        raise _bad(f"unknown log opt '{key}' for log driver local")
    if driver == "json-file":
        return _json_file(opts)
    return _local(opts)


def _json_file(opts: Mapping[str, str]) -> LogSettings:
    """moby ``jsonfilelog.New``'s checks, in its order."""
    max_size: int | None = None
    try:
        if "max-size" in opts:
            max_size = from_human_size(opts["max-size"])
            if max_size <= 0:
                raise ValueError("max-size must be a positive number")
        max_file = 1
        if "max-file" in opts:
            max_file = _atoi(opts["max-file"])
            if max_file < 1:
                raise ValueError("max-file cannot be less than 1")
        compress = False
        if "compress" in opts:
            compress = _parse_bool(opts["compress"])
            if compress and (max_file == 1 or max_size is None):
                raise ValueError(
                    "compress cannot be true when max-file is less than 2 or max-size is not set"
                )
    except ValueError as e:
        raise _bad(str(e)) from None
    size_max = None if max_size is None else conmon_limit(max_size, max_file)
    return LogSettings("json-file", size_max, max_size, max_file, compress)


def _local(opts: Mapping[str, str]) -> LogSettings:
    """moby ``local.newConfig``'s checks and defaults."""
    max_size, max_file, compress = _LOCAL_MAX_SIZE, _LOCAL_MAX_FILE, True
    try:
        if "max-size" in opts:
            v = opts["max-size"]
            try:
                max_size = from_human_size(v)
            except ValueError as e:
                raise ValueError(f"invalid value for max-size: {v}: {e}") from None
        if "max-file" in opts:
            v = opts["max-file"]
            try:
                max_file = _atoi(v)
            except ValueError as e:
                raise ValueError(f"invalid value for max-file: {v}: {e}") from None
        if "compress" in opts:
            try:
                compress = _parse_bool(opts["compress"])
            except ValueError as e:
                raise ValueError(f"invalid boolean value for compress: {e}") from None
        if max_size < 0:
            raise ValueError("max-size must not be negative")
        if max_file < 0:
            raise ValueError("max-file must not be negative")
        if compress and max_file <= 1:
            raise ValueError("compression cannot be enabled when max file count is 1")
    except ValueError as e:
        raise _bad(str(e)) from None
    size_max = conmon_limit(max_size, max(max_file, 1)) if max_size > 0 else None
    return LogSettings("local", size_max, max_size, max_file, compress)
