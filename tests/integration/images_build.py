"""Small real images built by the tests themselves, as ``docker save`` archives.

The base layer is Debian's static ``/usr/bin/busybox`` with a few applet symlinks, so
containers made from it run real commands. Archives are deterministic (fixed mtimes
and owners), so the same call gives the same image ID on every run; ``extra_layers``
adds small text-file layers on top (for parent/child and layer-sharing tests).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import tarfile
from pathlib import Path
from typing import Any

__all__ = [
    "APPLETS",
    "BUSYBOX",
    "build_busybox_archive",
    "build_random_archive",
    "write_raw_archive",
]

BUSYBOX = "/usr/bin/busybox"
APPLETS = ("sh", "ls", "cat", "echo", "true", "false", "sleep", "env", "id", "touch", "rm")
_MTIME = 1_700_000_000
_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _info(name: str, kind: bytes = tarfile.REGTYPE, mode: int = 0o644) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.mtime = _MTIME
    info.uname = info.gname = "root"
    return info


def busybox_layer() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for d in ("bin/", "etc/", "tmp/"):
            tar.addfile(_info(d, tarfile.DIRTYPE, 0o1777 if d == "tmp/" else 0o755))
        data = Path(BUSYBOX).read_bytes()
        info = _info("bin/busybox", mode=0o755)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
        for applet in APPLETS:
            link = _info(f"bin/{applet}", tarfile.SYMTYPE, 0o777)
            link.linkname = "busybox"
            tar.addfile(link)
        passwd = b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n"
        info = _info("etc/passwd")
        info.size = len(passwd)
        tar.addfile(info, io.BytesIO(passwd))
    return buf.getvalue()


def text_layer(index: int) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        data = f"layer {index}\n".encode()
        info = _info(f"layer{index}.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_archive(
    path: str | os.PathLike[str],
    layers: list[bytes],
    tag: str | None,
    config_extra: dict[str, Any] | None = None,
    oci: bool = False,
    created: str = "2024-01-01T00:00:00Z",
) -> str:
    """Write a save archive (or an OCI layout with ``oci``); return the image ID."""
    diff_ids = ["sha256:" + _sha(layer) for layer in layers]
    cfg_section: dict[str, Any] = {"Env": [_PATH], "Cmd": ["sh"]}
    cfg_section.update(config_extra or {})
    config = {
        "architecture": "amd64",
        "config": cfg_section,
        "created": created,
        "history": [{"created": created, "created_by": f"layer {i}"} for i in range(len(layers))],
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }
    raw = json.dumps(config, separators=(",", ":")).encode()
    return write_raw_archive(path, raw, layers, tag, oci=oci)


def write_raw_archive(
    path: str | os.PathLike[str],
    raw: bytes,
    layers: list[bytes],
    tag: str | None,
    oci: bool = False,
) -> str:
    """Write a save archive (or an OCI layout) of the config ``raw`` as given (it may be
    malformed) and ``layers``; return the image ID it would have."""
    config_hex = _sha(raw)
    files: dict[str, bytes] = {f"blobs/sha256/{config_hex}": raw}
    for layer in layers:
        files[f"blobs/sha256/{_sha(layer)}"] = layer
    if oci:
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {
                    "mediaType": "application/vnd.oci.image.config.v1+json",
                    "digest": "sha256:" + config_hex,
                    "size": len(raw),
                },
                "layers": [
                    {
                        "mediaType": "application/vnd.oci.image.layer.v1.tar",
                        "digest": "sha256:" + _sha(layer),
                        "size": len(layer),
                    }
                    for layer in layers
                ],
            }
        ).encode()
        files[f"blobs/sha256/{_sha(manifest)}"] = manifest
        entry: dict[str, Any] = {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": "sha256:" + _sha(manifest),
            "size": len(manifest),
        }
        if tag:
            name = tag if "/" in tag else "docker.io/library/" + tag
            entry["annotations"] = {
                "io.containerd.image.name": name,
                "org.opencontainers.image.ref.name": tag.rsplit(":", 1)[-1],
            }
        files["index.json"] = json.dumps({"schemaVersion": 2, "manifests": [entry]}).encode()
        files["oci-layout"] = b'{"imageLayoutVersion": "1.0.0"}'
    else:
        files["manifest.json"] = json.dumps(
            [
                {
                    "Config": f"blobs/sha256/{config_hex}",
                    "RepoTags": [tag] if tag else None,
                    "Layers": [f"blobs/sha256/{_sha(layer)}" for layer in layers],
                }
            ]
        ).encode()
    with tarfile.open(path, "w") as tar:
        for name, data in files.items():
            info = _info(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return "sha256:" + config_hex


def build_busybox_archive(
    path: str | os.PathLike[str],
    tag: str | None = "busybox:latest",
    extra_layers: int = 0,
    *,
    labels: dict[str, str] | None = None,
    oci: bool = False,
    created: str = "2024-01-01T00:00:00Z",
) -> str:
    """A busybox image (+ ``extra_layers`` tiny layers) as a save archive; its image ID."""
    layers = [busybox_layer(), *(text_layer(i) for i in range(1, extra_layers + 1))]
    extra = {"Labels": labels} if labels else None
    return write_archive(path, layers, tag, extra, oci=oci, created=created)


def _random_layer(size: int, seed: int) -> bytes:
    """Compressible, not constant: random words from a small vocabulary."""
    rng = random.Random(seed)
    words = [bytes(rng.choices(range(97, 123), k=rng.randint(3, 9))) for _ in range(4096)]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        per_file = 4 * 1024 * 1024
        for n in range(max(size // per_file, 1)):
            data = b" ".join(rng.choices(words, k=per_file // 6))[:per_file]
            info = _info(f"data{seed}/f{n}.txt")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def build_random_archive(
    path: str | os.PathLike[str], tag: str, layers: int = 3, total_mb: int = 200
) -> str:
    """A big image (``layers`` layers of compressible text, ~``total_mb`` MB in all)."""
    size = total_mb * 1024 * 1024 // layers
    return write_archive(path, [_random_layer(size, i) for i in range(layers)], tag)
