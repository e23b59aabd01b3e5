"""Turn an OCI runtime's complaint into an error kind with dockerd's wording.

runc and crun only speak through exit status and a human message on stderr
(runc: ``time=… level=error msg="…"``; crun: ``crun: …`` / ``Error: …``). dockerd
keys its decisions off that text in exactly one place (``translateContainerdStartErr``
in daemon/start.go), so we do the same here and nowhere else: executable not found
→ exit code 127 and a 400, permission denied → 126 and a 400.
"""

from __future__ import annotations

import re

from berthd import errdefs

__all__ = [
    "RuntimeStartError",
    "classify",
    "clean_message",
]

_RUNC_LINE = re.compile(r'level=(?:error|fatal) msg="((?:[^"\\]|\\.)*)"')
_ESCAPES = {"n": "\n", "t": "\t", '"': '"', "\\": "\\", "r": "\r"}


class RuntimeStartError(errdefs.InvalidParameter):
    """The runtime could not start the process: a bad command in the config.

    dockerd answers these with 400 and records ``exit_code`` (127 for a missing
    executable, 126 for one that cannot be run) as the container's exit code.
    """

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def _unquote_go(s: str) -> str:
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), s)


def clean_message(stderr: str) -> str:
    """Extract the runtime's own words from its stderr (runc logfmt or crun plain)."""
    msgs = [_unquote_go(m.group(1)) for m in _RUNC_LINE.finditer(stderr)]
    if msgs:
        return msgs[-1]
    lines = [ln.strip() for ln in stderr.strip().splitlines() if ln.strip()]
    if not lines:
        return "unknown error"
    msg = lines[-1]
    for prefix in ("Error: ", "crun: "):
        msg = msg.removeprefix(prefix)
    return msg


def classify(verb: str, message: str, container_id: str = "") -> errdefs.BerthdError:
    """Map a runtime failure of ``verb`` with ``message`` to an error kind.

    The wording follows dockerd's, which wraps containerd's: ``OCI runtime <verb>
    failed: <message>: unknown``.
    """
    low = message.lower()
    text = f"OCI runtime {verb} failed: {message}: unknown"
    if verb in ("create", "start", "exec", "run"):
        if (
            "executable file not found" in low
            or "no such file or directory" in low
            or "system cannot find the file specified" in low
        ):
            return RuntimeStartError(text, 127)
        if "permission denied" in low:
            return RuntimeStartError(text, 126)
    if "does not exist" in low or ("container" in low and "not found" in low):
        return errdefs.NotFound(f"No such container: {container_id}" if container_id else message)
    if (
        "not running" in low
        or "process already finished" in low
        or "is paused" in low
        or "not paused" in low
        or "stopped" in low
    ):
        return errdefs.Conflict(text)
    return errdefs.System(text)
