"""Ten small files and their directory made durable three ways, while 150 MB of another
writer's data is dirty on the same file system: fsync one after the other, fsync all
at once from threads (``berthd.layer.fsutil.fsync_all``), and one ``syncfs``.

Run from the repo: ``.venv/bin/python bench/fsync_batch.py [--dir /var/tmp] [--mb 150]
[--rounds 3]``; medians in ms. The directory must be on the file system under test (the
data root's). It writes ``--mb`` MB per round per way, and removes everything it made.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from berthd.layer.fsutil import fsync_all, syncfs


def small_files(root: str, n: int) -> list[str]:
    d = tempfile.mkdtemp(dir=root)
    for i in range(n):
        with open(os.path.join(d, f"f{i}"), "wb") as f:
            f.write(b"x" * 60)
    return [*(os.path.join(d, f"f{i}") for i in range(n)), d]


def one_by_one(paths: list[str]) -> None:
    for p in paths:
        fd = os.open(p, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--dir", default="/var/tmp")
    ap.add_argument("--mb", type=int, default=150)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    root = tempfile.mkdtemp(prefix="fsync-batch-", dir=a.dir)
    ways = {
        "fsync one after the other": one_by_one,
        "fsync all at once (threads)": fsync_all,
        "one syncfs": lambda paths: syncfs(paths[-1]),
    }
    got: dict[str, list[float]] = {k: [] for k in ways}
    try:
        for _ in range(a.rounds):
            for name, way in ways.items():
                with open(os.path.join(root, "other-writer"), "wb") as f:  # dirty, not synced
                    for _ in range(a.mb):
                        f.write(os.urandom(1 << 20))
                paths = small_files(root, 10)
                t0 = time.perf_counter()
                way(paths)
                got[name].append(time.perf_counter() - t0)
                os.sync()  # the next way starts from a clean file system
    finally:
        shutil.rmtree(root, ignore_errors=True)
    for name, samples in got.items():
        print(f"{name}: {statistics.median(samples) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
