"""A unit-test double for the layer store Protocol: keeps tar bytes in memory.

It computes real sha256 diff IDs and chain IDs and counts references the way moby's
layer store does (a layer also holds a reference on its parent), so the image code is
exercised against the real contract without the real overlay driver.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from berthd import errdefs
from berthd.image.digest import chain_id
from berthd.image.layer_protocol import ReadStream


@dataclass(frozen=True)
class FakeLayerInfo:
    chain_id: str
    diff_id: str
    size: int


@dataclass
class _Layer:
    info: FakeLayerInfo
    parent: str
    data: bytes
    refs: int


class FakeLayerStore:
    def __init__(self) -> None:
        self.layers: dict[str, _Layer] = {}
        self.fail_register_after: int | None = None
        self.registered = 0

    def lookup(self, chain_id: str) -> FakeLayerInfo:
        layer = self.layers.get(chain_id)
        if layer is None:
            raise errdefs.NotFound(f"layer does not exist: {chain_id}")
        return layer.info

    def get(self, chain_id: str) -> FakeLayerInfo:
        layer = self.layers.get(chain_id)
        if layer is None:
            raise errdefs.NotFound(f"layer does not exist: {chain_id}")
        layer.refs += 1
        return layer.info

    def release(self, chain_id: str) -> list[FakeLayerInfo]:
        removed: list[FakeLayerInfo] = []
        current = chain_id
        while current:
            layer = self.layers[current]
            layer.refs -= 1
            if layer.refs > 0:
                break
            del self.layers[current]
            removed.append(layer.info)
            current = layer.parent
        return removed

    def register(self, stream: ReadStream, parent: str | None = None) -> FakeLayerInfo:
        parent_chain_id = parent or ""
        if self.fail_register_after is not None and self.registered >= self.fail_register_after:
            raise errdefs.System("disk full")
        data = stream.read()
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            tar.getmembers()  # must be a tar
        diff_id = "sha256:" + hashlib.sha256(data).hexdigest()
        if parent_chain_id and parent_chain_id not in self.layers:
            raise errdefs.NotFound(f"layer does not exist: {parent_chain_id}")
        cid = (
            diff_id
            if not parent_chain_id
            else "sha256:" + hashlib.sha256(f"{parent_chain_id} {diff_id}".encode()).hexdigest()
        )
        self.registered += 1
        existing = self.layers.get(cid)
        if existing is not None:
            existing.refs += 1
            return existing.info
        if parent_chain_id:
            self.layers[parent_chain_id].refs += 1
        info = FakeLayerInfo(cid, diff_id, len(data))
        self.layers[cid] = _Layer(info, parent_chain_id, data, 1)
        return info

    def tar_stream(self, chain_id: str) -> Iterator[bytes]:
        data = self.layers[chain_id].data
        for i in range(0, len(data), 4096):
            yield data[i : i + 4096]


def make_layer_tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            info.mtime = 0
            tar.addfile(info, io.BytesIO(content))
    return buf.getvalue()


def diff_id_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def make_config(
    layer_tars: list[bytes],
    *,
    cmd: str = "sh",
    extra: dict[str, object] | None = None,
    history: Sequence[Mapping[str, object]] | None = None,
) -> bytes:
    diff_ids = [diff_id_of(t) for t in layer_tars]
    doc: dict[str, object] = {
        "architecture": "amd64",
        "config": {"Cmd": [cmd], "Env": ["PATH=/bin"], "Labels": {"a": "1"}},
        "created": "2024-01-02T03:04:05.123456789Z",
        "history": history
        if history is not None
        else [
            {"created": "2024-01-02T03:04:05Z", "created_by": f"ADD {i}"}
            for i in range(len(layer_tars))
        ],
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }
    if extra:
        doc.update(extra)
    return json.dumps(doc, separators=(",", ":")).encode()


def register_all(store: FakeLayerStore, layer_tars: list[bytes]) -> str:
    parent = ""
    for data in layer_tars:
        parent = store.register(io.BytesIO(data), parent or None).chain_id
    assert parent == chain_id([diff_id_of(t) for t in layer_tars])
    return parent
