"""kill -9 at any instant of a register or rw-layer creation leaves either a
complete layer or nothing, and the next start collects the debris."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from berthd.layer import LayerStore, new_driver
from berthd.layer.mounts import mountpoints

pytestmark = pytest.mark.integration

CHILD = r"""
import io, os, sys, tarfile
from berthd.layer import LayerStore, new_driver
root, driver = sys.argv[1], sys.argv[2]
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w") as tf:
    for i in range(400):
        data = (str(i) * 5000).encode()
        info = tarfile.TarInfo(f"d{i % 20}/f{i}")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
tar = buf.getvalue()
store = LayerStore(root, new_driver(root, driver))
print("ready", flush=True)
while True:
    layer = store.register(io.BytesIO(tar))
    store.create_rw_layer("c", layer.chain_id)
    store.release_rw_layer("c")
    store.release(layer.chain_id)
"""


def _check_consistent(root: Path, driver: str) -> None:
    store = LayerStore(str(root), new_driver(str(root), driver))
    try:
        layers = store.layers()
        assert len(layers) <= 1
        for chain, layer in layers.items():
            data = b"".join(store.tar_stream(chain))  # verifies the diff ID
            assert len(data) > 0
            assert store.driver.exists(layer.cache_id)
        keep = {x.cache_id for x in layers.values()}
        for rw in store.rw_layers().values():
            keep |= {rw.mount_id, rw.init_id or ""}
        assert set(store.driver.ids()) <= keep
        assert os.listdir(root / "image" / driver / "layerdb" / "tmp") == []
        assert os.listdir(Path(store.driver.root) / ".staging") == []
        for rw in list(store.rw_layers()):
            store.release_rw_layer(rw)
        for chain in list(store.layers()):
            if store.layers().get(chain) and store.references(chain) == 0:
                store.get(chain)
                store.release(chain)
    finally:
        store.cleanup()


@pytest.mark.parametrize("driver", ["overlay2", "vfs"])
def test_kill_9_anywhere(tmp_path: Path, driver: str) -> None:
    root = tmp_path / "data"
    root.mkdir()
    rng = random.Random(int(os.environ.get("BERTHD_CRASH_SEED", "1234")))
    repo = Path(__file__).resolve().parents[3]
    for _ in range(12):
        proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(root), driver],
            stdout=subprocess.PIPE,
            cwd=repo,
        )
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == b"ready"
        time.sleep(rng.uniform(0.0, 0.4))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        for m in mountpoints():  # the killed child may leave its init mount
            if m.startswith(str(root)):
                subprocess.run(["umount", "-l", m], check=False)
        _check_consistent(root, driver)
    assert not [m for m in mountpoints() if m.startswith(str(root))]
