from __future__ import annotations

from pathlib import Path

import pytest

from berthd.errdefs import InvalidParameter
from berthd.oci.propagation import check_propagation, source_mount

MOUNTINFO = """\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
30 22 0:26 / /priv rw,relatime - tmpfs tmpfs rw
31 22 0:27 / /slave rw,relatime master:5 - tmpfs tmpfs rw
32 22 0:28 / /with\\040space rw,relatime shared:9 - tmpfs tmpfs rw
"""


@pytest.fixture
def mi(tmp_path: Path) -> str:
    p = tmp_path / "mountinfo"
    p.write_text(MOUNTINFO)
    return str(p)


def test_source_mount_longest_prefix(mi: str) -> None:
    assert source_mount("/", mi) == ("/", "shared:1")


def test_check_propagation(mi: str, tmp_path: Path) -> None:
    # rprivate needs nothing, even for a missing source
    check_propagation("/nope", "rprivate", mi)
    check_propagation("/", "rshared", mi)
    check_propagation("/", "rslave", mi)


def test_not_shared(tmp_path: Path) -> None:
    mi = tmp_path / "mi"
    mi.write_text("22 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw\n")
    with pytest.raises(InvalidParameter) as ei:
        check_propagation("/", "shared", str(mi))
    assert str(ei.value) == "path / is mounted on / but it is not a shared mount"
    with pytest.raises(InvalidParameter, match="not a shared or slave mount"):
        check_propagation("/", "slave", str(mi))
    with pytest.raises(InvalidParameter, match="no such file or directory"):
        check_propagation("/nope-x", "shared", str(mi))
