from __future__ import annotations

from typing import Any

import pytest

from berthd import errdefs
from berthd.container import Container
from berthd.daemon.containers.links import (
    LinkTarget,
    link_env,
    link_host_entry,
    link_names,
    parse_link,
    register_links,
    remove_link,
    rename_child,
)


def ctr(name: str, **kw: Any) -> Container:
    return Container(
        id=(name.strip("/") * 64)[:64],
        name="/" + name,
        created=0,
        path="sh",
        args=[],
        config=kw.pop("config", {}),
        host_config=kw.pop("host_config", {}),
        image_id="sha256:x",
        driver="overlay2",
    )


def test_parse_link_forms() -> None:
    assert parse_link("web:db") == ("web", "db")
    assert parse_link("web") == ("web", "web")
    assert parse_link("/web:/client/db") == ("web", "db")
    for bad in ("", "a:b:c", ":x", "x:"):
        with pytest.raises(errdefs.InvalidParameter):
            parse_link(bad)


def test_register_links_checks_and_stores_dockerd_form() -> None:
    web = ctr("web")
    other = ctr("other", host_config={"NetworkMode": "container:web"})
    byname = {"web": web, "other": other, web.id: web}

    def lookup(ref: str) -> Container:
        try:
            return byname[ref]
        except KeyError:
            raise errdefs.NotFound(f"No such container: {ref}") from None

    hc: dict[str, Any] = {"Links": ["web:db", "web:db", "other"], "NetworkMode": "bridge"}
    # a container sharing another's network is reached through the owner
    assert register_links("client", hc, lookup) == ["/web:/client/db", "/web:/client/other"]
    with pytest.raises(errdefs.InvalidParameter, match="could not get container for nope"):
        register_links("client", {"Links": ["nope:x"]}, lookup)
    with pytest.raises(errdefs.InvalidParameter, match="host type networking"):
        register_links("client", {"Links": ["web"], "NetworkMode": "host"}, lookup)
    with pytest.raises(errdefs.InvalidParameter, match="container type network"):
        register_links("client", {"Links": ["web"], "NetworkMode": "container:web"}, lookup)


def test_link_env_ports_ranges_and_env() -> None:
    web = ctr(
        "web",
        config={
            "ExposedPorts": {"80/tcp": {}, "81/tcp": {}, "82/tcp": {}, "80/udp": {}, "9000": {}},
            "Env": ["A=1", "PATH=/bin", "HOME=/root", "B=x=y"],
        },
    )
    env = link_env(LinkTarget(web, "my-db", "/client/my-db"), "10.0.0.2")
    assert env[0] == "MY_DB_PORT=tcp://10.0.0.2:80"  # lowest, tcp before udp
    assert "MY_DB_NAME=/client/my-db" in env
    # runs are cut where another protocol sorts in between (80/udp), as in dockerd
    assert "MY_DB_PORT_81_TCP_START=tcp://10.0.0.2:81" in env
    assert "MY_DB_PORT_81_TCP_PORT_END=82" in env
    assert not [e for e in env if e.startswith("MY_DB_PORT_80_TCP_START")]
    assert "MY_DB_PORT_80_UDP=udp://10.0.0.2:80" in env
    assert "MY_DB_PORT_9000_TCP_PROTO=tcp" in env
    assert "MY_DB_ENV_A=1" in env and "MY_DB_ENV_B=x=y" in env
    assert not [e for e in env if "ENV_PATH" in e or "ENV_HOME" in e]
    assert not [e for e in env if "_80_UDP_START" in e]


def test_hosts_entry_names_ps_rename_and_remove() -> None:
    web = ctr("web", config={"Hostname": "h1"})
    client = ctr("client", host_config={"Links": ["/web:/client/db", "/web:/client/web"]})
    assert link_host_entry(LinkTarget(web, "db", "/client/db"), "10.0.0.2") == (
        "10.0.0.2",
        "db h1 web",
    )
    assert link_host_entry(LinkTarget(web, "web", "/client/web"), "10.0.0.2")[1] == "web h1"
    assert link_names([web, client]) == {web.id: ["/client/db", "/client/web"]}
    assert rename_child([web, client], "/web", "/web2") == [client]
    assert client.host_config["Links"] == ["/web2:/client/db", "/web2:/client/web"]
    assert remove_link(client, "db") is True
    assert remove_link(client, "db") is False
    assert client.host_config["Links"] == ["/web2:/client/web"]
