"""Names the embedded DNS answers on a user network, as dockerd's (v26) do.

A container is found by its name, its network aliases (``--network-alias`` at run,
``network connect --alias``), its short ID and its hostname (dockerd's DNSNames, in
that order), also when it joined after the asking container started; a link
(``--link other:alias``) on a user network makes ``alias`` resolve for the container
that has the link only. Checked with busybox's ``nslookup``, which asks the DNS
server and never reads /etc/hosts.
"""

from __future__ import annotations

import docker
import pytest

from tests.integration.networks.conftest import NetEnv, cli

pytestmark = pytest.mark.integration

BB = "busybox:latest"


def _probe(names: list[str]) -> str:
    return "; ".join(f"nslookup {n} >/dev/null 2>&1; echo {n}=$?" for n in names)


def test_aliases_hostname_short_id_and_links(net_env: NetEnv) -> None:
    net = net_env.network("dns-n", 61)
    out = cli(
        net_env, "run", "-d", "--name", "dns-web", "--network", "dns-n",
        "--network-alias", "run-alias", "--hostname", "web-host", BB, "sleep", "60",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    web = net_env.client.containers.get("dns-web")
    late = None
    try:
        es = web.attrs["NetworkSettings"]["Networks"]["dns-n"]
        assert es["Aliases"] == ["run-alias"]
        assert es["DNSNames"] == ["dns-web", "run-alias", web.id[:12], "web-host"]

        # the asking container starts first; another joins the network after it
        out = cli(
            net_env, "run", "-d", "--name", "dns-asker", "--network", "dns-n",
            "--link", "dns-web:lnk", BB, "sleep", "60",
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        late = net_env.client.containers.run(BB, ["sleep", "60"], detach=True, name="dns-late")
        net.connect(late, aliases=["late-alias"])

        names = ["dns-web", "run-alias", web.id[:12], "web-host", "lnk", "dns-late", "late-alias"]
        asker = net_env.client.containers.get("dns-asker")
        _code, text = asker.exec_run(["sh", "-c", _probe(names)])
        results = text.decode()
        for name in names:
            assert f"{name}=0" in results, results
        _code, text = asker.exec_run(["nslookup", "lnk"])
        ip = es["IPAddress"]
        assert ip and ip in text.decode()

        # the link alias is the linking container's alone
        out = cli(net_env, "run", "--rm", "--network", "dns-n", BB, "sh", "-c", _probe(["lnk"]))
        assert "lnk=1" in out.stdout, out.stdout
    finally:
        for ref in ("dns-asker", "dns-web"):
            cli(net_env, "rm", "-f", ref)
        if late is not None:
            late.remove(force=True)
    net.remove()


def _lookup(c: docker.models.containers.Container, name: str) -> tuple[int, str]:
    code, out = c.exec_run(["nslookup", name])
    return code, out.decode()


def test_links_follow_their_target(net_env: NetEnv) -> None:
    """A link names its target, whose address is looked up at each query: a target
    created and started after the linker, linked through an endpoint's config (at
    create, or ``network connect`` of a running or a stopped container), restarted,
    or stopped (NXDOMAIN). docker-py's test_create_with_links / _connect_with_links."""
    net = net_env.network("dns-l", 62)
    api = net_env.client.api
    made: list[str] = []

    def create(name: str | None = None, **kw: object) -> str:
        c = api.create_container(
            BB, ["sleep", "60"], name=name,
            host_config=api.create_host_config(network_mode="dns-l"), **kw,
        )  # fmt: skip
        made.append(c["Id"])
        return str(c["Id"])

    try:
        # docker-py's create flow: the target does not exist yet
        links = api.create_networking_config(
            {"dns-l": api.create_endpoint_config(links=[("dns-l-up", "bar")])}
        )
        creator = create(networking_config=links)
        api.start(creator)
        nets = api.inspect_container(creator)["NetworkSettings"]["Networks"]
        assert nets["dns-l"]["Links"] == ["dns-l-up:bar"]
        # docker-py's connect flow: a running container, disconnected and connected
        connector = create()
        api.start(connector)
        api.disconnect_container_from_network(connector, "dns-l")
        api.connect_container_to_network(connector, "dns-l", links=[("dns-l-up", "bar")])
        nets = api.inspect_container(connector)["NetworkSettings"]["Networks"]
        assert nets["dns-l"]["Links"] == ["dns-l-up:bar"]
        # the CLI's connect --link of a stopped container
        stopped = create()
        assert cli(net_env, "network", "disconnect", "dns-l", stopped).returncode == 0
        out = cli(net_env, "network", "connect", "--link", "dns-l-up:baz", "dns-l", stopped)
        assert out.returncode == 0, out.stderr
        api.start(stopped)

        askers = [net_env.client.containers.get(c) for c in (creator, connector, stopped)]
        for asker, alias in zip(askers, ("bar", "bar", "baz"), strict=True):
            assert _lookup(asker, alias)[0] != 0  # no target yet

        up = create("dns-l-up")
        api.start(up)
        ip = api.inspect_container(up)["NetworkSettings"]["Networks"]["dns-l"]["IPAddress"]
        # the bridge's MAC is pinned (1 = random, 3 = set): one that followed its ports
        # would change as `up` leaves and joins, and the containers' neighbour entries for
        # the gateway would go stale (the lookups below were lost one run in two)
        with open(f"/sys/class/net/br-{net.id[:12]}/addr_assign_type") as f:
            assert f.read().strip() == "3"
        for asker, alias in zip(askers, ("bar", "bar", "baz"), strict=True):
            code, text = _lookup(asker, alias)
            assert code == 0 and ip in text, text

        api.stop(up, timeout=0)
        assert _lookup(askers[0], "bar")[0] != 0  # a stopped target is not found
        other = create()  # takes the target's address while it is stopped
        api.start(other)
        api.start(up)
        ip2 = api.inspect_container(up)["NetworkSettings"]["Networks"]["dns-l"]["IPAddress"]
        assert ip2 != ip
        code, text = _lookup(askers[1], "bar")
        assert code == 0 and ip2 in text, text
    finally:
        for cid in made:
            api.remove_container(cid, force=True)
    net.remove()
