"""Put a small busybox image straight into a data root, before berthd starts.

Uses berthd's own layer and image stores (no daemon, no registry), so the
container tests do not depend on ``docker load``. The layer holds the static
/usr/bin/busybox, its applets as symlinks, and /etc/passwd and /etc/group.
"""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
import time

from berthd.image.config import StoredConfig
from berthd.image.fs_store import FSStoreBackend
from berthd.image.reference import parse_docker_ref
from berthd.image.reference_store import ReferenceStore
from berthd.image.store import ImageStore
from berthd.layer import LayerStore, new_driver

BUSYBOX = "/usr/bin/busybox"
PASSWD = (
    "root:x:0:0:root:/root:/bin/sh\n"
    "daemon:x:1:1:daemon:/usr/sbin:/bin/false\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
    "app:x:1000:1000:app:/home/app:/bin/sh\n"
)
GROUP = "root:x:0:\ndaemon:x:1:\nstaff:x:50:app\nnogroup:x:65534:\napp:x:1000:\n"


def applets() -> list[str]:
    out = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True, check=True)
    return [a for a in out.stdout.split() if a and a != "busybox"]


def busybox_layer() -> bytes:
    buf = io.BytesIO()
    mtime = int(time.time())
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for d in ("bin", "etc", "root", "tmp", "home", "home/app"):
            info = tarfile.TarInfo(d)
            info.type = tarfile.DIRTYPE
            info.mode = 0o1777 if d == "tmp" else 0o755
            info.mtime = mtime
            if d == "home/app":
                info.uid = info.gid = 1000
            tar.addfile(info)
        with open(BUSYBOX, "rb") as f:
            data = f.read()
        info = tarfile.TarInfo("bin/busybox")
        info.size = len(data)
        info.mode = 0o755
        info.mtime = mtime
        tar.addfile(info, io.BytesIO(data))
        for name in applets():
            link = tarfile.TarInfo(f"bin/{name}")
            link.type = tarfile.SYMTYPE
            link.linkname = "busybox"
            link.mtime = mtime
            tar.addfile(link)
        for path, text in (("etc/passwd", PASSWD), ("etc/group", GROUP)):
            raw = text.encode()
            info = tarfile.TarInfo(path)
            info.size = len(raw)
            info.mode = 0o644
            info.mtime = mtime
            tar.addfile(info, io.BytesIO(raw))
    return buf.getvalue()


def seed_busybox(
    data_root: str,
    tag: str = "busybox:latest",
    driver: str = "",
    config: dict[str, object] | None = None,
) -> str:
    """Register the image in ``data_root`` and tag it; return its ID."""
    layers = LayerStore(data_root, new_driver(data_root, driver or None))
    root = f"{data_root}/image/{layers.driver.name}"
    images = ImageStore(FSStoreBackend(f"{root}/imagedb"), layers)
    refs = ReferenceStore(f"{root}/repositories.json")
    layer = layers.register(io.BytesIO(busybox_layer()))
    cfg = {
        "architecture": "amd64",
        "os": "linux",
        "created": "2026-11-23T00:00:00Z",
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": ["sh"],
            **(config or {}),
        },
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id]},
        "history": [{"created": "2026-11-23T00:00:00Z", "created_by": "seed_busybox"}],
    }
    raw = json.dumps(cfg, separators=(",", ":")).encode()
    image_id = images.create(raw)
    refs.add_tag(parse_docker_ref(tag), image_id, force=True)
    layers.release(layer.chain_id)
    assert StoredConfig.from_json(raw).id == image_id
    return image_id
