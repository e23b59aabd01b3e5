"""Build image archives in memory for load tests (docker save < 25, 25+, OCI only)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile

import zstandard


class TarBuilder:
    def __init__(self) -> None:
        self.buf = io.BytesIO()
        self.tar = tarfile.open(fileobj=self.buf, mode="w", format=tarfile.PAX_FORMAT)  # noqa: SIM115

    def file(self, name: str, data: bytes) -> TarBuilder:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        self.tar.addfile(info, io.BytesIO(data))
        return self

    def symlink(self, name: str, target: str) -> TarBuilder:
        info = tarfile.TarInfo(name)
        info.type = tarfile.SYMTYPE
        info.linkname = target
        self.tar.addfile(info)
        return self

    def build(self) -> bytes:
        self.tar.close()
        return self.buf.getvalue()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def compress(data: bytes, kind: str) -> bytes:
    if kind == "gzip":
        return gzip.compress(data)
    if kind == "zstd":
        return zstandard.ZstdCompressor().compress(data)
    return data


def legacy_save(config: bytes, layers: list[bytes], tags: list[str]) -> bytes:
    """docker < 25: <id>/layer.tar, <hex>.json config, a duplicate layer as a symlink."""
    b = TarBuilder()
    paths: list[str] = []
    seen: dict[bytes, str] = {}
    for i, layer in enumerate(layers):
        v1 = sha(f"v1-{i}".encode())
        path = f"{v1}/layer.tar"
        if layer in seen:
            b.symlink(path, f"../{seen[layer]}")
        else:
            b.file(path, layer)
            seen[layer] = path
        b.file(f"{v1}/VERSION", b"1.0")
        paths.append(path)
    b.file(f"{sha(config)}.json", config)
    manifest = [{"Config": f"{sha(config)}.json", "RepoTags": tags or None, "Layers": paths}]
    b.file("manifest.json", json.dumps(manifest).encode())
    return b.build()


def blobs_save(
    images: list[tuple[bytes, list[bytes], list[str]]], layer_compression: str = ""
) -> bytes:
    """docker 25+ style manifest.json over blobs/sha256/ (optionally compressed layers)."""
    b = TarBuilder()
    written: set[str] = set()
    manifest = []
    for config, layers, tags in images:
        paths = []
        for layer in layers:
            data = compress(layer, layer_compression)
            path = f"blobs/sha256/{sha(data)}"
            if path not in written:
                b.file(path, data)
                written.add(path)
            paths.append(path)
        b.file(f"blobs/sha256/{sha(config)}", config)
        manifest.append(
            {"Config": f"blobs/sha256/{sha(config)}", "RepoTags": tags, "Layers": paths}
        )
    b.file("manifest.json", json.dumps(manifest).encode())
    return b.build()


def oci_layout(
    config: bytes, layers: list[bytes], annotations: dict[str, str], nested: bool = False
) -> bytes:
    b = TarBuilder()
    descs = []
    for layer in layers:
        data = compress(layer, "gzip")
        b.file(f"blobs/sha256/{sha(data)}", data)
        descs.append(
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": f"sha256:{sha(data)}",
                "size": len(data),
            }
        )
    b.file(f"blobs/sha256/{sha(config)}", config)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": f"sha256:{sha(config)}",
                "size": len(config),
            },
            "layers": descs,
        }
    ).encode()
    b.file(f"blobs/sha256/{sha(manifest)}", manifest)
    top = {
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": f"sha256:{sha(manifest)}",
        "size": len(manifest),
        "platform": {"architecture": "amd64", "os": "linux"},
    }
    if nested:
        inner = json.dumps({"schemaVersion": 2, "manifests": [top]}).encode()
        b.file(f"blobs/sha256/{sha(inner)}", inner)
        top = {
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "digest": f"sha256:{sha(inner)}",
            "size": len(inner),
        }
    top["annotations"] = annotations
    b.file("oci-layout", b'{"imageLayoutVersion": "1.0.0"}')
    b.file("index.json", json.dumps({"schemaVersion": 2, "manifests": [top]}).encode())
    return b.build()
