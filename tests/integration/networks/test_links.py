"""Legacy links (``--link``) on the default bridge, with the real docker CLI and SDK.

dockerd: the parent gets ``<ip>\\t<alias> <hostname> <name>`` in /etc/hosts and
the link variables (ALIAS_NAME, ALIAS_PORT…, ALIAS_ENV_…); a link to a
missing container is refused at create (400), to a stopped one at start;
``host`` networking cannot be combined with links; ``docker rm --link``
removes a link; inspect shows ``/child:/parent/alias``; ps names the child by
its links too; a renamed child keeps its links.
"""

from __future__ import annotations

import docker
import pytest

from tests.integration.networks.conftest import NetEnv, cli

pytestmark = pytest.mark.integration

BB = "busybox:latest"


def test_link_hosts_env_and_traffic(net_env: NetEnv) -> None:
    c = net_env.client
    web = c.containers.run(
        BB,
        ["httpd", "-f", "-p", "80"],
        name="lk-web",
        detach=True,
        environment={"SECRET": "s3", "HOME": "/root"},
        ports={"80/tcp": None, "81/tcp": None, "53/udp": None},
        hostname="webhost",
    )
    try:
        web.reload()
        ip = web.attrs["NetworkSettings"]["IPAddress"]
        out = cli(
            net_env, "run", "--rm", "--name", "lk-client", "--link", "lk-web:db", BB,
            "sh", "-c", "cat /etc/hosts; env | sort; nc -w 3 db 80 </dev/null >/dev/null; echo nc=$?",
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        text = out.stdout
        assert f"{ip}\tdb webhost lk-web\n" in text
        assert "DB_NAME=/lk-client/db\n" in text
        assert f"DB_PORT=udp://{ip}:53\n" in text  # the lowest port
        assert f"DB_PORT_80_TCP=tcp://{ip}:80\n" in text
        assert f"DB_PORT_80_TCP_ADDR={ip}\n" in text
        assert "DB_PORT_80_TCP_PORT=80\n" in text and "DB_PORT_80_TCP_PROTO=tcp\n" in text
        assert f"DB_PORT_80_TCP_START=tcp://{ip}:80\n" in text
        assert "DB_PORT_80_TCP_PORT_END=81\n" in text
        assert f"DB_PORT_53_UDP=udp://{ip}:53\n" in text
        assert "DB_ENV_SECRET=s3\n" in text
        assert "DB_ENV_HOME" not in text and "DB_ENV_PATH" not in text
        assert "nc=0" in text, text  # the alias reaches the child's port
    finally:
        web.remove(force=True)


def test_link_records_errors_and_rm_link(net_env: NetEnv) -> None:
    c = net_env.client
    web = c.containers.run(BB, ["sleep", "60"], name="lk-web2", detach=True)
    try:
        parent = c.containers.create(BB, ["true"], name="lk-parent", links={"lk-web2": "w"})
        assert parent.attrs["HostConfig"]["Links"] == ["/lk-web2:/lk-parent/w"]
        names = c.api.containers(all=True, filters={"id": web.id})[0]["Names"]
        assert names == ["/lk-web2", "/lk-parent/w"]
        # docker ps shows only the container's own name
        ps = cli(net_env, "ps", "--filter", f"id={web.id}", "--format", "{{.Names}}")
        assert ps.stdout.strip() == "lk-web2"

        # a renamed child keeps its link
        web.rename("lk-web2b")
        parent.reload()
        assert parent.attrs["HostConfig"]["Links"] == ["/lk-web2b:/lk-parent/w"]
        parent.start()
        assert parent.wait()["StatusCode"] == 0

        # rm --link
        out = cli(net_env, "rm", "--link", "/lk-parent/w")
        assert out.returncode == 0, out.stderr
        parent.reload()
        assert not parent.attrs["HostConfig"]["Links"]
        out = cli(net_env, "rm", "--link", "lk-web2b")
        assert "cannot remove the default link name" in out.stderr
        parent.remove()

        # errors: a missing container (400, not 404), host networking, a stopped child
        with pytest.raises(docker.errors.APIError) as e:
            c.containers.create(BB, ["true"], links={"lk-nope": "x"})
        assert e.value.status_code == 400
        assert "could not get container for lk-nope" in str(e.value)
        with pytest.raises(docker.errors.APIError) as e:
            c.containers.create(BB, ["true"], links={"lk-web2b": "x"}, network_mode="host")
        assert "host type networking can't be used with links" in str(e.value)
        stopped = c.containers.create(BB, ["true"], name="lk-stopped")
        p2 = c.containers.create(BB, ["true"], name="lk-p2", links={"lk-stopped": "s"})
        with pytest.raises(docker.errors.APIError) as e:
            p2.start()
        assert "Cannot link to a non running container: /lk-stopped AS /lk-p2/s" in str(e.value)
        # a child removed since is dropped, as dockerd's link graph drops it
        stopped.remove()
        p2.start()
        assert p2.wait()["StatusCode"] == 0
        p2.remove()
    finally:
        web.remove(force=True)


def test_link_on_user_network_resolves_alias(net_env: NetEnv) -> None:
    c = net_env.client
    net_env.network("lk-net", 30)
    web = c.containers.run(BB, ["sleep", "60"], name="lk-uweb", detach=True, network="lk-net")
    try:
        web.reload()
        ip = web.attrs["NetworkSettings"]["Networks"]["lk-net"]["IPAddress"]
        out = cli(
            net_env, "run", "--rm", "--network", "lk-net", "--link", "lk-uweb:alias1", BB,
            "sh", "-c", "ping -c1 -W2 alias1 | head -1; env",
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        assert f"({ip})" in out.stdout
        assert "ALIAS1_NAME" not in out.stdout  # no legacy variables off the default bridge
    finally:
        web.remove(force=True)
        c.networks.get("lk-net").remove()
