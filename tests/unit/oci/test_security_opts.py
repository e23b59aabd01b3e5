from __future__ import annotations

import pytest

from berthd.errdefs import InvalidParameter
from berthd.oci.security_opts import parse_security_opts
from berthd.oci.signals import parse_signal


def test_no_new_privileges_forms() -> None:
    assert parse_security_opts(["no-new-privileges"]).no_new_privileges
    assert parse_security_opts(["no-new-privileges:true"]).no_new_privileges
    assert parse_security_opts(["no-new-privileges=true"]).no_new_privileges
    assert not parse_security_opts(["no-new-privileges=false"], True).no_new_privileges
    assert parse_security_opts([], daemon_no_new_privileges=True).no_new_privileges


def test_seccomp_apparmor_label() -> None:
    o = parse_security_opts(["seccomp=unconfined", "apparmor=foo", "label=disable"])
    assert o.seccomp_profile == "unconfined"
    assert o.apparmor_profile == "foo"
    assert o.label_opts == ["disable"]
    body = '{"defaultAction": "SCMP_ACT_ALLOW"}'
    assert parse_security_opts(["seccomp=" + body]).seccomp_profile == body


@pytest.mark.parametrize(
    ("opt", "msg"),
    [
        ("foo", 'invalid --security-opt 1: "foo"'),
        ("foo=bar", 'invalid --security-opt 2: "foo=bar"'),
        ("no-new-privileges=maybe", 'invalid --security-opt 2: "no-new-privileges=maybe"'),
    ],
)
def test_errors(opt: str, msg: str) -> None:
    with pytest.raises(InvalidParameter) as ei:
        parse_security_opts([opt])
    assert str(ei.value) == msg


def test_parse_signal() -> None:
    assert parse_signal("SIGTERM") == 15
    assert parse_signal("term") == 15
    assert parse_signal("9") == 9
    assert parse_signal("SIGRTMIN+1") == parse_signal("RTMIN") + 1
    for bad in ("foo", "0", "1_0", "SIGFOO"):
        with pytest.raises(InvalidParameter) as ei:
            parse_signal(bad)
        assert str(ei.value) == f"Invalid signal: {bad}"
