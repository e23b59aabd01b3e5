"""Runtime messages → error kinds, as dockerd's translateContainerdStartErr does."""

from __future__ import annotations

import pytest

from berthd import errdefs
from berthd.runtime.errors import RuntimeStartError, classify, clean_message

RUNC_NOT_FOUND = (
    'time="2026-11-23T11:47:59Z" level=error msg="runc create failed: unable to start '
    'container process: exec: \\"foo\\": executable file not found in $PATH"\n'
)


def test_clean_message_runc_logfmt() -> None:
    assert clean_message(RUNC_NOT_FOUND) == (
        "runc create failed: unable to start container process: "
        'exec: "foo": executable file not found in $PATH'
    )


def test_clean_message_crun_plain() -> None:
    assert (
        clean_message("crun: cannot stat `/x`: No such file\n") == "cannot stat `/x`: No such file"
    )
    assert clean_message("Error: boom\n") == "boom"
    assert clean_message("") == "unknown error"


def test_not_found_executable_is_127() -> None:
    err = classify("create", clean_message(RUNC_NOT_FOUND), "abc")
    assert isinstance(err, RuntimeStartError)
    assert isinstance(err, errdefs.InvalidParameter)
    assert err.exit_code == 127
    assert str(err) == (
        "OCI runtime create failed: runc create failed: unable to start container process: "
        'exec: "foo": executable file not found in $PATH: unknown'
    )


def test_permission_denied_is_126() -> None:
    err = classify("exec", 'exec: "/etc/passwd": permission denied')
    assert isinstance(err, RuntimeStartError) and err.exit_code == 126


@pytest.mark.parametrize(
    ("verb", "message", "kind"),
    [
        ("kill", "container does not exist", errdefs.NotFound),
        ("kill", "container not running", errdefs.Conflict),
        ("pause", "container not running", errdefs.Conflict),
        ("resume", "container not paused", errdefs.Conflict),
        ("update", "something odd", errdefs.System),
        ("kill", "no such file or directory", errdefs.System),
    ],
)
def test_other_kinds(verb: str, message: str, kind: type[errdefs.BerthdError]) -> None:
    err = classify(verb, message, "abc")
    assert type(err) is kind


def test_not_found_wording() -> None:
    assert str(classify("state", "container does not exist", "abc")) == "No such container: abc"
