from __future__ import annotations

import json
import os

import pytest

from berthd import errdefs
from berthd.image.distribution_metadata import (
    DistributionMetadataStore,
    V2Metadata,
    compute_hmac,
)

DIFF = "sha256:" + "1" * 64


def blob(n: int) -> str:
    return "sha256:" + f"{n:064x}"


def test_files_in_dockerd_format(tmp_path: str) -> None:
    store = DistributionMetadataStore(os.path.join(tmp_path, "distribution"))
    store.add(DIFF, V2Metadata(blob(1), "docker.io/library/busybox"))
    by_diff = os.path.join(tmp_path, "distribution", "v2metadata-by-diffid", "sha256", "1" * 64)
    with open(by_diff, "rb") as f:
        assert f.read() == (
            b'[{"Digest":"' + blob(1).encode() + b'","SourceRepository":'
            b'"docker.io/library/busybox","HMAC":""}]'
        )
    by_digest = os.path.join(tmp_path, "distribution", "diffid-by-digest", "sha256", f"{1:064x}")
    with open(by_digest, "rb") as f:
        assert f.read() == DIFF.encode()
    assert store.get_diff_id(blob(1)) == DIFF
    assert store.get_metadata(DIFF) == [V2Metadata(blob(1), "docker.io/library/busybox")]


def test_dedup_order_cap_and_remove(tmp_path: str) -> None:
    store = DistributionMetadataStore(str(tmp_path))
    for i in range(60):
        store.add(DIFF, V2Metadata(blob(i), "r"))
    store.add(DIFF, V2Metadata(blob(30), "r"))
    got = store.get_metadata(DIFF)
    assert len(got) == 50 and got[-1].digest == blob(30) and got[0].digest == blob(10)
    for m in got:
        store.remove(m)
    assert store.get_metadata(DIFF) == []
    with pytest.raises(errdefs.NotFound):
        store.get_diff_id(blob(1000))
    with pytest.raises(errdefs.InvalidParameter):
        store.get_metadata("sha256:../../x")


def test_hmac(tmp_path: str) -> None:
    store = DistributionMetadataStore(str(tmp_path))
    meta = V2Metadata(blob(2), "localhost:5000/x")
    store.tag_and_add(DIFF, b"key", meta)
    (stored,) = store.get_metadata(DIFF)
    assert stored.hmac == compute_hmac(b"key", meta) and len(stored.hmac) == 64
    assert compute_hmac(b"", meta) == ""
    with open(os.path.join(tmp_path, "v2metadata-by-diffid", "sha256", "1" * 64)) as f:
        raw = json.load(f)
    assert list(raw[0]) == ["Digest", "SourceRepository", "HMAC"]
