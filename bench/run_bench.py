"""Everyday latencies through the docker CLI against a real berthd (berthd alone).

Run as root from the repo: ``.venv/bin/python bench/run_bench.py [-n 20] [--running 50]
[--total 200]``. On a berthd of its own (``/tmp/bench-berthd``, cgroup parent
``/berthd-bench``, removed at the end) it measures ``docker run --rm busybox true``,
``docker run -d`` of ``--running`` containers, ``docker exec``, ``docker ps -a`` with
``--total`` containers, and berthd's RSS idle and with the running containers: the
``runs`` section of ``bench/sidebyside.py``, which measures dockerd beside it.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import berthd_alone

if __name__ == "__main__":
    berthd_alone(__doc__, ("runs",))
