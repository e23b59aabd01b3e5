"""testcontainers-python against berthd.

testcontainers is not a dependency of berthd, so each flow of ``tc_flows.py``
runs in a subprocess of an interpreter that has it: ``$TESTCONTAINERS_PYTHON``
(for instance a venv made with ``pip install testcontainers``), else this
interpreter when it can import testcontainers. Skipped when there is neither.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.clients.conftest import ClientEnv

FLOWS_PY = Path(__file__).with_name("tc_flows.py")
# the flows of tc_flows.py (not imported here: it imports testcontainers)
FLOWS = [
    "generic",
    "log_regex_stderr",
    "network_alias",
    "copy_into",
    "http_wait",
    "port_wait",
    "health_wait",
    "volume_and_name",
    "exited",
]


def tc_python() -> str | None:
    for py in (os.environ.get("TESTCONTAINERS_PYTHON", ""), sys.executable):
        if py and os.path.exists(py):
            r = subprocess.run(
                [py, "-c", "import testcontainers.core.container"],
                capture_output=True,
                check=False,
            )
            if r.returncode == 0:
                return py
    return None


TC_PYTHON = tc_python()
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        TC_PYTHON is None,
        reason="testcontainers is not installed (set TESTCONTAINERS_PYTHON to a venv's python)",
    ),
]


@pytest.mark.parametrize("flow", FLOWS)
def test_flow(client_env: ClientEnv, flow: str, tmp_path: Path) -> None:
    assert TC_PYTHON is not None
    r = client_env.run(
        [TC_PYTHON, str(FLOWS_PY), flow],
        env={
            "TC_BIND_DIR": str(tmp_path),
            "TESTCONTAINERS_RYUK_DISABLED": "true",
            "PYTHONWARNINGS": "ignore::DeprecationWarning",
        },
        timeout=180,
        check=False,
    )
    assert r.returncode == 0, (
        f"{flow} exited {r.returncode}\n{r.stdout}\n{r.stderr}\n"
        f"--- berthd log (tail) ---\n{client_env.log_tail()}"
    )
    assert r.stdout.strip().endswith(f"ok {flow}")
