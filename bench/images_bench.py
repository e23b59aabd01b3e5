"""``docker load`` / ``docker save`` throughput of a ~200 MB, 3-layer image (berthd alone).

Run as root from the repo: ``.venv/bin/python bench/images_bench.py [--mb 200]
[--image-runs 3]``. Generates a save archive of compressible text layers, starts a
berthd of its own (``/tmp/bench-berthd``) and times ``docker load -i`` (the image
removed between runs) and ``docker save -o``, with the worst ``/_ping`` latency seen
while a load runs (the event loop must stay free: extraction runs in worker threads):
the ``images`` section of ``bench/sidebyside.py``, which measures dockerd beside it.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import berthd_alone

if __name__ == "__main__":
    berthd_alone(__doc__, ("images",))
