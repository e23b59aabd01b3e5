"""Placement (berthd.daemon.cluster.scheduler) over node records: filters, errors, spread."""

from __future__ import annotations

from typing import Any

from berthd.daemon.cluster.scheduler import choose_node, node_matches, parse_constraints

GB = 1 << 30


def node(nid: str, state: str = "ready", availability: str = "active", **kw: Any) -> dict[str, Any]:
    return {
        "ID": nid,
        "Spec": {
            "Role": kw.get("role", "worker"),
            "Availability": availability,
            "Labels": kw.get("labels", {}),
        },
        "Description": {
            "Hostname": f"host-{nid}",
            "Platform": {"OS": "linux", "Architecture": kw.get("arch", "x86_64")},
            "Resources": {"NanoCPUs": 2_000_000_000, "MemoryBytes": 4 * GB},
            "Engine": {"Labels": kw.get("engine", {})},
        },
        "Status": {"State": state},
    }


def task(sid: str = "s1", **placement: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"Placement": placement}
    if "res" in placement:
        spec["Resources"] = {"Reservations": placement.pop("res")}
    return {"ID": "t", "ServiceID": sid, "Spec": spec, "DesiredState": "running"}


def placed(nid: str, sid: str = "s1", **res: int) -> dict[str, Any]:
    t = task(sid, res=res) if res else task(sid)
    return dict(t, NodeID=nid, ID=f"{nid}-{sid}-{len(res)}")


SVC: dict[str, Any] = {"ID": "s1", "Spec": {}}


def test_constraints() -> None:
    n = node("n1", role="manager", labels={"zone": "A"}, engine={"disk": "ssd"})
    ok = ["node.role==manager", "node.labels.zone==a", "engine.labels.disk==ssd"]
    assert node_matches(n, parse_constraints(ok))
    assert node_matches(n, parse_constraints(["node.hostname!=host-n2", "node.id==n1"]))
    assert node_matches(n, parse_constraints(["node.platform.os==linux"]))
    assert not node_matches(n, parse_constraints(["node.labels.rack==1"]))
    assert node_matches(n, parse_constraints(["node.labels.rack!=1"]))
    assert not node_matches(n, parse_constraints(["node.role!=manager"]))


def test_no_suitable_node_wording() -> None:
    nodes = [node("n1", labels={"zone": "a"}), node("n2"), node("n3"), node("n4", state="down")]
    got = choose_node(task(Constraints=["node.labels.zone==b"]), SVC, nodes, [])
    assert got == (
        "",
        "no suitable node (scheduling constraints not satisfied on 3 nodes; "
        "1 node not available for new tasks)",
    )
    drained = [node("n1", availability="drain")]
    assert choose_node(task(), SVC, drained, [])[1] == (
        "no suitable node (1 node not available for new tasks)"
    )
    assert choose_node(task(), SVC, [], []) == ("", "no suitable node")
    big = task(res={"MemoryBytes": 8 * GB})
    assert choose_node(big, SVC, [node("n1")], [])[1] == (
        "no suitable node (insufficient resources on 1 node)"
    )
    arm = task(Platforms=[{"OS": "linux", "Architecture": "arm64"}])
    assert choose_node(arm, SVC, [node("n1"), node("n2")], [])[1] == (
        "no suitable node (unsupported platform on 2 nodes)"
    )
    amd = task(Platforms=[{"OS": "linux", "Architecture": "amd64"}])
    assert choose_node(amd, SVC, [node("n1")], [])[0] == "n1"  # x86_64 is amd64


def test_reservations_count_placed_tasks() -> None:
    nodes = [node("n1"), node("n2")]
    have = [placed("n1", "s2", MemoryBytes=3 * GB)]
    two = task(res={"MemoryBytes": 2 * GB})
    assert choose_node(two, SVC, nodes, have)[0] == "n2"
    have.append(placed("n2", "s3", MemoryBytes=3 * GB))
    assert choose_node(two, SVC, nodes, have)[1] == (
        "no suitable node (insufficient resources on 2 nodes)"
    )


def test_max_replicas_and_spread() -> None:
    nodes = [node("n1"), node("n2"), node("n3")]
    # fewest tasks of the service first, then fewest tasks overall
    have = [placed("n1"), placed("n2", "s2"), placed("n2", "s3")]
    assert choose_node(task(), SVC, nodes, have)[0] == "n3"
    have.append(placed("n3"))
    assert choose_node(task(), SVC, nodes, have)[0] == "n2"
    one_each = [placed("n1"), placed("n2"), placed("n3")]
    assert choose_node(task(MaxReplicas=1), SVC, nodes, one_each)[1] == (
        "no suitable node (max replicas per node limit exceed)"
    )


def test_spread_preference_by_label() -> None:
    nodes = [
        node("n1", labels={"dc": "east"}),
        node("n2", labels={"dc": "east"}),
        node("n3", labels={"dc": "west"}),
    ]
    prefs = [{"Spread": {"SpreadDescriptor": "node.labels.dc"}}]
    have = [placed("n3")]
    # west already has one: east gets it, though n1/n2 and n3 tie otherwise
    assert choose_node(task(Preferences=prefs), SVC, nodes, have)[0] in ("n1", "n2")
    have = [placed("n1"), placed("n2")]
    assert choose_node(task(Preferences=prefs), SVC, nodes, have)[0] == "n3"
