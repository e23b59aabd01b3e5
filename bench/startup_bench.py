"""berthd start-up time until ``GET /containers/json?all=1`` lists every container.

Run as root from the repo: ``.venv/bin/python bench/startup_bench.py [--stopped 1000]
[--running 50] [--rounds 3]``. Two data sets on a berthd of its own
(``/tmp/bench-berthd``), each stopped (SIGTERM) and started again ``--rounds`` times:
``--stopped`` containers created through the API (never started), and ``--running``
containers (``sleep``) with ``--live-restore``, which must all be listed as running.
The time is from spawning berthd until the first list that holds everything (the
socket is polled every 5 ms): the ``stopped`` and ``running`` sections of
``bench/sidebyside.py``, which measures dockerd beside it (issue 6's target: < 1 s for
1,000 stopped containers, and faster than dockerd).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import berthd_alone

if __name__ == "__main__":
    berthd_alone(__doc__, ("stopped", "running"))
