from __future__ import annotations

import pytest

from berthd.errdefs import InvalidParameter
from berthd.oci import caps
from berthd.oci.defaults import DEFAULT_CAPABILITIES


def test_default_set_is_dockerd_s() -> None:
    assert caps.tweak_capabilities() == list(DEFAULT_CAPABILITIES)
    assert set(DEFAULT_CAPABILITIES) == {
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_FSETID",
        "CAP_FOWNER",
        "CAP_MKNOD",
        "CAP_NET_RAW",
        "CAP_SETGID",
        "CAP_SETUID",
        "CAP_SETFCAP",
        "CAP_SETPCAP",
        "CAP_NET_BIND_SERVICE",
        "CAP_SYS_CHROOT",
        "CAP_KILL",
        "CAP_AUDIT_WRITE",
    }


def test_add_and_drop_normalise_names() -> None:
    got = caps.tweak_capabilities(adds=["sys_admin", "CAP_net_admin"], drops=["chown", "Cap_Kill"])
    assert "CAP_SYS_ADMIN" in got and "CAP_NET_ADMIN" in got
    assert "CAP_CHOWN" not in got and "CAP_KILL" not in got
    assert "CAP_SETUID" in got


def test_add_all_minus_drops() -> None:
    got = caps.tweak_capabilities(adds=["ALL"], drops=["MKNOD"], last_cap=40)
    assert len(got) == 40 and "CAP_MKNOD" not in got and "CAP_BPF" in got


def test_drop_all_keeps_adds() -> None:
    assert caps.tweak_capabilities(adds=["net_raw"], drops=["all"]) == ["CAP_NET_RAW"]
    assert caps.tweak_capabilities(drops=["ALL"]) == []


def test_privileged_is_everything_the_kernel_knows() -> None:
    assert caps.tweak_capabilities(privileged=True, last_cap=37)[-1] == "CAP_AUDIT_READ"
    with open("/proc/sys/kernel/cap_last_cap") as f:
        last = int(f.read())
    own = caps.own_bounding_set()
    assert own is not None
    expected = [c for c in caps.CAPABILITY_NAMES[: min(last, 40) + 1] if c in own]
    assert caps.tweak_capabilities(privileged=True) == expected


def test_caps_the_daemon_lacks_are_not_granted() -> None:
    own = caps.own_bounding_set()
    assert own is not None
    missing = [c for c in caps.all_capabilities(last_cap=40) if c not in own]
    if not missing:
        pytest.skip("this process holds every capability")
    assert missing[0] not in caps.tweak_capabilities(adds=["ALL"])
    with pytest.raises(InvalidParameter, match="cannot be granted"):
        caps.tweak_capabilities(adds=[missing[0]])


def test_unknown_capability_error_wording() -> None:
    with pytest.raises(InvalidParameter) as ei:
        caps.tweak_capabilities(adds=["foo"])
    assert str(ei.value) == 'unknown capability: "CAP_FOO"'
    # a cap this kernel does not know is unknown too
    with pytest.raises(InvalidParameter):
        caps.normalize_capabilities(["CAP_BPF"], last_cap=37)
