"""Container logs: reading conmon's k8s-file log as ``docker logs`` does, and LogConfig.

conmon writes each container's output to a CRI "k8s-file" log in the
container's directory (it keeps writing while berthd is down); this package
turns that file back into dockerd's ``docker logs`` stream:

- ``k8sfile``: the line format (``format_k8s_line``, ``parse_k8s_line``).
- ``assemble``: joining partial pieces into whole lines.
- ``tail``: finding the start of the last N lines by reading backwards.
- ``watch``: waiting for the file to change (inotify, polling fallback).
- ``reader``: ``read_logs`` — since/until/tail/follow/stream selection.
- ``message``: ``LogMessage`` and the ``--timestamps`` text.
- ``options``: ``log_opts`` — HostConfig.LogConfig validation → conmon args.

The route frames messages with ``berthd.lib.stdcopy`` when there is no TTY.
"""

from __future__ import annotations

from berthd.logger.batch import Batch
from berthd.logger.k8sfile import Record, format_k8s_line, parse_k8s_line
from berthd.logger.message import LogMessage, format_timestamp
from berthd.logger.options import DEFAULT_DRIVER, LogSettings, from_human_size, log_opts
from berthd.logger.reader import StopSignal, parse_tail, read_log_batches, read_logs

__all__ = [
    "Batch",
    "DEFAULT_DRIVER",
    "LogMessage",
    "LogSettings",
    "Record",
    "StopSignal",
    "format_k8s_line",
    "format_timestamp",
    "from_human_size",
    "log_opts",
    "parse_k8s_line",
    "parse_tail",
    "read_log_batches",
    "read_logs",
]
