"""Names the embedded DNS answers on a user network, as dockerd's (v26) do.

A container is found by its name, its network aliases (``--network-alias`` at run,
``network connect --alias``), its short ID and its hostname (dockerd's DNSNames, in
that order), also when it joined after the asking container started; a link
(``--link other:alias``) on a user network makes ``alias`` resolve for the container
that has the link only. Checked with busybox's ``nslookup``, which asks the DNS
server and never reads /etc/hosts.
"""

from __future__ import annotations

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
