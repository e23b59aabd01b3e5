"""Logging in dockerd's shapes: logrus text or JSON lines on stderr."""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime

__all__ = ["setup_logging"]

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "error": logging.ERROR,
    "fatal": logging.CRITICAL,
}
_NAMES = {
    logging.DEBUG: "debug",
    logging.INFO: "info",
    logging.WARNING: "warning",
    logging.ERROR: "error",
    logging.CRITICAL: "fatal",
}


def _time(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created).astimezone().isoformat(timespec="microseconds")


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        msg = record.getMessage()
        if record.exc_info:
            msg += "\n" + self.formatException(record.exc_info)
        level = _NAMES.get(record.levelno, "info")
        return f'time="{_time(record)}" level={level} msg={json.dumps(msg)}'


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        msg = record.getMessage()
        if record.exc_info:
            msg += "\n" + self.formatException(record.exc_info)
        return json.dumps(
            {"level": _NAMES.get(record.levelno, "info"), "msg": msg, "time": _time(record)}
        )


def level_for(debug: bool, log_level: str) -> int:
    return logging.DEBUG if debug else _LEVELS.get(log_level, logging.INFO)


def setup_logging(debug: bool, log_level: str, log_format: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JSONFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    logging.getLogger("berthd").setLevel(level_for(debug, log_level))
