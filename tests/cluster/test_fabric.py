"""The 3-node harness itself: namespaces on one switch, one berthd in each."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster.harness import IP, Fabric, fabric, needs, netns_pids

pytestmark = pytest.mark.skipif(bool(needs()), reason=needs() or "runs")


@pytest.fixture(scope="module")
def three() -> Iterator[Fabric]:
    with fabric(3) as f:
        yield f


def test_nodes_reach_each_other_and_nothing_else(three: Fabric) -> None:
    for i in (1, 2, 3):
        ns = three.netns(i)
        for j in (1, 2, 3):
            r = subprocess.run(
                [IP, "netns", "exec", ns, "busybox", "ping", "-c1", "-W2", three.addr(j)],
                capture_output=True,
                timeout=10,
            )
            assert r.returncode == 0, r
        routes = subprocess.run(
            [IP, "-n", ns, "route", "show", "default"], capture_output=True, text=True
        )
        assert routes.stdout.strip() == ""


def test_one_berthd_per_node(three: Fabric) -> None:
    roots = set()
    for d in three.nodes:
        r = d.cli("info", "--format", "{{.Swarm.LocalNodeState}} {{.DockerRootDir}}")
        assert r.returncode == 0, r
        state, root = r.stdout.split()
        assert state == "inactive"
        roots.add(root)
        assert d.proc is not None and d.proc.pid in netns_pids(d.netns)
    assert len(roots) == 3


def test_cleanup_leaves_nothing() -> None:
    f = Fabric(1, tag=f"bswc{Path('/proc/self').resolve().name}")
    try:
        f.build().start()
        root = f.nodes[0].root
    finally:
        leaks = f.destroy()
    assert leaks == []
    assert not root.exists()
    names = subprocess.run([IP, "netns", "list"], capture_output=True, text=True).stdout
    assert f.tag not in names
