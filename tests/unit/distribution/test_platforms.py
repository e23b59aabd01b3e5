from __future__ import annotations

import pytest

from berthd import errdefs
from berthd.distribution import platforms as plat
from berthd.distribution.platforms import Platform


def test_parse_as_containerd() -> None:
    assert plat.parse("linux/arm64") == Platform("linux", "arm64", "")
    assert plat.parse("linux/arm64/v8") == Platform("linux", "arm64", "v8")
    assert plat.parse("linux/aarch64") == Platform("linux", "arm64", "")
    assert plat.parse("linux/arm") == Platform("linux", "arm", "")
    assert plat.parse("linux/armhf") == Platform("linux", "arm", "")
    assert plat.parse("linux/x86_64") == Platform("linux", "amd64", "")
    assert plat.parse("Linux/AMD64/v3") == Platform("linux", "amd64", "v3")
    assert plat.parse("arm64").architecture == "arm64"
    with pytest.raises(errdefs.InvalidParameter, match="cannot parse platform specifier"):
        plat.parse("a/b/c/d")
    with pytest.raises(errdefs.InvalidParameter, match="unknown operating system or architecture"):
        plat.parse("bogus")
    with pytest.raises(errdefs.InvalidParameter, match="is an invalid component of"):
        plat.parse("linux/a.b")


def test_matching_and_ranking() -> None:
    arm64 = Platform("linux", "arm64", "v8")
    assert plat.matches(arm64, Platform("linux", "arm64", ""))
    assert plat.matches(arm64, Platform("linux", "arm", "v7"))
    assert not plat.matches(arm64, Platform("linux", "amd64", ""))
    assert plat.rank(arm64, Platform("linux", "arm64", "")) == 0
    assert plat.rank(arm64, Platform("linux", "arm", "v6")) == 3
    v3 = Platform("linux", "amd64", "v3")
    assert plat.matches(v3, Platform("linux", "amd64", ""))
    assert plat.matches(v3, Platform("linux", "amd64", "v2"))
    assert not plat.matches(Platform("linux", "amd64", "v1"), Platform("linux", "amd64", "v2"))
    assert not plat.matches(v3, Platform("unknown", "unknown", ""))
    assert Platform("linux", "arm64", "v8").format() == "linux/arm64/v8"
    assert Platform().format() == "unknown"
